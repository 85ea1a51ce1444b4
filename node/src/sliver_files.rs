//! Sliver bodies in one append-only file per blob, beside the database, which keeps only where
//! each sliver lies. A body goes into the page cache once (one kernel copy, written by the
//! request's own thread, before it waits for the group commit) instead of being copied into the
//! database's pages, checksummed and written from there; deleting a blob's data is one unlink.
//!
//! A location is committed only after its file's data is synced, so the database never points
//! at bytes a crash could lose. Bytes written but never committed (a refused write, a crash
//! before the commit) stay unreferenced until the blob's file goes.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use walrus_encoder::BlobId;

/// Where a sliver lies in its blob's file: offset and length, 8 bytes LE each.
pub(crate) type Location = [u8; 16];

pub(crate) fn location(offset: u64, len: u64) -> Location {
    let mut bytes = [0; 16];
    bytes[..8].copy_from_slice(&offset.to_le_bytes());
    bytes[8..].copy_from_slice(&len.to_le_bytes());
    bytes
}

fn parse_location(bytes: &[u8]) -> io::Result<(u64, usize)> {
    let corrupt = || io::Error::new(io::ErrorKind::InvalidData, "a sliver location is not 16 bytes");
    let bytes: &Location = bytes.try_into().map_err(|_| corrupt())?;
    let offset = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
    let len = u64::from_le_bytes(bytes[8..].try_into().expect("8 bytes"));
    Ok((offset, usize::try_from(len).map_err(|_| corrupt())?))
}

/// One blob's file while the node uses it.
pub(crate) struct BlobFile {
    file: File,
    /// Where the next body goes: bodies are appended at offsets handed out here.
    end: AtomicU64,
    /// Set when the blob's data was deleted: writes into this file must not be committed.
    dead: AtomicBool,
}

impl BlobFile {
    /// Appends `bytes` (into the page cache; [`BlobFile::sync`] makes it durable) and returns
    /// its location.
    pub fn append(&self, bytes: &[u8]) -> io::Result<Location> {
        let len = bytes.len() as u64;
        let offset = self.end.fetch_add(len, Ordering::Relaxed);
        self.file.write_all_at(bytes, offset)?;
        Ok(location(offset, len))
    }

    /// Appends `pieces` one after another, as [`BlobFile::append`] each would, but gathers the
    /// small ones into runs of up to [`RUN`] bytes: a synced blob's hundreds of slivers of a
    /// few kB would otherwise cost a system call each. Their locations, in order.
    pub fn append_all(&self, pieces: &[&[u8]]) -> io::Result<Vec<Location>> {
        let total = pieces.iter().map(|piece| piece.len() as u64).sum();
        let mut offset = self.end.fetch_add(total, Ordering::Relaxed);
        let mut locations = Vec::with_capacity(pieces.len());
        let mut run = Vec::new();
        let mut run_start = offset;
        for piece in pieces {
            locations.push(location(offset, piece.len() as u64));
            if !run.is_empty() && (piece.len() >= ALONE || run.len() + piece.len() > RUN) {
                self.file.write_all_at(&run, run_start)?;
                run.clear();
            }
            if piece.len() >= ALONE {
                self.file.write_all_at(piece, offset)?;
            } else {
                if run.is_empty() {
                    run_start = offset;
                }
                run.extend_from_slice(piece);
            }
            offset += piece.len() as u64;
        }
        if !run.is_empty() {
            self.file.write_all_at(&run, run_start)?;
        }
        Ok(locations)
    }

    pub fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    pub fn is_dead(&self) -> bool {
        self.dead.load(Ordering::Acquire)
    }
}

/// Pieces at least this long are written on their own, from where they lie: copying them into
/// a run would cost more than the system call it saves.
const ALONE: usize = 64 << 10;
/// The most bytes of small pieces gathered into one write.
const RUN: usize = 1 << 20;

/// Blob files kept open at most (beyond those in use): a node holds many blobs, and a
/// descriptor per blob would run into the process's limit.
const MAX_OPEN: usize = 256;

/// The directory of blob files and the files open now.
pub(crate) struct SliverFiles {
    dir: PathBuf,
    open: Mutex<HashMap<BlobId, Arc<BlobFile>>>,
}

