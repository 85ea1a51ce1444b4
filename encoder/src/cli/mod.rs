//! The commands of `walrus-encoder`, on top of the library.

mod direct;
mod folder;
mod input;
mod memory;
mod output;
mod progress;

use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use walrus_encoder::{
    Axis, BlobEncoder, BlobLayout, ConsistencyCheck, EncodingParams, FileEncoder, Inputs, Primary, Secondary, Sliver,
    SliverIndex, SliverPairIndex, VerifiedMetadata,
};

use direct::AlignedBuf;
use folder::{EncodingFolder, FolderSink, NewEncoding, PairReport, SliverCheck};
use input::Input;
use output::{Destination, Staged};

pub fn blob_id(file: &Path, params: EncodingParams) -> Result<ExitCode> {
    let (input, layout) = open_for_encoding(file, params)?;
    let bar = progress::bar("hashing", 0);
    let mut progress = |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    };
    let metadata = match &input {
        Input::File(file, _) => FileEncoder::new(params, file, layout.unencoded_length())?
            .compute_metadata_with_progress(&mut progress)
            .context("reading the blob")?,
        Input::Memory(blob) => BlobEncoder::new(params, blob)?.compute_metadata_with_progress(&mut progress),
    };
    bar.finish_and_clear();
    println!("{}", metadata.blob_id());
    Ok(ExitCode::SUCCESS)
}

/// Opens the blob, refusing before encoding allocates anything one whose encoding would not
/// fit in memory: first for the shard count alone (before a long read of standard input), then
/// for the blob's length. A blob read into memory already holds its memory.
fn open_for_encoding(file: &Path, params: EncodingParams) -> Result<(Input, BlobLayout)> {
    memory::ensure_available(params.for_blob(0)?.encoding_memory(), || {
        format!("encoding with {} shards", params.n_shards())
    })?;
    let input = input::open(file, params)?;
    let layout = params.for_blob(input.len())?;
    memory::ensure_available(layout.encoding_memory(), || {
        format!("encoding {} bytes with {} shards", layout.unencoded_length(), params.n_shards())
    })?;
    Ok((input, layout))
}

pub fn encode(file: &Path, params: EncodingParams, out: &Path) -> Result<ExitCode> {
    let (input, layout) = open_for_encoding(file, params)?;
    let encoding = NewEncoding::create(out)?;
    let mut sink = FolderSink::new(&encoding, layout);
    let metadata = match &input {
        Input::File(file, _) => FileEncoder::new(params, file, layout.unencoded_length())?.write_slivers(&mut sink),
        Input::Memory(blob) => BlobEncoder::new(params, blob)?.write_slivers(&mut sink),
    }
    .context("encoding")?;
    let syncing = progress::spinner("syncing to disk");
    let synced = sink.finish()?;
    encoding.commit(synced, &metadata)?;
    syncing.finish_and_clear();
    eprintln!(
        "encoded {} bytes into {} sliver pairs in {}",
        metadata.layout().unencoded_length(),
        params.n_shards(),
        out.display()
    );
    println!("{}", metadata.blob_id());
    Ok(ExitCode::SUCCESS)
}

