//! The blob to encode: a large regular file is read by the encoder as it goes; a small one,
//! standard input or a pipe is read into memory first (with progress on a terminal).

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressFinish, ProgressStyle};
use walrus_encoder::EncodingParams;

const CHUNK: usize = 8 << 20;
/// Regular files up to this size are read whole in one go: cheaper than the encoder's many
/// small reads, and small beside the encoder's own memory (at least 32 MB at n = 1000).
const READ_WHOLE: u64 = 8 << 20;

pub enum Input {
    /// A regular file and its length.
    File(File, u64),
    Memory(Vec<u8>),
}

impl Input {
    pub fn len(&self) -> u64 {
        match self {
            Input::File(_, len) => *len,
            Input::Memory(blob) => blob.len() as u64,
        }
    }
}

/// Opens the blob, refusing early (before reading) a file too large for `params`.
pub fn open(path: &Path, params: EncodingParams) -> Result<Input> {
    if path == Path::new("-") {
        return Ok(Input::Memory(read_all(io::stdin().lock(), params).context("reading standard input")?));
    }
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let metadata = file.metadata().with_context(|| format!("reading {}", path.display()))?;
    if !metadata.is_file() {
        // A pipe or device has no length to trust: read it all.
        return Ok(Input::Memory(read_all(file, params).with_context(|| format!("reading {}", path.display()))?));
    }
    params.for_blob(metadata.len())?;
    if metadata.len() <= READ_WHOLE {
        let mut blob = Vec::with_capacity(metadata.len() as usize);
        (&file).read_to_end(&mut blob).with_context(|| format!("reading {}", path.display()))?;
        return Ok(Input::Memory(blob));
    }
    Ok(Input::File(file, metadata.len()))
}

fn read_all(mut reader: impl Read, params: EncodingParams) -> Result<Vec<u8>> {
    let bar = ProgressBar::new_spinner()
        .with_style(ProgressStyle::with_template("reading {spinner} {bytes} {bytes_per_sec}").expect("valid template"))
        .with_finish(ProgressFinish::AndClear);
    let mut blob = Vec::new();
    loop {
        let start = blob.len();
        blob.resize(start + CHUNK, 0);
        let result = reader.read(&mut blob[start..]);
        blob.truncate(start + *result.as_ref().unwrap_or(&0));
        match result {
            Ok(0) => break,
            Ok(read) => bar.inc(read as u64),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        }
        // No length to check up front: stop as soon as it is too long.
        params.for_blob(blob.len() as u64)?;
    }
    bar.finish_and_clear();
    blob.shrink_to_fit();
    Ok(blob)
}