impl SliverFiles {
    pub fn open(dir: PathBuf) -> io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        Ok(Self { dir, open: Mutex::default() })
    }

    fn path(&self, blob_id: &BlobId) -> PathBuf {
        self.dir.join(hex::encode(blob_id.0))
    }

    /// The blob IDs that have a file, for the sweep of files nothing points into.
    pub fn blob_ids(&self) -> io::Result<Vec<BlobId>> {
        let mut ids = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let name = entry?.file_name();
            let id = name.to_str().and_then(|n| hex::decode(n).ok()).and_then(|b| <[u8; 32]>::try_from(b).ok());
            if let Some(id) = id {
                ids.push(BlobId(id));
            }
        }
        Ok(ids)
    }

    /// The blob's file, created (and its directory entry made durable) if it has none.
    pub fn file(&self, blob_id: &BlobId) -> io::Result<Arc<BlobFile>> {
        let mut open = self.open.lock().expect("never poisoned");
        if let Some(file) = open.get(blob_id) {
            return Ok(file.clone());
        }
        let path = self.path(blob_id);
        let existed = path.exists();
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path)?;
        if !existed {
            File::open(&self.dir)?.sync_all()?;
        }
        let end = file.metadata()?.len();
        let file = Arc::new(BlobFile { file, end: AtomicU64::new(end), dead: AtomicBool::new(false) });
        if open.len() >= MAX_OPEN {
            // Only files no one holds: a holder may have handed out an offset not yet written,
            // which a reopened file (its end read from the disk) would hand out again.
            open.retain(|_, file| Arc::strong_count(file) > 1);
        }
        open.insert(*blob_id, file.clone());
        Ok(file)
    }

    /// Reads the body at a stored location (never creating a file).
    pub fn read(&self, blob_id: &BlobId, location: &[u8]) -> io::Result<Vec<u8>> {
        let (offset, len) = parse_location(location)?;
        let mut bytes = vec![0; len];
        let open = self.open.lock().expect("never poisoned").get(blob_id).cloned();
        match open {
            Some(file) => file.file.read_exact_at(&mut bytes, offset)?,
            None => File::open(self.path(blob_id))?.read_exact_at(&mut bytes, offset)?,
        }
        Ok(bytes)
    }

    /// Deletes the blob's file; writes still under way into it will not be committed.
    pub fn remove(&self, blob_id: &BlobId) -> io::Result<()> {
        let mut open = self.open.lock().expect("never poisoned");
        if let Some(file) = open.remove(blob_id) {
            file.dead.store(true, Ordering::Release);
        }
        match std::fs::remove_file(self.path(blob_id)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Whether the blob has a file on disk.
    pub fn exists(&self, blob_id: &BlobId) -> bool {
        Path::exists(&self.path(blob_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Descriptors stay bounded, and a file someone holds stays the one handed out, so two
    /// writers never get offsets from two different ends.
    #[test]
    fn open_files_are_bounded_but_held_ones_stay() {
        let dir = tempfile::TempDir::new().unwrap();
        let files = SliverFiles::open(dir.path().join("slivers")).unwrap();
        let held = files.file(&BlobId([0; 32])).unwrap();
        held.append(b"pending").unwrap();
        for i in 1..=3 * MAX_OPEN as u32 {
            let mut id = [0; 32];
            id[..4].copy_from_slice(&i.to_le_bytes());
            files.file(&BlobId(id)).unwrap().append(b"x").unwrap();
        }
        assert!(files.open.lock().unwrap().len() <= MAX_OPEN + 1);
        assert!(Arc::ptr_eq(&held, &files.file(&BlobId([0; 32])).unwrap()));
        let mut id = [0; 32];
        id[..4].copy_from_slice(&1u32.to_le_bytes());
        assert_eq!(files.read(&BlobId(id), &location(0, 1)).unwrap(), b"x");
    }

    /// Small pieces gathered into runs and large ones written alone land exactly where their
    /// locations say, after what was appended before, and the next append follows them.
    #[test]
    fn append_all_places_every_piece_at_its_location() {
        let dir = tempfile::TempDir::new().unwrap();
        let files = SliverFiles::open(dir.path().join("slivers")).unwrap();
        let blob_id = BlobId([7; 32]);
        let file = files.file(&blob_id).unwrap();
        file.append(b"before").unwrap();
        // Runs that fill up, a piece written alone between small ones, and one at the end.
        let sizes = [3000; 400].into_iter().chain([ALONE, 10, RUN + 1, 1, 2, ALONE - 1]);
        let pieces: Vec<Vec<u8>> = sizes.enumerate().map(|(i, len)| vec![i as u8; len]).collect();
        let refs: Vec<&[u8]> = pieces.iter().map(Vec::as_slice).collect();
        let locations = file.append_all(&refs).unwrap();
        let after = file.append(b"after").unwrap();
        assert_eq!(locations.len(), pieces.len());
        for (piece, location) in pieces.iter().zip(&locations) {
            assert_eq!(&files.read(&blob_id, location).unwrap(), piece);
        }
        let total: usize = pieces.iter().map(Vec::len).sum();
        assert_eq!(after, location(6 + total as u64, 5));
        assert_eq!(files.read(&blob_id, &after).unwrap(), b"after");
        assert_eq!(std::fs::metadata(files.path(&blob_id)).unwrap().len(), 11 + total as u64);
    }
}
