//! The on-disk form of an encoded blob, as a storage node or reader would hold it:
//! `metadata.bcs` (`BlobMetadataWithId`), `slivers/<pair>.primary.bcs`,
//! `slivers/<pair>.secondary.bcs`, and `blob.json` for people.
//!
//! Writing is crash-safe: slivers go to `slivers.partial/`, are synced and renamed into place
//! only when complete, then `metadata.bcs` is written (atomically, synced); a folder with
//! `metadata.bcs` therefore always has the slivers it describes. An encoder holds an exclusive
//! lock on the folder throughout, and readers a shared one, so two encoders never mix their
//! slivers and a reader never sees a folder half replaced.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs::{self, File, TryLockError};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::direct::{self, BlockWriter, NamedFile, Target};
use super::{output, progress};
use anyhow::{bail, Context, Result};
use indicatif::ProgressBar;
use rayon::prelude::*;
use serde::Serialize;
use walrus_encoder::{
    Axis, BlobLayout, BlobMetadataWithId, Inputs, Primary, Secondary, ShardIndex, Sliver, SliverIndex, SliverPairIndex,
    SliverSink, VerifiedMetadata,
};

const METADATA: &str = "metadata.bcs";
const SLIVERS: &str = "slivers";
const PARTIAL: &str = "slivers.partial";
const BLOB_JSON: &str = "blob.json";
/// A primary sliver arriving in pieces is written in runs of up to this many bytes: at
/// n = 1000 its 666 parity slivers hold about 85 MB in these buffers, while step 1 of the
/// encoding runs, before the peak of memory in step 3. Smaller runs cost more writes (on a VM,
/// a few tens of microseconds of system time each): with 32 KiB, 18,000 writes and 10–20% more
/// time to encode 256 MiB.
const RUN_BUFFER: usize = 128 << 10;
/// Slivers verified together, in one encoding of their expansions.
const VERIFIED_TOGETHER: usize = 8;

fn sliver_file_name<A: Axis>(pair: SliverPairIndex) -> String {
    format!("{pair}.{}.bcs", A::NAME)
}

/// Parses `<pair>.primary.bcs` / `<pair>.secondary.bcs`.
fn parse_sliver_file_name(name: &str) -> Option<(SliverPairIndex, bool)> {
    let (pair, rest) = name.split_once('.')?;
    let is_primary = match rest {
        "primary.bcs" => true,
        "secondary.bcs" => false,
        _ => return None,
    };
    if pair.is_empty() || !pair.bytes().all(|b| b.is_ascii_digit()) || (pair.len() > 1 && pair.starts_with('0')) {
        return None;
    }
    Some((SliverPairIndex(pair.parse().ok()?), is_primary))
}

/// One sliver file's verdict.
pub struct SliverCheck {
    file: String,
    result: Result<(), String>,
}

impl SliverCheck {
    pub fn is_ok(&self) -> bool {
        self.result.is_ok()
    }

    pub fn verdict(&self) -> String {
        match &self.result {
            Ok(()) => "ok".into(),
            Err(reason) => format!("BAD ({reason})"),
        }
    }
}

impl fmt::Display for SliverCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.result {
            Ok(()) => write!(f, "{}: ok", self.file),
            Err(reason) => write!(f, "{}: {reason}", self.file),
        }
    }
}

/// Verdicts for the primary and secondary sliver of each pair present.
pub type PairReport = BTreeMap<SliverPairIndex, (Option<SliverCheck>, Option<SliverCheck>)>;

/// An encoded blob folder, open for reading under a shared lock.
pub struct EncodingFolder {
    dir: PathBuf,
    /// Held, not used: the lock lasts as long as the descriptor.
    _lock: File,
}

/// Where a new encoding is being written, under an exclusive lock on the folder. Dropped
/// without [`NewEncoding::commit`], it removes its unfinished slivers.
pub struct NewEncoding {
    dir: PathBuf,
    _lock: File,
    committed: bool,
}

