//! The commands of `walrus-encoder`, on top of the library.

mod folder;
mod input;

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use walrus_encoder::{BlobEncoder, ConsistencyCheck, EncodingParams, FileEncoder, Primary, Secondary};

use folder::{EncodingFolder, FolderSink, SliverCheck};
use input::Input;

pub fn blob_id(file: &Path, n_shards: u16) -> Result<ExitCode> {
    let params = EncodingParams::new(n_shards)?;
    let metadata = match input::open(file, params)? {
        Input::File(file, len) => {
            FileEncoder::new(params, &file, len)?.compute_metadata().context("reading the blob")?
        }
        Input::Memory(blob) => BlobEncoder::new(params, &blob)?.compute_metadata(),
    };
    println!("{}", metadata.blob_id());
    Ok(ExitCode::SUCCESS)
}

pub fn encode(file: &Path, n_shards: u16, out: &Path) -> Result<ExitCode> {
    let params = EncodingParams::new(n_shards)?;
    let input = input::open(file, params)?;
    let folder = EncodingFolder::create(out)?;
    let metadata = match &input {
        Input::File(file, len) => {
            let encoder = FileEncoder::new(params, file, *len)?;
            let mut sink = FolderSink::new(&folder, encoder.layout())?;
            let metadata = encoder.write_slivers(&mut sink).context("encoding")?;
            sink.finish()?;
            metadata
        }
        Input::Memory(blob) => {
            let encoder = BlobEncoder::new(params, blob)?;
            let mut sink = FolderSink::new(&folder, encoder.layout())?;
            let metadata = encoder.write_slivers(&mut sink).context("encoding")?;
            sink.finish()?;
            metadata
        }
    };
    folder.commit(&metadata)?;
    eprintln!(
        "encoded {} bytes into {} sliver pairs in {}",
        metadata.layout().unencoded_length(),
        n_shards,
        out.display()
    );
    println!("{}", metadata.blob_id());
    Ok(ExitCode::SUCCESS)
}

pub fn decode(dir: &Path, out: &Path, strict: bool) -> Result<ExitCode> {
    let folder = EncodingFolder::open(dir)?;
    let metadata = folder.metadata()?;
    let mut rejected = Vec::new();
    let primary = folder.valid_slivers::<Primary>(&metadata, &mut rejected)?;
    let check = if strict { ConsistencyCheck::Strict } else { ConsistencyCheck::Default };
    let blob = match primary {
        Ok(slivers) => walrus_encoder::decode(&metadata, &slivers, check),
        Err(primary_count) => match folder.valid_slivers::<Secondary>(&metadata, &mut rejected)? {
            Ok(slivers) => walrus_encoder::decode(&metadata, &slivers, check),
            Err(secondary_count) => {
                report_rejected(&rejected);
                let p = metadata.layout().params();
                bail!(
                    "too few valid slivers to decode: {primary_count} primary ({} needed) and {secondary_count} \
                     secondary ({} needed)",
                    p.primary_source_symbols(),
                    p.secondary_source_symbols()
                );
            }
        },
    };
    report_rejected(&rejected);
    let blob = blob.context("decoding")?;
    if out == Path::new("-") {
        std::io::stdout().lock().write_all(&blob).context("writing to standard output")?;
    } else {
        folder::write_atomically(out, &blob)?;
        eprintln!("decoded {} bytes of blob {} into {}", blob.len(), metadata.blob_id(), out.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn report_rejected(rejected: &[SliverCheck]) {
    for r in rejected {
        eprintln!("rejected {}", r);
    }
}

pub fn verify(dir: &Path) -> Result<ExitCode> {
    let folder = EncodingFolder::open(dir)?;
    let metadata = folder.metadata()?;
    let report = folder.verify_all(&metadata)?;
    let rotation = metadata.rotation();
    let mut bad = 0;
    let mut checked = 0;
    for (pair, checks) in &report {
        let shard = rotation.shard_of(*pair);
        let describe = |c: &Option<SliverCheck>| match c {
            None => "missing".to_string(),
            Some(c) => c.verdict(),
        };
        let line =
            format!("pair {pair} (shard {shard}): primary {}, secondary {}", describe(&checks.0), describe(&checks.1));
        let pair_bad = [&checks.0, &checks.1].iter().any(|c| c.as_ref().is_some_and(|c| !c.is_ok()));
        checked += checks.0.is_some() as usize + checks.1.is_some() as usize;
        if pair_bad {
            bad += [&checks.0, &checks.1].iter().filter(|c| c.as_ref().is_some_and(|c| !c.is_ok())).count();
            println!("{line}  BAD");
        } else {
            println!("{line}");
        }
    }
    println!("{checked} slivers checked for blob {}: {} good, {bad} bad", metadata.blob_id(), checked - bad);
    Ok(if bad == 0 && checked > 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
