//! Where `decode` writes the blob: standard output, or a regular file replaced atomically.
//! Nothing else is ever replaced: renaming over a device node, a FIFO or a symbolic link would
//! destroy it (as root, `/dev/null` itself) while reporting success.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::direct::{open_direct, write_block_run, AlignedBuf};

/// The buffer [`Staged::write_pieces`] gathers pieces in: a few MiB, so that each direct
/// write is large.
const PIECES_BUFFER: usize = 4 << 20;

/// A checked destination, parsed from `--out` before any work is done.
pub enum Destination {
    Stdout,
    /// A regular file, which may exist only if `replace` (`--force`).
    File {
        path: PathBuf,
        replace: bool,
    },
}

impl Destination {
    pub fn parse(path: &Path, force: bool) -> Result<Self> {
        if path == Path::new("-") {
            return Ok(Self::Stdout);
        }
        if path.file_name().is_none() {
            bail!("{} is not a file path", path.display());
        }
        check_replaceable(path, force)?;
        Ok(Self::File { path: path.to_path_buf(), replace: force })
    }
}

/// A blob written and synced beside its destination file, not yet in place.
pub struct Staged<'a> {
    tmp: TempFile,
    path: &'a Path,
    replace: bool,
}

impl<'a> Staged<'a> {
    /// Writes `blob` (direct, if the file system allows) into a synced temporary file beside
    /// `path`.
    pub fn write(path: &'a Path, replace: bool, blob: &AlignedBuf) -> Result<Self> {
        let tmp = TempFile::create(path, true)?;
        write_block_run(&tmp.file, 0, blob)
            .and_then(|()| tmp.file.sync_all())
            .with_context(|| format!("writing {}", tmp.path.display()))?;
        Ok(Self { tmp, path, replace })
    }

    /// Writes `pieces` one after another (direct, if the file system allows) into a synced
    /// temporary file beside `path`, through one buffer of [`PIECES_BUFFER`] bytes.
    pub fn write_pieces<'p>(path: &'a Path, replace: bool, mut pieces: impl Iterator<Item = &'p [u8]>) -> Result<Self> {
        let tmp = TempFile::create(path, true)?;
        let mut buf = AlignedBuf::with_capacity(PIECES_BUFFER);
        let mut at = 0;
        // Whole blocks while more follows (the buffer is full then, and its capacity is whole
        // blocks); at the end, the rest.
        let mut write = |buf: &mut AlignedBuf| {
            let result = write_block_run(&tmp.file, at, buf);
            at += buf.len() as u64;
            buf.clear();
            result
        };
        let written = pieces
            .try_for_each(|mut piece| {
                while !piece.is_empty() {
                    piece = &piece[buf.push(piece)..];
                    if buf.len() == buf.capacity() {
                        write(&mut buf)?;
                    }
                }
                io::Result::Ok(())
            })
            .and_then(|()| write(&mut buf));
        written.and_then(|()| tmp.file.sync_all()).with_context(|| format!("writing {}", tmp.path.display()))?;
        Ok(Self { tmp, path, replace })
    }

    /// Puts the file in place; it appears whole or not at all.
    pub fn commit(self) -> Result<()> {
        place(&self.tmp, self.path, self.replace)
    }
}

/// Writes `bytes` to standard output.
pub fn write_stdout(bytes: &[u8]) -> Result<()> {
    io::stdout().lock().write_all(bytes).context("writing to standard output")
}

/// Writes `pieces` one after another to standard output.
pub fn write_stdout_pieces<'p>(mut pieces: impl Iterator<Item = &'p [u8]>) -> Result<()> {
    let mut out = io::stdout().lock();
    pieces.try_for_each(|piece| out.write_all(piece)).context("writing to standard output")
}

/// Refuses anything at `path` but a regular file, and that only with `force`.
fn check_replaceable(path: &Path, force: bool) -> Result<()> {
    let metadata = match fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("checking {}", path.display())),
    };
    let kind = metadata.file_type();
    let what = if kind.is_file() {
        if force {
            return Ok(());
        }
        bail!("{} already exists: pass --force to replace it", path.display());
    } else if kind.is_symlink() {
        "a symbolic link"
    } else if kind.is_dir() {
        "a folder"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_fifo() {
        "a named pipe"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    };
    bail!(
        "{} is {what}, and --out only writes regular files: it is left as it is (to write into it, use `--out -` \
         and redirect standard output)",
        path.display()
    )
}

/// Writes `bytes` to `path` through a hidden temporary file beside it, synced, then renamed
/// into place (or, without `replace`, linked into place, which fails if `path` appeared in the
/// meantime). The temporary file is removed whatever happens.
pub fn write_atomically(path: &Path, bytes: &[u8], replace: bool) -> Result<()> {
    let tmp = TempFile::create(path, false)?;
    let mut file = &tmp.file;
    file.write_all(bytes).and_then(|()| file.sync_all()).with_context(|| format!("writing {}", tmp.path.display()))?;
    place(&tmp, path, replace)
}

/// Renames (or, without `replace`, links) the synced `tmp` to `path`, and syncs the folder.
fn place(tmp: &TempFile, path: &Path, replace: bool) -> Result<()> {
    if replace {
        // Checked again just before the rename: the target may have changed while we worked.
        check_replaceable(path, true)?;
        fs::rename(&tmp.path, path)
            .with_context(|| format!("renaming {} to {}", tmp.path.display(), path.display()))?;
    } else {
        match fs::hard_link(&tmp.path, path) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => check_replaceable(path, false)?,
            result => result.with_context(|| format!("creating {}", path.display()))?,
        }
    }
    sync_dir(parent(path))
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// Makes renames and new names in `dir` durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).with_context(|| format!("syncing {}", dir.display()))
}

/// `.<name>.<pid>.partial` beside the target, deleted on drop.
struct TempFile {
    path: PathBuf,
    file: File,
}

impl TempFile {
    /// Direct I/O for `direct`, if the file system allows.
    fn create(target: &Path, direct: bool) -> Result<Self> {
        let name = target.file_name().with_context(|| format!("{} is not a file path", target.display()))?;
        let path = target.with_file_name(format!(".{}.{}.partial", name.to_string_lossy(), std::process::id()));
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        let file = if direct { open_direct(options, &path) } else { options.open(&path) };
        let file = file.with_context(|| format!("creating {}", path.display()))?;
        Ok(Self { path, file })
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::super::direct::ALIGN;
    use super::*;

    #[test]
    fn pieces_are_written_in_order_across_buffer_boundaries_and_cut_to_their_length() {
        let dir = tempfile::tempdir().unwrap();
        // Pieces that end inside, exactly at and beyond the buffer's end, and empty ones.
        let sizes = [0, 1, PIECES_BUFFER - 1, 0, PIECES_BUFFER, 3 * ALIGN + 5, PIECES_BUFFER + 7, 11];
        let pieces: Vec<Vec<u8>> = sizes
            .iter()
            .enumerate()
            .map(|(i, &len)| (0..len).map(|j| (i * 31 + j * 7 + j / 4096) as u8).collect())
            .collect();
        let path = dir.path().join("blob");
        Staged::write_pieces(&path, false, pieces.iter().map(Vec::as_slice)).unwrap().commit().unwrap();
        assert_eq!(fs::read(&path).unwrap(), pieces.concat());

        let empty = dir.path().join("empty");
        Staged::write_pieces(&empty, false, std::iter::empty()).unwrap().commit().unwrap();
        assert_eq!(fs::read(&empty).unwrap(), b"");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2, "no temporary file is left behind");
    }
}