/// Opens `dir` itself (no lock file to leave behind) and locks it, failing at once if another
/// process holds a conflicting lock.
fn lock(dir: &Path, exclusive: bool) -> Result<File> {
    let file = File::open(dir).with_context(|| format!("opening {}", dir.display()))?;
    let result = if exclusive { file.try_lock() } else { file.try_lock_shared() };
    match result {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) if exclusive => bail!(
            "{} is in use by another walrus-encoder process (another encode is writing it, or a decode or verify \
             is reading it); try again when it has finished, or encode into another folder",
            dir.display()
        ),
        Err(TryLockError::WouldBlock) => bail!(
            "{} is being written by another walrus-encoder process right now; try again when it has finished",
            dir.display()
        ),
        Err(TryLockError::Error(e)) => Err(e).with_context(|| format!("locking {}", dir.display())),
    }
}

/// Fails with a plain sentence unless `dir` is an existing folder.
fn ensure_folder(dir: &Path) -> Result<()> {
    match fs::metadata(dir) {
        Ok(metadata) if metadata.is_dir() => Ok(()),
        Ok(_) => bail!("{} is not a folder", dir.display()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => bail!("{} does not exist", dir.display()),
        Err(e) => Err(e).with_context(|| format!("opening {}", dir.display())),
    }
}

impl NewEncoding {
    /// Locks `dir` (created if needed) and clears what an interrupted run left.
    pub fn create(dir: &Path) -> Result<Self> {
        if fs::symlink_metadata(dir).is_err() {
            fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        ensure_folder(dir)?;
        let encoding = Self { dir: dir.to_path_buf(), _lock: lock(dir, true)?, committed: false };
        let partial = encoding.dir.join(PARTIAL);
        if partial.exists() {
            fs::remove_dir_all(&partial).with_context(|| format!("removing {}", partial.display()))?;
        }
        fs::create_dir(&partial).with_context(|| format!("creating {}", partial.display()))?;
        Ok(encoding)
    }

    /// Makes the finished slivers (each file already synced by the sink) visible, then
    /// writes the metadata; returns only once all of it is on disk. Each sliver file and each
    /// directory changed is synced, not the whole file system (syncfs would wait for every
    /// other writer on the disk too).
    pub fn commit(mut self, _synced: SyncedSlivers, metadata: &VerifiedMetadata) -> Result<()> {
        let partial = self.dir.join(PARTIAL);
        output::sync_dir(&partial)?;
        // Metadata first, durably: a crash from here on leaves no metadata describing slivers
        // that are half gone.
        let metadata_path = self.dir.join(METADATA);
        if metadata_path.exists() {
            fs::remove_file(&metadata_path).with_context(|| format!("removing {}", metadata_path.display()))?;
            output::sync_dir(&self.dir)?;
        }
        let slivers = self.dir.join(SLIVERS);
        if slivers.exists() {
            direct::remove_folder(&slivers)?;
        }
        fs::rename(&partial, &slivers).with_context(|| format!("renaming {}", partial.display()))?;
        self.committed = true;
        output::sync_dir(&self.dir)?;
        output::write_atomically(&self.dir.join(BLOB_JSON), &BlobSummary::new(metadata).to_json(), true)?;
        output::write_atomically(&metadata_path, &metadata.as_metadata_with_id().to_bcs(), true)
    }
}

impl Drop for NewEncoding {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(self.dir.join(PARTIAL));
        }
    }
}

impl EncodingFolder {
    /// Opens an encoded blob folder for reading, refusing one an encoder is writing.
    pub fn open(dir: &Path) -> Result<Self> {
        ensure_folder(dir)?;
        let folder = Self { dir: dir.to_path_buf(), _lock: lock(dir, false)? };
        if !dir.join(METADATA).is_file() {
            let why = if dir.join(PARTIAL).exists() {
                "an encoding into it was interrupted before it finished"
            } else {
                "it is not a folder written by `walrus-encoder encode`"
            };
            bail!("{} holds no {METADATA}: {why}", dir.display());
        }
        Ok(folder)
    }

