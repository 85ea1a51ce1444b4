//! Writing our files fast and durably: straight to the disk (`O_DIRECT`) from a few writer
//! threads, each file `fdatasync`ed as soon as its last write is done, with many syncs in
//! flight at once while the rest is still being written.
//!
//! Measured on the benchmark machine (2 vCPU VM, ext4 on virtio), 1.2 GB in 2000 files (the
//! slivers of a 256 MiB blob): through the page cache about 3 s of system time and 4–7 s in
//! all; written direct 0.35 s of system time and under 1 s. The fsyncs of those 2000 files took
//! 2.2 s two at a time and 0.05 s from 32 threads, which share the disk's cache flushes.
//! Removing files is no cheaper on a file system mounted with `discard` (the benchmark VM's):
//! each unlink waits for the disk to discard the file's blocks, 6 s for the 2000 sliver files
//! of a 64 MiB blob one after another, under 1 s with 32 at once.
//! Where a file system refuses direct I/O, the same code writes through the page cache.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Direct I/O wants buffers, offsets and lengths in multiples of the device's block size;
/// 4096 covers every common one.
pub const ALIGN: usize = 4096;
/// Writer threads: enough to keep several direct writes in flight (each blocks until the
/// device has the data), few enough to cost nothing while they wait. Encoding 256 MiB took
/// 1.37 s with 8 and 1.66 s with 4 (2 vCPU AMD EPYC, virtio disk; medians of 3).
const WRITERS: usize = 8;
/// Writes waiting for a writer, at most (each at most a sliver long).
const QUEUED: usize = 4;
/// Bytes of spent buffers kept for reuse, at most: the sizes in use change as encoding goes
/// from step to step, and spares of a size no longer asked for would stay resident unused.
const SPARE_BYTES: usize = 16 << 20;
/// fsyncs (and unlinks) in flight at once.
const SYNCERS: usize = 32;
/// Finished files waiting for a syncer, at most (each holds a descriptor open).
const SYNC_QUEUED: usize = 64;

/// Zeroed pages of their own, mapped from the kernel and given back when dropped. Taken from
/// the heap, buffers of the sizes in use in one step of encoding stay resident as holes once
/// the next step asks for other sizes.
struct Pages {
    ptr: std::ptr::NonNull<u8>,
    len: usize,
}

// SAFETY: `Pages` owns its mapping, like a `Box<[u8]>`.
unsafe impl Send for Pages {}
unsafe impl Sync for Pages {}

impl Pages {
    fn new(len: usize) -> Self {
        let len = len.max(1).next_multiple_of(ALIGN);
        // SAFETY: a private anonymous mapping of `len` bytes, checked below; nothing else uses it.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        match std::ptr::NonNull::new(ptr.cast::<u8>()).filter(|_| ptr != libc::MAP_FAILED) {
            Some(ptr) => Self { ptr, len },
            None => std::alloc::handle_alloc_error(std::alloc::Layout::from_size_align(len, ALIGN).expect("valid")),
        }
    }
}