pub fn decode(dir: &Path, out: &Path, force: bool, strict: bool) -> Result<ExitCode> {
    // Checked first, so a bad --out costs nothing and is left untouched.
    let destination = Destination::parse(out, force)?;
    let folder = EncodingFolder::open(dir)?;
    let metadata = folder.metadata()?;
    // The blob, plus the slivers it is decoded from (about as large again).
    let length = metadata.layout().unencoded_length();
    memory::ensure_available(2 * length, || format!("decoding a blob of {length} bytes"))?;
    let check = if strict { ConsistencyCheck::Strict } else { ConsistencyCheck::Default };
    let mut rejected = Vec::new();
    let result = decode_from(&folder, &metadata, check, &destination, &mut rejected);
    report_rejected(&rejected);
    result?;
    if let Destination::File { .. } = destination {
        eprintln!("decoded {length} bytes of blob {} into {}", metadata.blob_id(), out.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn decode_from(
    folder: &EncodingFolder,
    metadata: &VerifiedMetadata,
    check: ConsistencyCheck,
    destination: &Destination,
    rejected: &mut Vec<SliverCheck>,
) -> Result<()> {
    if check == ConsistencyCheck::Default {
        // Checking every row of the decoded blob guarantees it as verifying the slivers first
        // would, and hashes fewer expansions when some slivers are not rows. The slivers are
        // verified only if that check fails, to tell a bad sliver from a bad encoding.
        if let Ok(slivers) = folder.valid_slivers::<Primary>(metadata, Inputs::Unverified, rejected)? {
            match decode_rows_in_place(metadata, slivers, Inputs::Unverified, destination) {
                Err(e)
                    if matches!(
                        e.downcast_ref::<walrus_encoder::Error>(),
                        Some(walrus_encoder::Error::InconsistentBlob)
                    ) => {}
                done => return done,
            }
        }
        rejected.clear();
    }
    match folder.valid_slivers::<Primary>(metadata, Inputs::Verified, rejected)? {
        Ok(slivers) if check == ConsistencyCheck::Default => {
            decode_rows_in_place(metadata, slivers, Inputs::Verified, destination)
        }
        Ok(slivers) => decode_to(metadata, &slivers, check, destination),
        Err(primary_count) => match folder.valid_slivers::<Secondary>(metadata, Inputs::Verified, rejected)? {
            Ok(slivers) => decode_to(metadata, &slivers, check, destination),
            Err(secondary_count) => {
                let p = metadata.layout().params();
                bail!(
                    "too few valid slivers to decode: {primary_count} primary ({} needed) and {secondary_count} \
                     secondary ({} needed)",
                    p.primary_source_symbols(),
                    p.secondary_source_symbols()
                );
            }
        },
    }
}

/// Decodes the blob from `slivers` (verified) and writes it to `destination`. A file is written
/// while the consistency check runs, and put in place only if the check passes; standard
/// output gets nothing unless it does.
fn decode_to<A: Axis>(
    metadata: &VerifiedMetadata,
    slivers: &[Sliver<A>],
    check: ConsistencyCheck,
    destination: &Destination,
) -> Result<()> {
    let spinner = progress::spinner("decoding");
    let length =
        usize::try_from(metadata.layout().unencoded_length()).context("the blob is too large to decode here")?;
    let mut blob = AlignedBuf::zeroed(length);
    walrus_encoder::decode_unchecked(metadata, slivers, blob.as_mut_slice()).context("decoding")?;
    let checked = || walrus_encoder::check_consistency(metadata, slivers, check, blob.as_slice()).context("decoding");
    match destination {
        Destination::Stdout => {
            checked()?;
            drop(spinner);
            output::write_stdout(blob.as_slice())
        }
        Destination::File { path, replace } => {
            let (staged, checked) = std::thread::scope(|scope| {
                let writing = scope.spawn(|| Staged::write(path, *replace, &blob));
                let checked = checked();
                (writing.join().expect("the writing thread does not panic"), checked)
            });
            checked?;
            let staged = staged?;
            drop(spinner);
            staged.commit()
        }
    }
}

/// Decodes the blob from primary `slivers` in their own buffers, where the rows come out, and
/// writes the rows on: unlike [`decode_to`], no second buffer the size of the blob. A file is
/// written while the default check runs, and put in place only if it passes; standard output
/// gets nothing unless it does.
fn decode_rows_in_place(
    metadata: &VerifiedMetadata,
    slivers: Vec<Sliver<Primary>>,
    inputs: Inputs,
    destination: &Destination,
) -> Result<()> {
    let spinner = progress::spinner("decoding");
    let mut buffers: Vec<_> = slivers.into_iter().map(|sliver| (sliver.index(), sliver.into_symbols_mut())).collect();
    let mut lines: Vec<_> = buffers.iter_mut().map(|(index, buffer)| (*index, &mut buffer[..])).collect();
    let length = metadata.layout().unencoded_length();
    match destination {
        Destination::Stdout => {
            walrus_encoder::decode_in_place(metadata, &mut lines, inputs).context("decoding")?;
            drop(spinner);
            let lines: Vec<_> = lines.iter().map(|(index, row)| (*index, &**row)).collect();
            output::write_stdout_pieces(blob_rows(&lines, length).into_iter())
        }
        Destination::File { path, replace } => {
            let staged = walrus_encoder::decode_in_place_alongside(metadata, &mut lines, inputs, |lines| {
                Staged::write_pieces(path, *replace, blob_rows(lines, length).into_iter())
            })
            .context("decoding")??;
            drop(spinner);
            staged.commit()
        }
    }
}

/// The blob's rows in order, the last cut at its `length` (and any after it, all padding,
/// empty).
fn blob_rows<'a>(lines: &[(SliverIndex<Primary>, &'a [u8])], length: u64) -> Vec<&'a [u8]> {
    let mut sorted = lines.to_vec();
    sorted.sort_by_key(|(index, _)| index.get());
    let mut left = length;
    sorted
        .into_iter()
        .map(|(_, row)| {
            let take = left.min(row.len() as u64);
            left -= take;
            &row[..take as usize]
        })
        .collect()
}