    pub fn metadata(&self) -> Result<VerifiedMetadata> {
        let path = self.dir.join(METADATA);
        let bytes = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let metadata = BlobMetadataWithId::from_bcs(&bytes).with_context(|| format!("parsing {}", path.display()))?;
        metadata.verify().with_context(|| format!("verifying {}", path.display()))
    }

    /// Says why there is no sliver at all, when there is none.
    pub fn why_no_slivers(&self) -> String {
        let dir = self.dir.join(SLIVERS);
        if dir.is_dir() {
            format!("{} holds no sliver files", dir.display())
        } else {
            format!("{} does not exist", dir.display())
        }
    }

    /// The sliver files present for the blob's `n_shards` pairs, by pair and axis
    /// (`true` = primary). Other files are named on standard error and ignored.
    fn sliver_files(&self, n_shards: u16) -> Result<BTreeMap<(bool, SliverPairIndex), PathBuf>> {
        let dir = self.dir.join(SLIVERS);
        let mut files = BTreeMap::new();
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(files),
            Err(e) => return Err(e).with_context(|| format!("listing {}", dir.display())),
        };
        for entry in entries {
            let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
            let name = entry.file_name();
            match name.to_str().and_then(parse_sliver_file_name) {
                Some((pair, _)) if pair.0 >= n_shards => eprintln!(
                    "ignoring {}: there is no sliver pair {pair} with {n_shards} shards",
                    entry.path().display()
                ),
                Some((pair, is_primary)) => {
                    files.insert((is_primary, pair), entry.path());
                }
                None => eprintln!("ignoring {}: not a sliver file name", entry.path().display()),
            }
        }
        Ok(files)
    }

    fn check<A: Axis>(
        &self,
        metadata: &VerifiedMetadata,
        pair: SliverPairIndex,
        path: &Path,
    ) -> (SliverCheck, Option<Sliver<A>>) {
        let file = format!("{SLIVERS}/{}", sliver_file_name::<A>(pair));
        let result = load_sliver::<A>(metadata, pair, path);
        match result {
            Ok(sliver) => (SliverCheck { file, result: Ok(()) }, Some(sliver)),
            Err(reason) => (SliverCheck { file, result: Err(reason) }, None),
        }
    }

    /// Slivers of axis `A` that parse as the ones their names promise, and are verified unless
    /// `inputs` says otherwise: as many as decoding needs, or the count found if too few. Files
    /// are checked in batches so only a few more than needed are read.
    pub fn valid_slivers<A: Axis>(
        &self,
        metadata: &VerifiedMetadata,
        inputs: Inputs,
        rejected: &mut Vec<SliverCheck>,
    ) -> Result<Result<Vec<Sliver<A>>, usize>> {
        let needed = usize::from(metadata.layout().params().source_symbols::<A>());
        let files: Vec<_> = self
            .sliver_files(metadata.n_shards())?
            .into_iter()
            .filter(|((is_primary, _), _)| *is_primary == A::IS_PRIMARY)
            .collect();
        let bar = progress::bar(&format!("checking {} slivers", A::NAME), needed as u64);
        let mut valid = Vec::with_capacity(needed);
        for batch in files.chunks(VERIFIED_TOGETHER * 2 * rayon::current_num_threads()) {
            // Read and parsed in parallel, then verified a few together (one encoding each).
            let parsed: Vec<_> =
                batch.par_iter().map(|((_, pair), path)| (*pair, parse_sliver::<A>(metadata, *pair, path))).collect();
            let slivers: Vec<Sliver<A>> = parsed.iter().filter_map(|(_, p)| p.as_ref().ok().cloned()).collect();
            let verdicts: Vec<_> = match inputs {
                Inputs::Verified => slivers
                    .par_chunks(VERIFIED_TOGETHER)
                    .flat_map_iter(|chunk| Sliver::verify_all(chunk, metadata))
                    .collect(),
                Inputs::Unverified => slivers.iter().map(|_| Ok(())).collect(),
            };
            let mut verdicts = slivers.into_iter().zip(verdicts);
            for (pair, parsed) in parsed {
                let file = format!("{SLIVERS}/{}", sliver_file_name::<A>(pair));
                let result = match parsed {
                    Ok(_) => match verdicts.next().expect("one verdict per parsed sliver") {
                        (sliver, Ok(())) => {
                            valid.push(sliver);
                            continue;
                        }
                        (_, Err(e)) => Err(e.to_string()),
                    },
                    Err(reason) => Err(reason),
                };
                rejected.push(SliverCheck { file, result });
            }
            bar.set_position(valid.len() as u64);
            if valid.len() >= needed {
                valid.truncate(needed);
                return Ok(Ok(valid));
            }
        }
        Ok(Err(valid.len()))
    }

    /// Checks every sliver file present.
    pub fn verify_all(&self, metadata: &VerifiedMetadata) -> Result<PairReport> {
        let files: Vec<_> = self.sliver_files(metadata.n_shards())?.into_iter().collect();
        let bar = progress::bar("verifying slivers", files.len() as u64);
        let checks: Vec<_> = files
            .par_iter()
            .map(|((is_primary, pair), path)| {
                let check = if *is_primary {
                    self.check::<Primary>(metadata, *pair, path).0
                } else {
                    self.check::<Secondary>(metadata, *pair, path).0
                };
                bar.inc(1);
                (*is_primary, *pair, check)
            })
            .collect();
        bar.finish_and_clear();
        let mut report = PairReport::new();
        for (is_primary, pair, check) in checks {
            let entry = report.entry(pair).or_insert((None, None));
            if is_primary {
                entry.0 = Some(check);
            } else {
                entry.1 = Some(check);
            }
        }
        Ok(report)
    }
}