impl std::ops::Deref for Pages {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // SAFETY: the mapping is `len` readable bytes, zeroed by the kernel, alive as `self`.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl std::ops::DerefMut for Pages {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `deref`, and `&mut self` makes this the only reference.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for Pages {
    fn drop(&mut self) {
        // SAFETY: the mapping was made by `new` with this length and is not used after this.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// Bytes whose start is aligned for direct I/O (a page), with room up to a fixed capacity.
pub struct AlignedBuf {
    bytes: Pages,
    len: usize,
}

impl AlignedBuf {
    pub fn with_capacity(capacity: usize) -> Self {
        Self { bytes: Pages::new(capacity), len: 0 }
    }

    /// `len` zero bytes.
    pub fn zeroed(len: usize) -> Self {
        let mut buf = Self::with_capacity(len);
        buf.len = len;
        buf
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.bytes[..self.len]
    }

    pub fn capacity(&self) -> usize {
        self.bytes.len()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Appends as much of `data` as fits; returns how much that was.
    pub fn push(&mut self, data: &[u8]) -> usize {
        let take = data.len().min(self.capacity() - self.len);
        let at = self.len;
        self.bytes[at..at + take].copy_from_slice(&data[..take]);
        self.len += take;
        take
    }

    pub fn clear(&mut self) {
        self.len = 0;
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// Creates (or truncates) `path` for writing, direct if the file system allows.
pub fn create(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    open_direct(options, path)
}

/// Opens with `options`, then turns direct I/O on if the file system allows (set afterwards,
/// so a refusal cannot leave a created file behind).
pub fn open_direct(options: OpenOptions, path: &Path) -> io::Result<File> {
    let file = options.open(path)?;
    // SAFETY: F_GETFL / F_SETFL on an open descriptor change only its status flags.
    unsafe {
        let flags = libc::fcntl(file.as_raw_fd(), libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(file.as_raw_fd(), libc::F_SETFL, flags | libc::O_DIRECT);
        }
    }
    Ok(file)
}

fn is_direct(file: &File) -> bool {
    // SAFETY: F_GETFL on an open descriptor only reads its flags.
    let flags = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETFL) };
    flags >= 0 && flags & libc::O_DIRECT != 0
}

/// Turns direct I/O off for `file`: for writes that are not whole blocks.
pub fn make_buffered(file: &File) -> io::Result<()> {
    // SAFETY: F_GETFL / F_SETFL on an open descriptor change only its status flags.
    unsafe {
        let flags = libc::fcntl(file.as_raw_fd(), libc::F_GETFL);
        if flags < 0 || libc::fcntl(file.as_raw_fd(), libc::F_SETFL, flags & !libc::O_DIRECT) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Writes `buf` at `offset`: if the file is direct, its whole blocks straight to the disk and
/// a last partial block (the file's end) through the page cache. Padding that block and then
/// cutting the file back made the kernel read the block from the disk to zero its end: a
/// synchronous read per file, 5% of the CPU time of encoding 64 MiB.
pub fn write_block_run(file: &File, offset: u64, buf: &AlignedBuf) -> io::Result<()> {
    let bytes = buf.as_slice();
    if !is_direct(file) {
        return file.write_all_at(bytes, offset);
    }
    let whole = bytes.len() / ALIGN * ALIGN;
    match file.write_all_at(&bytes[..whole], offset) {
        // A device with blocks larger than ours: write through the page cache instead.
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            make_buffered(file)?;
            return file.write_all_at(bytes, offset);
        }
        result => result?,
    }
    if whole < bytes.len() {
        make_buffered(file)?;
        file.write_all_at(&bytes[whole..], offset + whole as u64)?;
    }
    Ok(())
}

/// An open file and its path, for messages.
pub struct NamedFile {
    pub file: File,
    pub path: PathBuf,
}

impl NamedFile {
    /// Creates (or truncates) `path`, direct if the file system allows.
    pub fn create(path: PathBuf) -> io::Result<Self> {
        let file = create(&path).map_err(|e| in_file("creating", &path, e))?;
        Ok(Self { file, path })
    }
}

/// `e`, naming what was being done to which file.
fn in_file(doing: &str, path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{doing} {}: {e}", path.display()))
}

/// Where a write goes: a file to create, or one already open.
pub enum Target {
    Create(PathBuf),
    Open(Arc<NamedFile>),
}

struct Job {
    target: Target,
    offset: u64,
    buf: AlignedBuf,
    /// Whether this is the file's last write (after which it is synced).
    last: bool,
}

/// A few threads performing writes handed to them, in the background, and more syncing each
/// file once its last write is done.
pub struct Writers {
    jobs: Option<SyncSender<Job>>,
    threads: Vec<JoinHandle<()>>,
    syncers: Syncers,
    error: Arc<Mutex<Option<io::Error>>>,
    /// Spent buffers, for reuse: a fresh one costs a page fault per 4 KiB (or a memset).
    spare: Arc<Mutex<Vec<AlignedBuf>>>,
}

impl Writers {
    /// Starts the threads; written buffers come back through [`Self::buffer`].
    pub fn start() -> Self {
        let (tx, rx) = sync_channel::<Job>(QUEUED);
        let rx = Arc::new(Mutex::new(rx));
        let error = Arc::new(Mutex::new(None));
        let spare = Arc::new(Mutex::new(Vec::new()));
        let syncers = Syncers::start(Arc::clone(&error));
        let threads = (0..WRITERS)
            .map(|_| {
                let (rx, error, spare) = (Arc::clone(&rx), Arc::clone(&error), Arc::clone(&spare));
                let synced = syncers.sender();
                std::thread::spawn(move || work(&rx, &error, &spare, &synced))
            })
            .collect();
        Self { jobs: Some(tx), threads, syncers, error, spare }
    }

    /// An empty buffer for `capacity` bytes (rounded up to whole blocks): a spent one of that
    /// size if there is one, else a new one, making room for it among the spares by dropping
    /// the oldest of other sizes.
    pub fn buffer(&self, capacity: usize) -> AlignedBuf {
        let capacity = capacity.next_multiple_of(ALIGN);
        let mut spare = self.spare.lock().expect("no writer panics holding the lock");
        if let Some(i) = spare.iter().position(|buf| buf.capacity() == capacity) {
            return spare.remove(i);
        }
        while !spare.is_empty() && spare_bytes(&spare) + capacity > SPARE_BYTES {
            spare.remove(0);
        }
        AlignedBuf::with_capacity(capacity)
    }

    /// Queues a write of `buf` at `offset` (blocking while the queue is full); fails if an
    /// earlier write failed. Only the `last` write of a file may end in a partial block.
    pub fn write(&self, target: Target, offset: u64, buf: AlignedBuf, last: bool) -> io::Result<()> {
        self.check()?;
        let jobs = self.jobs.as_ref().expect("open until finished");
        jobs.send(Job { target, offset, buf, last }).map_err(|_| io::Error::other("the writer threads stopped"))
    }

    fn check(&self) -> io::Result<()> {
        match self.error.lock().expect("no writer panics holding the lock").take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Has `file`, written outside the writers and complete, synced with the others.
    pub fn sync(&self, file: Arc<NamedFile>) -> io::Result<()> {
        self.check()?;
        self.syncers.sender().send(file).map_err(|_| io::Error::other("the syncer threads stopped"))
    }

    /// Waits for every queued write, and for the sync of every file whose last write was
    /// queued (or that was handed to [`Self::sync`]); the first error, if any.
    pub fn finish(mut self) -> io::Result<()> {
        self.jobs = None;
        for thread in self.threads.drain(..) {
            thread.join().map_err(|_| io::Error::other("a writer thread panicked"))?;
        }
        self.syncers.finish()?;
        match self.error.lock().expect("no writer panics holding the lock").take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Threads that `fdatasync` the files sent to them, many at once.
struct Syncers {
    files: SyncSender<Arc<NamedFile>>,
    threads: Vec<JoinHandle<()>>,
}

impl Syncers {
    fn start(error: Arc<Mutex<Option<io::Error>>>) -> Self {
        let (tx, rx) = sync_channel::<Arc<NamedFile>>(SYNC_QUEUED);
        let rx = Arc::new(Mutex::new(rx));
        let threads = (0..SYNCERS)
            .map(|_| {
                let (rx, error) = (Arc::clone(&rx), Arc::clone(&error));
                std::thread::spawn(move || loop {
                    let Ok(named) = rx.lock().expect("no syncer panics holding the lock").recv() else { return };
                    if let Err(e) = named.file.sync_data() {
                        error.lock().expect("no syncer panics holding the lock").get_or_insert(in_file(
                            "syncing",
                            &named.path,
                            e,
                        ));
                    }
                })
            })
            .collect();
        Self { files: tx, threads }
    }

    fn sender(&self) -> SyncSender<Arc<NamedFile>> {
        self.files.clone()
    }

    /// Waits for every sync queued (the writers, holding senders too, have stopped).
    fn finish(self) -> io::Result<()> {
        drop(self.files);
        for thread in self.threads {
            thread.join().map_err(|_| io::Error::other("a syncer thread panicked"))?;
        }
        Ok(())
    }
}

fn work(
    rx: &Mutex<Receiver<Job>>,
    error: &Mutex<Option<io::Error>>,
    spare: &Mutex<Vec<AlignedBuf>>,
    synced: &SyncSender<Arc<NamedFile>>,
) {
    loop {
        let job = match rx.lock().expect("no writer panics holding the lock").recv() {
            Ok(job) => job,
            Err(_) => return,
        };
        let result = match job.target {
            Target::Create(path) => NamedFile::create(path).map(Arc::new),
            Target::Open(named) => Ok(named),
        }
        .and_then(|named| {
            write_block_run(&named.file, job.offset, &job.buf).map_err(|e| in_file("writing", &named.path, e))?;
            // The last write: the file is complete, and can be synced while others are written.
            if job.last {
                synced.send(named).map_err(|_| io::Error::other("the syncer threads stopped"))?;
            }
            Ok(())
        });
        if let Err(e) = result {
            error.lock().expect("no writer panics holding the lock").get_or_insert(e);
        }
        let mut buf = job.buf;
        buf.clear();
        let mut spare = spare.lock().expect("no writer panics holding the lock");
        // Only as many of a size as are in use at once: the rest would stay resident for nothing.
        if spare.iter().filter(|b| b.capacity() == buf.capacity()).count() < WRITERS + QUEUED
            && spare_bytes(&spare) + buf.capacity() <= SPARE_BYTES
        {
            spare.push(buf);
        }
    }
}

fn spare_bytes(spare: &[AlignedBuf]) -> usize {
    spare.iter().map(AlignedBuf::capacity).sum()
}

/// Writes a sequential run of bytes into a file in whole blocks, holding back the last
/// partial block until more follows or the run ends.
pub struct BlockWriter {
    file: Arc<NamedFile>,
    buf: AlignedBuf,
    /// File offset of `buf`'s first byte (a multiple of [`ALIGN`]).
    at: u64,
    /// How full `buf` gets before its blocks are queued: its capacity, but for the first run.
    limit: usize,
}

impl BlockWriter {
    /// A file written in runs of `buf`'s capacity, the first only `first` bytes long (a
    /// multiple of [`ALIGN`]): writers filled side by side can thus queue their runs at
    /// different times. Every run's buffer has the same size, so spent ones are reused.
    pub fn new(file: NamedFile, buf: AlignedBuf, first: usize) -> Self {
        let limit = first.clamp(ALIGN, buf.capacity());
        Self { file: Arc::new(file), buf, at: 0, limit }
    }

    /// The offset the next byte goes to.
    pub fn position(&self) -> u64 {
        self.at + self.buf.len() as u64
    }

    pub fn push(&mut self, writers: &Writers, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let room = self.limit - self.buf.len();
            let taken = self.buf.push(&data[..room.min(data.len())]);
            data = &data[taken..];
            if self.buf.len() == self.limit {
                self.flush_blocks(writers)?;
                self.limit = self.buf.capacity();
            }
        }
        Ok(())
    }

    /// Queues the whole blocks held, keeping the partial one.
    fn flush_blocks(&mut self, writers: &Writers) -> io::Result<()> {
        let whole = self.buf.len() / ALIGN * ALIGN;
        if whole == 0 {
            return Ok(());
        }
        let mut next = writers.buffer(self.buf.capacity());
        next.push(&self.buf.as_slice()[whole..]);
        let mut full = std::mem::replace(&mut self.buf, next);
        full.len = whole;
        writers.write(Target::Open(Arc::clone(&self.file)), self.at, full, false)?;
        self.at += whole as u64;
        Ok(())
    }

    /// Queues what is held as the file's last write (after which the file is synced).
    pub fn finish(self, writers: &Writers) -> io::Result<()> {
        writers.write(Target::Open(self.file), self.at, self.buf, true)
    }

    /// Writes what is held through the page cache and turns direct I/O off for the file, for
    /// writes that do not continue the run; returns the file.
    pub fn into_buffered(self) -> io::Result<Arc<NamedFile>> {
        let named = &self.file;
        make_buffered(&named.file)
            .and_then(|()| named.file.write_all_at(self.buf.as_slice(), self.at))
            .map_err(|e| in_file("writing", &named.path, e))?;
        Ok(self.file)
    }
}

/// Removes the folder `dir` and everything in it, its files [`SYNCERS`] at a time: on a file
/// system that discards freed blocks as they are freed, each unlink waits for the disk.
pub fn remove_folder(dir: &Path) -> io::Result<()> {
    let files: Vec<PathBuf> = fs::read_dir(dir)
        .and_then(|entries| {
            entries
                .filter_map(|entry| {
                    entry.map(|e| e.file_type().is_ok_and(|t| !t.is_dir()).then(|| e.path())).transpose()
                })
                .collect()
        })
        .map_err(|e| in_file("listing", dir, e))?;
    let next = AtomicUsize::new(0);
    let error: Mutex<Option<io::Error>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..SYNCERS.min(files.len()) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(path) = files.get(i) else { return };
                if let Err(e) = fs::remove_file(path) {
                    error
                        .lock()
                        .expect("no remover panics holding the lock")
                        .get_or_insert(in_file("removing", path, e));
                    return;
                }
            });
        }
    });
    if let Some(e) = error.into_inner().expect("no remover panicked") {
        return Err(e);
    }
    // Whatever is left (folders, which `encode` never writes there).
    fs::remove_dir_all(dir).map_err(|e| in_file("removing", dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_writer_writes_a_run_exactly_in_any_piece_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
        for (pieces, first, run) in [
            (1usize, 3 * ALIGN, 3 * ALIGN),
            (777, 2 * ALIGN, 2 * ALIGN),
            (777, ALIGN, 5 * ALIGN),
            (5000, 2 * ALIGN, 9 * ALIGN),
            (100_000, ALIGN, ALIGN),
        ] {
            let path = dir.path().join(format!("run-{pieces}-{first}-{run}"));
            let writers = Writers::start();
            let mut writer = BlockWriter::new(NamedFile::create(path.clone()).unwrap(), writers.buffer(run), first);
            for piece in data.chunks(data.len().div_ceil(pieces)) {
                writer.push(&writers, piece).unwrap();
            }
            writer.finish(&writers).unwrap();
            writers.finish().unwrap();
            assert_eq!(std::fs::read(&path).unwrap(), data, "{pieces} pieces, runs of {first} then {run}");
        }
    }

    #[test]
    fn a_run_broken_off_continues_through_the_page_cache() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("broken");
        let writers = Writers::start();
        let mut writer =
            BlockWriter::new(NamedFile::create(path.clone()).unwrap(), writers.buffer(2 * ALIGN), 2 * ALIGN);
        writer.push(&writers, &[1; 10_000]).unwrap();
        let at = writer.position();
        let named = writer.into_buffered().unwrap();
        named.file.write_all_at(&[2; 5], at + 3).unwrap();
        writers.sync(named).unwrap();
        writers.finish().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 10_008);
        assert!(bytes[..10_000].iter().all(|b| *b == 1) && bytes[10_003..].iter().all(|b| *b == 2));
    }

    #[test]
    fn a_folder_is_removed_with_all_it_holds() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("slivers");
        std::fs::create_dir_all(folder.join("nested")).unwrap();
        for i in 0..100 {
            std::fs::write(folder.join(format!("{i}.bcs")), [i as u8; 10]).unwrap();
        }
        std::fs::write(folder.join("nested").join("x"), b"x").unwrap();
        remove_folder(&folder).unwrap();
        assert!(!folder.exists());
        let e = remove_folder(&folder).unwrap_err().to_string();
        assert!(e.contains("listing") && e.contains("slivers"), "{e}");
    }

    #[test]
    fn a_failed_write_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let writers = Writers::start();
        let mut buf = writers.buffer(1);
        buf.push(b"x");
        let missing = dir.path().join("no-such-folder").join("file");
        writers.write(Target::Create(missing.clone()), 0, buf, true).unwrap();
        let e = writers.finish().unwrap_err().to_string();
        assert!(e.contains(&missing.display().to_string()), "{e}");
    }
}
