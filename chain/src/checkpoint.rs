//! The part of a Sui checkpoint the indexer needs, read from any of the formats it arrives in:
//! the legacy `.chk` file (one byte `0x01`, then the BCS of `CheckpointData`), the current
//! `.binpb.zst` file (zstd of the protobuf `sui.rpc.v2.Checkpoint`), and the full node's gRPC
//! `Checkpoint` message, which is the same protobuf.

use std::collections::HashMap;

use prost::Message;
use sui_rpc::proto::sui::rpc::v2 as proto;
use sui_sdk_types::{
    Address, CheckpointContents, CheckpointData, CheckpointSummary, Digest, Event, MovePackage, Object, ObjectData,
    ObjectOut, TransactionEffects, TransactionEvents, Version,
};

use crate::validators::Certificate;

/// The leading byte of a `.chk` file: its payload is BCS.
const CHK_BCS: u8 = 0x01;

/// The largest checkpoint read, as a file, an HTTP body or decompressed: Sui's largest are tens
/// of MiB, and a zstd bomb (a few KiB that inflate to GiBs) stops here instead of exhausting
/// memory.
pub const MAX_CHECKPOINT_BYTES: u64 = 256 << 20;

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("empty checkpoint file")]
    Empty,
    #[error("unknown .chk encoding byte {0:#04x} (only 0x01, BCS, exists)")]
    UnknownEncoding(u8),
    #[error("invalid BCS: {0}")]
    Bcs(#[from] bcs::Error),
    #[error("invalid zstd: {0}")]
    Zstd(#[from] std::io::Error),
    #[error("invalid protobuf: {0}")]
    Protobuf(#[from] prost::DecodeError),
    #[error("checkpoint is larger than {limit} bytes decompressed: refused")]
    TooLarge { limit: u64 },
    #[error("checkpoint message lacks {0}")]
    Missing(&'static str),
    #[error("invalid {what}: {error}")]
    Invalid { what: &'static str, error: String },
}

/// A checkpoint's position in the chain: checkpoint N follows checkpoint N - 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CheckpointSequence(pub u64);

impl CheckpointSequence {
    /// The checkpoint after this one.
    pub fn next(self) -> Self {
        Self(self.0 + 1)
    }
}

impl std::fmt::Display for CheckpointSequence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// One checkpoint: its number, its place in the hash chain, its time, the events and packages
/// of its transactions, and the validators' certificate if the source sent it.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    pub sequence_number: CheckpointSequence,
    pub digest: Digest,
    /// `None` only for the genesis checkpoint.
    pub previous_digest: Option<Digest>,
    pub timestamp_ms: u64,
    pub transactions: Vec<Transaction>,
    /// Always in a `.chk` file; in a protobuf message when it carries the summary, signature and
    /// contents as BCS, and so the transactions are shown to be the summary's.
    pub certificate: Option<Certificate>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Transaction {
    /// Base58, as Sui shows transaction digests.
    pub digest: String,
    pub events: Vec<Event>,
    /// Packages the transaction published or upgraded, for type-origin tracking.
    pub packages: Vec<MovePackage>,
}

impl Checkpoint {
    /// Reads a `.chk` file.
    pub fn from_chk(bytes: &[u8]) -> Result<Self, DecodeError> {
        match bytes.split_first() {
            None => Err(DecodeError::Empty),
            Some((&CHK_BCS, payload)) => Self::from_checkpoint_data(bcs::from_bytes(payload)?),
            Some((&other, _)) => Err(DecodeError::UnknownEncoding(other)),
        }
    }

    /// Reads a `.binpb.zst` file of at most [`MAX_CHECKPOINT_BYTES`] decompressed.
    pub fn from_binpb_zst(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::from_binpb_zst_within(bytes, MAX_CHECKPOINT_BYTES)
    }

    /// Reads a `.binpb.zst` file, refusing it once it inflates beyond `limit` bytes.
    pub fn from_binpb_zst_within(bytes: &[u8], limit: u64) -> Result<Self, DecodeError> {
        use std::io::Read;
        let mut raw = Vec::new();
        zstd::stream::read::Decoder::new(bytes)?.take(limit + 1).read_to_end(&mut raw)?;
        if raw.len() as u64 > limit {
            return Err(DecodeError::TooLarge { limit });
        }
        Self::from_proto(&proto::Checkpoint::decode(raw.as_slice())?)
    }

    /// The checkpoint `data` holds, once its transactions are shown to be the summary's.
    fn from_checkpoint_data(data: CheckpointData) -> Result<Self, DecodeError> {
        check_contents(&data)?;
        let effects: HashMap<Digest, &TransactionEffects> =
            data.transactions.iter().map(|tx| (*tx.effects.transaction_digest(), &tx.effects)).collect();
        let packages: Vec<Vec<MovePackage>> = data
            .transactions
            .iter()
            .map(|tx| followed(&tx.output_objects, Some(&effects)))
            .collect::<Result<_, _>>()?;
        let transactions = data
            .transactions
            .into_iter()
            .zip(packages)
            .map(|(tx, packages)| Transaction {
                digest: tx.transaction.transaction.digest().to_string(),
                events: tx.events.map(|e| e.0).unwrap_or_default(),
                packages,
            })
            .collect();
        let certified = data.checkpoint_summary;
        Ok(Self {
            sequence_number: CheckpointSequence(certified.checkpoint.sequence_number),
            digest: certified.checkpoint.digest(),
            previous_digest: certified.checkpoint.previous_digest,
            timestamp_ms: certified.checkpoint.timestamp_ms,
            transactions,
            certificate: Some(Certificate { summary: certified.checkpoint, signature: certified.signature }),
        })
    }

    /// Reads the protobuf message, which must carry `sequence_number`, `digest`,
    /// `summary.previous_digest` (except at genesis), `summary.timestamp`,
    /// `transactions.digest`, `transactions.events` (their BCS, or the events as messages) and,
    /// to follow package upgrades, `objects` or `transactions.objects` with their BCS. It may
    /// carry `summary.bcs` (then checked against those fields), and with it `signature`,
    /// `contents.bcs` and each transaction's `effects.bcs` and `events.bcs`: the transactions
    /// are then checked against the contents, the packages against the effects that wrote
    /// them, and the checkpoint has its certificate.
    pub fn from_proto(message: &proto::Checkpoint) -> Result<Self, DecodeError> {
        let sequence_number = message.sequence_number.ok_or(DecodeError::Missing("sequence_number"))?;
        let digest = parse_digest("digest", message.digest.as_deref().ok_or(DecodeError::Missing("digest"))?)?;
        let previous_digest = message
            .summary
            .as_ref()
            .and_then(|s| s.previous_digest.as_deref())
            .map(|d| parse_digest("summary.previous_digest", d))
            .transpose()?;
        let timestamp = message
            .summary
            .as_ref()
            .and_then(|s| s.timestamp.as_ref())
            .ok_or(DecodeError::Missing("summary.timestamp"))?;
        let timestamp_ms = u64::try_from(timestamp.seconds)
            .ok()
            .and_then(|s| s.checked_mul(1000))
            .and_then(|ms| ms.checked_add(u64::try_from(timestamp.nanos / 1_000_000).ok()?))
            .ok_or(DecodeError::Invalid { what: "summary.timestamp", error: format!("{timestamp:?}") })?;
        let summary = match bcs_of(message.summary.as_ref().and_then(|s| s.bcs.as_ref())) {
            Some(bcs) => Some(check_summary(bcs, sequence_number, &digest, previous_digest.as_ref(), timestamp_ms)?),
            None => None,
        };
        let signature = message
            .signature
            .as_ref()
            .map(sui_sdk_types::ValidatorAggregatedSignature::try_from)
            .transpose()
            .map_err(|e| DecodeError::Invalid { what: "signature", error: e.to_string() })?;
        let checkpoint_packages = message.objects.as_ref().map(packages_of).transpose()?.unwrap_or_default();
        let tx_packages: Vec<Vec<Object>> = message
            .transactions
            .iter()
            .map(|tx| tx.objects.as_ref().map(packages_of).transpose().map(Option::unwrap_or_default))
            .collect::<Result<_, _>>()?;
        let events: Vec<TxEvents> = message.transactions.iter().map(transaction_events).collect::<Result<_, _>>()?;
        let contents = bcs_of(message.contents.as_ref().and_then(|c| c.bcs.as_ref()))
            .map(bcs::from_bytes::<CheckpointContents>)
            .transpose()
            .map_err(|e| DecodeError::Invalid { what: "contents.bcs", error: e.to_string() })?;
        let listed = match (&summary, &contents) {
            (Some(summary), Some(contents)) => check_listed(summary, contents, &message.transactions, &events)?,
            _ => None,
        };
        let effects: Option<HashMap<Digest, &TransactionEffects>> =
            listed.as_ref().map(|effects| effects.iter().map(|e| (*e.transaction_digest(), e)).collect());
        let checkpoint_packages = followed(&checkpoint_packages, effects.as_ref())?;
        let tx_packages: Vec<Vec<MovePackage>> =
            tx_packages.iter().map(|p| followed(p, effects.as_ref())).collect::<Result<_, _>>()?;
        let listed = listed.is_some();
        // A certificate vouches for the summary; only contents that match it make it vouch for
        // the transactions and events too.
        let certificate = match (summary, signature) {
            (Some(summary), Some(signature)) if listed => Some(Certificate { summary, signature }),
            _ => None,
        };
        let mut transactions = Vec::with_capacity(message.transactions.len());
        for ((tx, events), packages) in message.transactions.iter().zip(events).zip(tx_packages) {
            let digest = tx.digest.clone().ok_or(DecodeError::Missing("transactions.digest"))?;
            transactions.push(Transaction { digest, events: events.events.0, packages });
        }
        // Checkpoint-level objects are not tied to a transaction; the first one stands for them.
        if let Some(first) = transactions.first_mut() {
            first.packages.extend(checkpoint_packages);
        }
        Ok(Self {
            sequence_number: CheckpointSequence(sequence_number),
            digest,
            previous_digest,
            timestamp_ms,
            transactions,
            certificate,
        })
    }
}

/// Checks that a `.chk` file's transactions are those its summary commits to: the contents
/// hash to the summary's content digest and list each transaction and its effects, in order,
/// and each transaction's events hash to the digest its effects give.
fn check_contents(data: &CheckpointData) -> Result<(), DecodeError> {
    let invalid = |error: String| DecodeError::Invalid { what: "checkpoint contents", error };
    let (summary, contents) = (&data.checkpoint_summary.checkpoint, &data.checkpoint_contents);
    let hashed = contents.digest();
    if hashed != summary.content_digest {
        return Err(invalid(format!("they hash to {hashed}, the summary commits to {}", summary.content_digest)));
    }
    let listed = contents.transactions();
    if listed.len() != data.transactions.len() {
        return Err(invalid(format!("{} transactions, the contents list {}", data.transactions.len(), listed.len())));
    }
    for (i, (tx, listed)) in data.transactions.iter().zip(listed).enumerate() {
        let digest = tx.transaction.transaction.digest();
        if digest != *listed.transaction() || tx.effects.digest() != *listed.effects() {
            return Err(invalid(format!("transaction {i} ({digest}) or its effects are not the ones listed")));
        }
        if tx.events.as_ref().map(|events| events.digest()).as_ref() != tx.effects.events_digest() {
            return Err(invalid(format!("the events of transaction {i} ({digest}) are not the ones its effects name")));
        }
    }
    Ok(())
}

/// A transaction's events as a message carries them.
struct TxEvents {
    events: TransactionEvents,
    /// Read from their BCS (which hashes to the digest the effects name), not from messages.
    from_bcs: bool,
}

impl TxEvents {
    /// What the effects must name for these events.
    fn digest(&self) -> Option<Digest> {
        (!self.events.0.is_empty()).then(|| self.events.digest())
    }
}

/// A message's transaction events: from their BCS if sent, else from the event messages.
fn transaction_events(tx: &proto::ExecutedTransaction) -> Result<TxEvents, DecodeError> {
    let Some(events) = &tx.events else {
        return Ok(TxEvents { events: TransactionEvents(Vec::new()), from_bcs: false });
    };
    if let Some(bytes) = bcs_of(events.bcs.as_ref()) {
        let events = bcs::from_bytes(bytes)
            .map_err(|e| DecodeError::Invalid { what: "transactions.events.bcs", error: e.to_string() })?;
        return Ok(TxEvents { events, from_bcs: true });
    }
    let events = events
        .events
        .iter()
        .map(Event::try_from)
        .collect::<Result<_, _>>()
        .map_err(|e| DecodeError::Invalid { what: "transactions.events", error: e.to_string() })?;
    Ok(TxEvents { events: TransactionEvents(events), from_bcs: false })
}

/// Checks that a message's transactions are those its summary commits to, as for a `.chk` file:
/// the contents hash to the content digest and list each transaction's digest and effects, in
/// order, and the events (which must then be sent as BCS) hash to the digest the effects name.
/// Returns the effects, or `None` if that cannot be told: some transaction's effects were not
/// sent as BCS.
fn check_listed(
    summary: &CheckpointSummary,
    contents: &CheckpointContents,
    transactions: &[proto::ExecutedTransaction],
    events: &[TxEvents],
) -> Result<Option<Vec<TransactionEffects>>, DecodeError> {
    let invalid = |error: String| DecodeError::Invalid { what: "checkpoint contents", error };
    let hashed = contents.digest();
    if hashed != summary.content_digest {
        return Err(invalid(format!("they hash to {hashed}, the summary commits to {}", summary.content_digest)));
    }
    let listed = contents.transactions();
    if listed.len() != transactions.len() {
        return Err(invalid(format!("{} transactions, the contents list {}", transactions.len(), listed.len())));
    }
    let Some(effects) = transactions
        .iter()
        .map(|tx| bcs_of(tx.effects.as_ref().and_then(|e| e.bcs.as_ref())))
        .collect::<Option<Vec<_>>>()
    else {
        return Ok(None);
    };
    let mut checked = Vec::with_capacity(effects.len());
    for (i, (((tx, listed), events), effects)) in transactions.iter().zip(listed).zip(events).zip(effects).enumerate() {
        let digest = parse_digest(
            "transactions.digest",
            tx.digest.as_deref().ok_or(DecodeError::Missing("transactions.digest"))?,
        )?;
        let effects: TransactionEffects = bcs::from_bytes(effects)
            .map_err(|e| DecodeError::Invalid { what: "transactions.effects.bcs", error: e.to_string() })?;
        if digest != *listed.transaction()
            || effects.digest() != *listed.effects()
            || *effects.transaction_digest() != digest
        {
            return Err(invalid(format!("transaction {i} ({digest}) or its effects are not the ones listed")));
        }
        // Events from messages are not what the effects' digest covers: only none may be sent so.
        let unhashed = !events.from_bcs && !events.events.0.is_empty();
        if unhashed || events.digest().as_ref() != effects.events_digest() {
            return Err(invalid(format!("the events of transaction {i} ({digest}) are not the ones its effects name")));
        }
        checked.push(effects);
    }
    Ok(Some(checked))
}

/// The packages among `objects` that are followed: with the `effects` of the checkpoint's
/// transactions, those [`written_here`]; without them, all (nothing can be checked, and
/// nothing is certified).
fn followed(
    objects: &[Object],
    effects: Option<&HashMap<Digest, &TransactionEffects>>,
) -> Result<Vec<MovePackage>, DecodeError> {
    let packages = objects.iter().filter(|o| matches!(o.data(), ObjectData::Package(_)));
    let packages = match effects {
        Some(effects) => written_here(packages, effects)?,
        None => packages.collect(),
    };
    Ok(packages.into_iter().filter_map(|o| package_of(o.data())).collect())
}

/// The objects among `objects` that a transaction of this checkpoint wrote, each checked to be,
/// byte for byte, what it wrote: its ID, version and digest among the writes of the effects (by
/// transaction digest) of the transaction it names as its last. Packages decide which events
/// count as ours after an upgrade, so what vouches for the events must vouch for them too.
/// Objects naming a transaction outside the checkpoint are its inputs (such as the version of a
/// system package that an epoch change upgrades): they are left out, unchecked and unused.
fn written_here<'a>(
    objects: impl IntoIterator<Item = &'a Object>,
    effects: &HashMap<Digest, &TransactionEffects>,
) -> Result<Vec<&'a Object>, DecodeError> {
    let mut written = Vec::new();
    for object in objects {
        let (id, version, writer) = (object.object_id(), object.version(), object.previous_transaction());
        let Some(effects) = effects.get(&writer) else { continue };
        let digest = object.digest();
        if !writes(effects).any(|write| write == (id, version, digest)) {
            return Err(DecodeError::Invalid {
                what: "checkpoint objects",
                error: format!(
                    "object {id} (version {version}, digest {digest}) is not what transaction {writer} wrote"
                ),
            });
        }
        written.push(object);
    }
    Ok(written)
}

/// The objects a transaction's effects say it wrote: ID, version and digest.
fn writes(effects: &TransactionEffects) -> Box<dyn Iterator<Item = (Address, Version, Digest)> + '_> {
    match effects {
        TransactionEffects::V1(v1) => {
            Box::new(v1.created.iter().chain(&v1.mutated).chain(&v1.unwrapped).map(|written| {
                (*written.reference.object_id(), written.reference.version(), *written.reference.digest())
            }))
        }
        TransactionEffects::V2(v2) => {
            Box::new(v2.changed_objects.iter().filter_map(|change| match &change.output_state {
                ObjectOut::ObjectWrite { digest, .. } => Some((change.object_id, v2.lamport_version, *digest)),
                ObjectOut::PackageWrite { version, digest } => Some((change.object_id, *version, *digest)),
                _ => None,
            }))
        }
    }
}

/// The bytes of a `Bcs` field, if sent.
fn bcs_of(field: Option<&proto::Bcs>) -> Option<&[u8]> {
    field.and_then(|b| b.value.as_deref())
}

/// Checks a summary sent with its BCS (a full node sends it when asked): the BCS must hash to
/// the message's digest, so that the digest stands for the summary, and say the same sequence
/// number, previous digest and time as the message's fields.
fn check_summary(
    bcs: &[u8],
    sequence: u64,
    digest: &Digest,
    previous: Option<&Digest>,
    timestamp_ms: u64,
) -> Result<CheckpointSummary, DecodeError> {
    let invalid = |error: String| DecodeError::Invalid { what: "summary.bcs", error };
    let summary: CheckpointSummary = bcs::from_bytes(bcs).map_err(|e| invalid(e.to_string()))?;
    let hashed = summary.digest();
    if hashed != *digest {
        return Err(invalid(format!("the summary hashes to {hashed}, not to the checkpoint's digest {digest}")));
    }
    let (said_sequence, said_previous, said_ms) =
        (summary.sequence_number, summary.previous_digest.as_ref(), summary.timestamp_ms);
    if (said_sequence, said_previous, said_ms) != (sequence, previous, timestamp_ms) {
        return Err(invalid(format!(
            "the summary says checkpoint {said_sequence}, previous digest {said_previous:?}, time {said_ms} ms; the \
             message says {sequence}, {previous:?}, {timestamp_ms} ms"
        )));
    }
    Ok(summary)
}

fn parse_digest(what: &'static str, text: &str) -> Result<Digest, DecodeError> {
    text.parse().map_err(|e: sui_sdk_types::DigestParseError| DecodeError::Invalid { what, error: e.to_string() })
}

fn package_of(data: &ObjectData) -> Option<MovePackage> {
    match data {
        ObjectData::Package(package) => Some(package.clone()),
        ObjectData::Struct(_) => None,
    }
}

/// The package objects among `set`, read from their BCS (the read mask asks for nothing else).
fn packages_of(set: &proto::ObjectSet) -> Result<Vec<Object>, DecodeError> {
    let mut packages = Vec::new();
    for object in &set.objects {
        let Some(bytes) = object.bcs.as_ref().and_then(|b| b.value.as_deref()) else { continue };
        // An object's BCS starts with its data's variant: 1 is a package. Others need no decoding.
        if bytes.first() != Some(&PACKAGE_VARIANT) {
            continue;
        }
        packages.push(bcs::from_bytes(bytes)?);
    }
    Ok(packages)
}

/// The BCS variant index of `ObjectData::Package`.
const PACKAGE_VARIANT: u8 = 1;

/// The address of a package, for display and configuration: `0x` and 64 hex digits.
pub fn parse_address(text: &str) -> Result<Address, String> {
    text.parse::<Address>().map_err(|e| format!("{text:?} is not a Sui address: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Object digests and the writes read from effects, on real chain data: each of checkpoint
    /// 1137's 1,200-odd output objects is found among its transaction's writes, and a changed
    /// one is not.
    #[test]
    fn real_objects_are_what_their_transactions_wrote() {
        let data: CheckpointData = bcs::from_bytes(&crate::testing::checkpoint_1137()).unwrap();
        let effects: HashMap<Digest, &TransactionEffects> =
            data.transactions.iter().map(|tx| (*tx.effects.transaction_digest(), &tx.effects)).collect();
        let objects: Vec<&Object> = data.transactions.iter().flat_map(|tx| &tx.output_objects).collect();
        assert!(objects.len() > 1000, "{}", objects.len());
        assert_eq!(written_here(objects.iter().copied(), &effects).unwrap(), objects);

        let real = objects[0];
        let changed = Object::new(real.data().clone(), *real.owner(), real.previous_transaction(), 1);
        let error = written_here([&changed], &effects).unwrap_err().to_string();
        assert!(error.contains(&format!("object {} (version {}", real.object_id(), real.version())), "{error}");
        // An input of the checkpoint (written before it) is left out, neither checked nor used.
        let input = Object::new(real.data().clone(), *real.owner(), Digest::ZERO, real.storage_rebate());
        assert!(written_here([&input], &effects).unwrap().is_empty());
    }
}