/// Reads, parses and verifies one sliver file, checking it is the sliver its name promises.
fn load_sliver<A: Axis>(metadata: &VerifiedMetadata, pair: SliverPairIndex, path: &Path) -> Result<Sliver<A>, String> {
    let sliver = parse_sliver(metadata, pair, path)?;
    sliver.verify(metadata).map_err(|e| e.to_string())?;
    Ok(sliver)
}

/// Reads and parses one sliver file, checking it is the sliver its name promises (but not
/// yet against the metadata's hash).
fn parse_sliver<A: Axis>(metadata: &VerifiedMetadata, pair: SliverPairIndex, path: &Path) -> Result<Sliver<A>, String> {
    let n = metadata.n_shards();
    let bytes = fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    let sliver = Sliver::<A>::from_bcs_bytes(bytes.into()).map_err(|e| e.to_string())?;
    let expected = pair.sliver::<A>(n);
    // The bytes carry no axis, but the two axes' slivers differ in length.
    if sliver.data().len() == metadata.layout().sliver_length::<A::Orthogonal>() && sliver.index().get() < n {
        let other = SliverIndex::<A::Orthogonal>::new(sliver.index().get());
        return Err(format!("holds {other} (of pair {}), not {expected}", other.pair(n)));
    }
    if sliver.index() != expected {
        return Err(format!("holds {}, but pair {pair} has {expected}", sliver.index()));
    }
    Ok(sliver)
}

/// Writes slivers into `slivers.partial/` as the encoder produces them, through
/// [`direct::Writers`]: whole slivers at once, and the primary slivers that arrive in pieces as
/// sequential runs of whole blocks.
pub struct FolderSink {
    dir: PathBuf,
    layout: BlobLayout,
    writers: direct::Writers,
    /// Primary slivers arriving in pieces, by index: each is written as its pieces come.
    runs: HashMap<u16, Run>,
    bar: ProgressBar,
}

