//! Work buffers that go back to a pool when dropped. A strip's buffers (blocks read from the
//! blob, recovery lines, restored lines) are megabytes each: fresh ones would cost a `memset` or
//! newly faulted zero pages per strip, where a recycled one is only written over.

use std::ops::{Deref, DerefMut};
use std::sync::Mutex;

/// Enough for every strip in flight at once (two batches per thread, a few buffers each).
const KEEP: usize = 16;

static POOL: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// `len` bytes holding whatever their last user left: to be written whole before being read.
pub(crate) struct Scratch(Vec<u8>);

impl Scratch {
    pub fn new(len: usize) -> Self {
        // The smallest buffer that fits, so a large one is not spent on a small request. One
        // too small would be copied as it grew: a fresh one is cheaper.
        let recycled = POOL.lock().ok().and_then(|mut pool| {
            let fits = (0..pool.len()).filter(|&i| pool[i].capacity() >= len).min_by_key(|&i| pool[i].capacity());
            fits.map(|i| pool.swap_remove(i))
        });
        let mut bytes = recycled.unwrap_or_default();
        // Growing zeroes only the new part; shrinking keeps the capacity for a later, larger use.
        bytes.resize(len, 0);
        Self(bytes)
    }

    /// Frees every pooled buffer: at the end of a step whose strips' sizes the next one will
    /// not ask for, so they do not sit in memory through its peak.
    pub fn release_pool() {
        if let Ok(mut pool) = POOL.lock() {
            *pool = Vec::new();
        }
    }
}

impl Deref for Scratch {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl DerefMut for Scratch {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let bytes = std::mem::take(&mut self.0);
        if bytes.capacity() > 0 {
            if let Ok(mut pool) = POOL.lock() {
                if pool.len() < KEEP {
                    pool.push(bytes);
                } else if let Some(smallest) =
                    pool.iter_mut().min_by_key(|kept| kept.capacity()).filter(|kept| kept.capacity() < bytes.capacity())
                {
                    *smallest = bytes;
                }
            }
        }
    }
}

/// `count` lines of `line_len` bytes, one after another in one [`Scratch`] buffer.
pub(crate) struct Lines {
    bytes: Scratch,
    line_len: usize,
    count: usize,
}

impl Lines {
    /// Lines holding whatever the buffer's last user left: to be written whole before reading.
    pub fn new(line_len: usize, count: usize) -> Self {
        Self { bytes: Scratch::new(line_len * count), line_len, count }
    }

    pub fn line(&self, t: usize) -> &[u8] {
        &self.bytes[t * self.line_len..(t + 1) * self.line_len]
    }

    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        (0..self.count).map(|t| self.line(t))
    }

    /// Every line, to write (empty lines too, which `chunks_exact_mut` would refuse).
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut [u8]> {
        let line_len = self.line_len;
        let mut rest = &mut self.bytes[..];
        (0..self.count).map(move |_| {
            let (line, tail) = std::mem::take(&mut rest).split_at_mut(line_len);
            rest = tail;
            line
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_has_the_length_asked_for_whatever_it_was_before() {
        for len in [100, 10, 1000, 0, 5000, 7] {
            let mut scratch = Scratch::new(len);
            assert_eq!(scratch.len(), len);
            scratch.fill(0xaa);
        }
    }
}