fn report_rejected(rejected: &[SliverCheck]) {
    for r in rejected {
        eprintln!("rejected {}", r);
    }
}

/// One axis's slivers: how many are good, bad and missing.
struct AxisCount {
    name: &'static str,
    good: usize,
    bad: usize,
    missing: usize,
    needed: usize,
}

impl AxisCount {
    fn of<A: Axis>(report: &PairReport, metadata: &VerifiedMetadata) -> Self {
        let check = |checks: &(Option<SliverCheck>, Option<SliverCheck>)| {
            if A::IS_PRIMARY { checks.0.as_ref() } else { checks.1.as_ref() }.map(SliverCheck::is_ok)
        };
        let present: Vec<bool> = report.values().filter_map(check).collect();
        let good = present.iter().filter(|ok| **ok).count();
        Self {
            name: A::NAME,
            good,
            bad: present.len() - good,
            missing: usize::from(metadata.n_shards()) - present.len(),
            needed: usize::from(metadata.layout().params().source_symbols::<A>()),
        }
    }

    fn decodable(&self) -> bool {
        self.good >= self.needed
    }
}

pub fn verify(dir: &Path, verbose: bool) -> Result<ExitCode> {
    let folder = EncodingFolder::open(dir)?;
    let metadata = folder.metadata()?;
    let report = folder.verify_all(&metadata)?;
    let n = metadata.n_shards();
    let rotation = metadata.rotation();
    let describe = |c: &Option<SliverCheck>| c.as_ref().map_or_else(|| "missing".to_string(), SliverCheck::verdict);
    for p in 0..n {
        let pair = SliverPairIndex(p);
        let (primary, secondary) = report.get(&pair).map_or((&None, &None), |(a, b)| (a, b));
        let bad = [primary, secondary].iter().any(|c| c.as_ref().is_some_and(|c| !c.is_ok()));
        let missing = primary.is_none() || secondary.is_none();
        // Bad slivers are always named; missing ones are summed up below unless asked for.
        if verbose || bad {
            let flag = if bad {
                "  BAD"
            } else if missing {
                "  MISSING"
            } else {
                ""
            };
            println!(
                "pair {pair} (shard {}): primary {}, secondary {}{flag}",
                rotation.shard_of(pair),
                describe(primary),
                describe(secondary)
            );
        }
    }
    let axes = [AxisCount::of::<Primary>(&report, &metadata), AxisCount::of::<Secondary>(&report, &metadata)];
    if !verbose {
        for axis in &axes {
            let missing = missing_pairs(&report, n, axis.name == Primary::NAME);
            if !missing.is_empty() {
                println!("missing {} slivers of pairs {missing}", axis.name);
            }
        }
    }
    let total = 2 * usize::from(n);
    let good: usize = axes.iter().map(|a| a.good).sum();
    println!("blob {} ({n} shards): {good} of {total} slivers good", metadata.blob_id());
    for a in &axes {
        println!(
            "  {:<10} {} good, {} bad, {} missing ({} good needed to decode)",
            format!("{}:", a.name),
            a.good,
            a.bad,
            a.missing,
            a.needed
        );
    }
    if good == total {
        println!("complete: every sliver is present and good");
        return Ok(ExitCode::SUCCESS);
    }
    if good == 0 && axes.iter().all(|a| a.bad == 0) {
        println!("no slivers: {}", folder.why_no_slivers());
    }
    let from: Vec<&str> = axes.iter().filter(|a| a.decodable()).map(|a| a.name).collect();
    let problems = total - good;
    if from.is_empty() {
        println!("NOT DECODABLE: {problems} slivers missing or bad, and neither axis has enough good ones");
    } else {
        println!(
            "incomplete: {problems} slivers missing or bad; the blob can still be decoded from its {} slivers",
            from.join(" or its ")
        );
    }
    Ok(ExitCode::FAILURE)
}

/// The pairs whose sliver of one axis is missing, as ranges: `0-12, 20`.
fn missing_pairs(report: &PairReport, n: u16, primary: bool) -> String {
    let present =
        |p: u16| report.get(&SliverPairIndex(p)).is_some_and(|(a, b)| if primary { a.is_some() } else { b.is_some() });
    let mut ranges: Vec<String> = Vec::new();
    let mut p = 0;
    while p < n {
        if present(p) {
            p += 1;
            continue;
        }
        let start = p;
        while p < n && !present(p) {
            p += 1;
        }
        ranges.push(if p - 1 == start { start.to_string() } else { format!("{start}-{}", p - 1) });
    }
    ranges.join(", ")
}