/// A primary sliver being written piece by piece.
enum Run {
    /// Pieces so far came in order: the file is written in whole blocks.
    Sequential(BlockWriter),
    /// A piece came out of order: each is written where it belongs.
    Scattered(Arc<NamedFile>),
}

/// Proof that every sliver file of the sink is written and synced: what
/// [`NewEncoding::commit`] needs before it can make the slivers visible.
pub struct SyncedSlivers(());

impl FolderSink {
    pub fn new(encoding: &NewEncoding, layout: BlobLayout) -> Self {
        let bar = progress::bar("encoding", 0);
        Self { dir: encoding.dir.join(PARTIAL), layout, writers: direct::Writers::start(), runs: HashMap::new(), bar }
    }

    /// Queues a whole sliver file: its BCS frame around `symbols`.
    fn write_whole(&mut self, name: String, prefix: &[u8], symbols: &[u8], suffix: &[u8]) -> io::Result<()> {
        let len = prefix.len() + symbols.len() + suffix.len();
        let mut buf = self.writers.buffer(len);
        for part in [prefix, symbols, suffix] {
            buf.push(part);
        }
        self.writers.write(Target::Create(self.dir.join(name)), 0, buf, true)
    }

    /// Writes symbols `first_symbol..` of a primary sliver that arrives in pieces.
    fn write_piece(&mut self, index: SliverIndex<Primary>, first_symbol: usize, data: &[u8]) -> io::Result<()> {
        let total = self.layout.sliver_length::<Primary>();
        let (prefix, suffix) = Sliver::<Primary>::bcs_frame(total, self.layout.symbol_size(), index);
        let end = (prefix.len() + total + suffix.len()) as u64;
        let offset = (prefix.len() + first_symbol * usize::from(self.layout.symbol_size())) as u64;
        let run = match self.runs.remove(&index.get()) {
            Some(run) => run,
            None => {
                let path = self.dir.join(sliver_file_name::<Primary>(index.pair(self.layout.n_shards())));
                // The parity rows' runs fill in step, a piece per strip each: with runs of one
                // length, all 666 rows (at n = 1000) queued a run at the same strip, and the
                // encoding waited for the disk to take 85 MB. First runs of lengths spread over
                // 4 KiB to a whole run queue a steady trickle instead.
                let first = direct::ALIGN * (1 + usize::from(index.get()) % (RUN_BUFFER / direct::ALIGN));
                let file = NamedFile::create(path)?;
                let mut writer = BlockWriter::new(file, self.writers.buffer(RUN_BUFFER), first);
                writer.push(&self.writers, &prefix)?;
                Run::Sequential(writer)
            }
        };
        let run = match run {
            Run::Sequential(mut writer) if writer.position() == offset => {
                writer.push(&self.writers, data)?;
                if writer.position() + suffix.len() as u64 == end {
                    writer.push(&self.writers, &suffix)?;
                    return writer.finish(&self.writers);
                }
                Run::Sequential(writer)
            }
            Run::Sequential(writer) => {
                let named = writer.into_buffered()?;
                named.file.write_all_at(&suffix, end - suffix.len() as u64)?;
                named.file.write_all_at(data, offset)?;
                Run::Scattered(named)
            }
            Run::Scattered(named) => {
                named.file.write_all_at(data, offset)?;
                Run::Scattered(named)
            }
        };
        self.runs.insert(index.get(), run);
        Ok(())
    }

    /// Waits for every write and sync.
    pub fn finish(mut self) -> Result<SyncedSlivers> {
        // Only a sink whose pieces came out of order (or never completed) holds runs here.
        for (_, run) in self.runs.drain() {
            match run {
                Run::Sequential(writer) => writer.finish(&self.writers),
                Run::Scattered(named) => self.writers.sync(named),
            }
            .context("writing slivers")?;
        }
        self.writers.finish().context("writing slivers")?;
        self.bar.finish_and_clear();
        Ok(SyncedSlivers(()))
    }
}

