//! Reading the blob to encode, from a file or standard input, with progress on a terminal.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use walrus_encoder::EncodingParams;

const CHUNK: usize = 8 << 20;

/// Reads the whole blob, refusing early (before reading) a file too large for `params`.
pub fn read_blob(path: &Path, params: EncodingParams) -> Result<Vec<u8>> {
    if path == Path::new("-") {
        return read_all(io::stdin().lock(), None, params).context("reading standard input");
    }
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let len = file.metadata().with_context(|| format!("reading {}", path.display()))?.len();
    params.for_blob(len)?;
    read_all(file, Some(len), params).with_context(|| format!("reading {}", path.display()))
}

fn read_all(mut reader: impl Read, len: Option<u64>, params: EncodingParams) -> Result<Vec<u8>> {
    let bar = match len {
        Some(len) => ProgressBar::new(len).with_style(
            ProgressStyle::with_template("reading {bar:40} {bytes}/{total_bytes} {bytes_per_sec}")
                .expect("valid template"),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("reading {spinner} {bytes} {bytes_per_sec}").expect("valid template"),
        ),
    };
    // Room for the final zero-length read, so a known length never reallocates.
    let mut blob = Vec::with_capacity(len.unwrap_or(0) as usize + CHUNK);
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
        // Standard input has no length to check up front: stop as soon as it is too long.
        params.for_blob(blob.len() as u64)?;
    }
    bar.finish_and_clear();
    blob.shrink_to_fit();
    Ok(blob)
}