impl SliverSink for FolderSink {
    fn primary(&mut self, index: SliverIndex<Primary>, first_symbol: usize, symbols: &[u8]) -> io::Result<()> {
        if symbols.len() == self.layout.sliver_length::<Primary>() {
            let (prefix, suffix) = Sliver::<Primary>::bcs_frame(symbols.len(), self.layout.symbol_size(), index);
            let name = sliver_file_name::<Primary>(index.pair(self.layout.n_shards()));
            return self.write_whole(name, &prefix, symbols, &suffix);
        }
        self.write_piece(index, first_symbol, symbols)
    }

    fn secondary(&mut self, index: SliverIndex<Secondary>, symbols: Vec<u8>) -> io::Result<()> {
        let (prefix, suffix) = Sliver::<Secondary>::bcs_frame(symbols.len(), self.layout.symbol_size(), index);
        let name = sliver_file_name::<Secondary>(index.pair(self.layout.n_shards()));
        self.write_whole(name, &prefix, &symbols, &suffix)
    }

    fn progress(&mut self, done: usize, total: usize) {
        self.bar.set_length(total as u64);
        self.bar.set_position(done as u64);
    }
}

/// `blob.json`: what a person wants to know about the encoding.
#[derive(Serialize)]
struct BlobSummary {
    blob_id: String,
    blob_id_u256: String,
    root_hash: String,
    unencoded_length: u64,
    n_shards: u16,
    symbol_size: u16,
    /// Bytes of storage the system charges for (as the Move contracts compute it).
    encoded_length: u64,
    primary_sliver_bcs_bytes: usize,
    secondary_sliver_bcs_bytes: usize,
    /// Shard `shards[p]` stores sliver pair `p`.
    shards: Vec<ShardIndex>,
}

impl BlobSummary {
    fn new(metadata: &VerifiedMetadata) -> Self {
        let layout = metadata.layout();
        let rotation = metadata.rotation();
        let bcs_len = |len: usize| Sliver::<Primary>::bcs_frame(len, 0, SliverIndex::new(0)).0.len() + len + 4;
        Self {
            blob_id: metadata.blob_id().to_string(),
            blob_id_u256: metadata.blob_id().to_u256_decimal(),
            root_hash: hex::encode(metadata.metadata().root_hash().bytes()),
            unencoded_length: layout.unencoded_length(),
            n_shards: layout.n_shards(),
            symbol_size: layout.symbol_size(),
            encoded_length: layout.encoded_length(),
            primary_sliver_bcs_bytes: bcs_len(layout.sliver_length::<Primary>()),
            secondary_sliver_bcs_bytes: bcs_len(layout.sliver_length::<Secondary>()),
            shards: (0..layout.n_shards()).map(|p| rotation.shard_of(SliverPairIndex(p))).collect(),
        }
    }

    fn to_json(&self) -> Vec<u8> {
        let mut json = serde_json::to_vec_pretty(self).expect("plain data serializes");
        json.push(b'\n');
        json
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `+1.primary.bcs` parses as a `u16` but is not the name of pair 1: only digits are taken.
    /// Catches the mutant (cargo-mutants) `replace || with && in parse_sliver_file_name` at the
    /// digit check, which let such a name through as pair 1.
    #[test]
    fn sliver_file_names_round_trip_and_reject_others() {
        assert_eq!(parse_sliver_file_name("0.primary.bcs"), Some((SliverPairIndex(0), true)));
        assert_eq!(parse_sliver_file_name("999.secondary.bcs"), Some((SliverPairIndex(999), false)));
        assert_eq!(sliver_file_name::<Secondary>(SliverPairIndex(12)), "12.secondary.bcs");
        for bad in [
            "01.primary.bcs",
            "1.primary",
            "x.primary.bcs",
            "+1.primary.bcs",
            "70000.primary.bcs",
            ".primary.bcs",
            "1.tertiary.bcs",
        ] {
            assert_eq!(parse_sliver_file_name(bad), None, "{bad}");
        }
    }
}
