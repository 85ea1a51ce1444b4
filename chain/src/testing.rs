//! Synthetic checkpoints for tests of every follower (the indexer's, the node's): protobuf
//! `Checkpoint` messages as a full node or a checkpoint store serves them, linked by their
//! digests, carrying events with the BCS the Move package emits.

use std::path::Path;

use prost::Message;
use serde::Serialize;
use sui_rpc::proto::sui::rpc::v2 as proto;
use sui_sdk_types::{Address, Digest};

use crate::events::{BlobId, BlobRegistered};

pub const WAL: u64 = 1_000_000_000;

pub fn address(n: u8) -> Address {
    let mut bytes = [0u8; 32];
    bytes[31] = n;
    bytes[0] = 0xAB;
    Address::new(bytes)
}

pub fn blob_id(n: u8) -> BlobId {
    BlobId([n; 32])
}

/// The package the tests index.
pub fn package() -> Address {
    address(0xEE)
}

/// An event of type `<package>::<module>::<name>` with the BCS of `value`.
pub fn event_of(package: Address, module: &str, name: &str, value: &impl Serialize) -> proto::Event {
    raw_event(package, module, name, bcs::to_bytes(value).unwrap())
}

pub fn raw_event(package: Address, module: &str, name: &str, contents: Vec<u8>) -> proto::Event {
    let mut event = proto::Event::default();
    event.package_id = Some(package.to_string());
    event.module = Some(module.to_owned());
    event.sender = Some(address(1).to_string());
    event.event_type = Some(format!("{package}::{module}::{name}"));
    event.contents = Some(proto::Bcs::from(contents));
    event
}

/// One of our events (module `events` of the test package), named after its Rust type.
pub fn ours<T: Serialize>(value: &T) -> proto::Event {
    let name = std::any::type_name::<T>().rsplit("::").next().unwrap();
    event_of(package(), "events", name, value)
}

/// The digest the builder gives checkpoint `sequence`.
pub fn checkpoint_digest(sequence: u64) -> Digest {
    let mut bytes = [0xC0u8; 32];
    bytes[..8].copy_from_slice(&sequence.to_le_bytes());
    Digest::new(bytes)
}

/// A checkpoint whose transactions emit the given events (as messages and as BCS); its
/// timestamp is `1000 * sequence`, its digest [`checkpoint_digest`] and its previous digest that
/// of `sequence - 1`.
pub fn checkpoint(sequence: u64, transactions: Vec<Vec<proto::Event>>) -> proto::Checkpoint {
    let mut summary = proto::CheckpointSummary::default();
    summary.timestamp = Some(prost_types_timestamp(sequence * 1000));
    summary.previous_digest = sequence.checked_sub(1).map(|previous| checkpoint_digest(previous).to_string());
    let mut checkpoint = proto::Checkpoint::default();
    checkpoint.sequence_number = Some(sequence);
    checkpoint.digest = Some(checkpoint_digest(sequence).to_string());
    checkpoint.summary = Some(summary);
    checkpoint.transactions = transactions
        .into_iter()
        .enumerate()
        .map(|(i, events)| {
            let mut tx = proto::ExecutedTransaction::default();
            tx.digest = Some(format!("tx{sequence}x{i}"));
            let mut tx_events = proto::TransactionEvents::default();
            // Also as BCS, which is what a full node is asked for (when the events convert).
            let typed: Result<Vec<_>, _> = events.iter().map(sui_sdk_types::Event::try_from).collect();
            tx_events.bcs = typed.ok().map(|typed| proto::Bcs::from(bcs::to_bytes(&typed).unwrap()));
            tx_events.events = events;
            tx.events = Some(tx_events);
            tx
        })
        .collect();
    checkpoint
}

fn prost_types_timestamp(ms: u64) -> ::prost_types::Timestamp {
    ::prost_types::Timestamp { seconds: (ms / 1000) as i64, nanos: ((ms % 1000) * 1_000_000) as i32 }
}

/// Writes `<sequence>.binpb.zst`, as a checkpoint store names it.
pub fn write_binpb_zst(dir: &Path, checkpoint: &proto::Checkpoint) {
    let bytes = zstd::encode_all(checkpoint.encode_to_vec().as_slice(), 1).unwrap();
    let name = format!("{}.binpb.zst", checkpoint.sequence_number.unwrap());
    // Written under a temporary name and renamed, as a store mirror would.
    let tmp = dir.join(format!("{name}.tmp"));
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(tmp, dir.join(name)).unwrap();
}

/// A `BlobRegistered` in epoch 1 of object `object` for blob `blob`.
pub fn registered(object: u8, blob: u8, size: u64, deletable: bool, end_epoch: u32) -> BlobRegistered {
    BlobRegistered {
        epoch: 1,
        blob_id: blob_id(blob),
        size,
        encoding_type: 1,
        end_epoch,
        deletable,
        object_id: address(object),
    }
}

/// Adds to `checkpoint` the package object of an upgrade of [`package`] published at `upgraded`:
/// its type-origin table keeps `BlobRegistered` at the original package and defines `new_event`
/// (in module `events`) at `upgraded`, as Sui records an upgrade that adds an event type.
pub fn publish_upgrade(checkpoint: &mut proto::Checkpoint, upgraded: Address, new_event: &'static str) {
    use sui_sdk_types::{Identifier, MovePackage, Object, ObjectData, Owner, TypeOrigin};

    let origin = |name: &'static str, package| TypeOrigin {
        module_name: Identifier::from_static("events"),
        struct_name: Identifier::from_static(name),
        package,
    };
    let upgrade = MovePackage {
        id: upgraded,
        version: 2,
        modules: Default::default(),
        type_origin_table: vec![origin("BlobRegistered", package()), origin(new_event, upgraded)],
        linkage_table: Default::default(),
    };
    let object = Object::new(ObjectData::Package(upgrade), Owner::Immutable, Digest::ZERO, 0);
    let mut message = proto::Object::default();
    message.bcs = Some(proto::Bcs::from(bcs::to_bytes(&object).unwrap()));
    checkpoint.objects.get_or_insert_with(Default::default).objects.push(message);
}

/// The committee in the JSON that `validators::committee_from_json` reads.
pub fn committee_to_json(committee: &sui_sdk_types::ValidatorCommittee) -> String {
    serde_json::to_string_pretty(&proto::ValidatorCommittee::from(committee.clone())).unwrap()
}

/// A validator committee of `members` equal-stake validators with keys of their own, which
/// certifies checkpoints as Sui's validators do.
pub struct TestValidators {
    epoch: u64,
    keys: Vec<sui_crypto::bls12381::Bls12381PrivateKey>,
}

impl TestValidators {
    /// Validators of `epoch`; a different `seed` gives different keys.
    pub fn new(epoch: u64, seed: u8, members: u8) -> Self {
        let keys = (1..=members)
            .map(|i| {
                let mut secret = [0u8; 32];
                secret[30] = seed;
                secret[31] = i;
                sui_crypto::bls12381::Bls12381PrivateKey::new(secret).unwrap()
            })
            .collect();
        Self { epoch, keys }
    }

    pub fn committee(&self) -> sui_sdk_types::ValidatorCommittee {
        let members = self
            .keys
            .iter()
            .map(|key| sui_sdk_types::ValidatorCommitteeMember { public_key: key.public_key(), stake: 2500 })
            .collect();
        sui_sdk_types::ValidatorCommittee { epoch: self.epoch, members }
    }

    /// Makes `message` a checkpoint of this epoch that follows `previous`, signed by the
    /// first `signers` validators (a quorum needs three in four), and the last of its epoch if
    /// `next` is given: with real transaction digests, effects naming the events, and contents
    /// listing both. Returns its digest, which the next checkpoint names.
    pub fn certify(
        &self,
        message: &mut proto::Checkpoint,
        previous: Option<Digest>,
        signers: usize,
        next: Option<&TestValidators>,
    ) -> Digest {
        use sui_crypto::bls12381::ValidatorCommitteeSignatureAggregator;

        let timestamp = *message.summary.as_ref().and_then(|s| s.timestamp.as_ref()).unwrap();
        let contents = list_transactions(message, self.epoch);
        let summary = sui_sdk_types::CheckpointSummary {
            epoch: self.epoch,
            sequence_number: message.sequence_number.unwrap(),
            network_total_transactions: 0,
            content_digest: contents.digest(),
            previous_digest: previous,
            epoch_rolling_gas_cost_summary: Default::default(),
            timestamp_ms: timestamp.seconds as u64 * 1000 + timestamp.nanos as u64 / 1_000_000,
            checkpoint_commitments: Vec::new(),
            end_of_epoch_data: next.map(|next| sui_sdk_types::EndOfEpochData {
                next_epoch_committee: next.committee().members,
                next_epoch_protocol_version: 1,
                epoch_commitments: Vec::new(),
            }),
            version_specific_data: Vec::new(),
        };
        // The first members are a committee of their own, with the same bitmap positions: so the
        // aggregator, which refuses to finish below a quorum, also signs for too few of them.
        let mut signing = self.committee();
        signing.members.truncate(signers);
        let mut aggregator = ValidatorCommitteeSignatureAggregator::new_checkpoint_summary(signing, &summary).unwrap();
        for key in &self.keys[..signers] {
            aggregator.add_signature(key.sign_checkpoint_summary(&summary)).unwrap();
        }
        let signature = aggregator.finish().unwrap();
        let digest = summary.digest();
        let fields = message.summary.get_or_insert_with(Default::default);
        fields.previous_digest = previous.map(|d| d.to_string());
        fields.bcs = Some(proto::Bcs::from(bcs::to_bytes(&summary).unwrap()));
        message.digest = Some(digest.to_string());
        message.signature = Some(signature.into());
        message.contents.get_or_insert_with(Default::default).bcs =
            Some(proto::Bcs::from(bcs::to_bytes(&contents).unwrap()));
        digest
    }
}

/// Gives each transaction of `message` a digest and effects that name its events, and returns
/// the contents that list them. The checkpoint's package objects (see [`publish_upgrade`]) are
/// the first transaction's: they name it as their writer, and its effects list them.
fn list_transactions(message: &mut proto::Checkpoint, epoch: u64) -> sui_sdk_types::CheckpointContents {
    let mut listed = Vec::new();
    for (i, tx) in message.transactions.iter_mut().enumerate() {
        let digest = sui_sdk_types::hash::Hasher::digest(tx.digest.as_deref().unwrap());
        let changed_objects = match (i, message.objects.as_mut()) {
            (0, Some(objects)) => write_packages(objects, digest),
            _ => Vec::new(),
        };
        let events = tx.events.as_ref().and_then(|e| e.bcs.as_ref()).and_then(|b| b.value.as_deref());
        let events: Vec<sui_sdk_types::Event> = events.map(|bytes| bcs::from_bytes(bytes).unwrap()).unwrap_or_default();
        let effects = sui_sdk_types::TransactionEffects::V2(Box::new(sui_sdk_types::TransactionEffectsV2 {
            status: sui_sdk_types::ExecutionStatus::Success,
            epoch,
            gas_used: Default::default(),
            transaction_digest: digest,
            gas_object_index: None,
            events_digest: (!events.is_empty()).then(|| sui_sdk_types::TransactionEvents(events).digest()),
            dependencies: Vec::new(),
            lamport_version: 1,
            changed_objects,
            unchanged_consensus_objects: Vec::new(),
            auxiliary_data_digest: None,
        }));
        listed.push(sui_sdk_types::CheckpointTransactionInfo::new(digest, effects.digest(), Vec::new()));
        tx.digest = Some(digest.to_string());
        tx.effects.get_or_insert_with(Default::default).bcs = Some(proto::Bcs::from(bcs::to_bytes(&effects).unwrap()));
    }
    sui_sdk_types::CheckpointContents::new_v1(listed)
}

/// Makes the package objects among `objects` written by transaction `writer`; returns the
/// changes its effects list for them.
fn write_packages(objects: &mut proto::ObjectSet, writer: Digest) -> Vec<sui_sdk_types::ChangedObject> {
    use sui_sdk_types::{ChangedObject, IdOperation, Object, ObjectData, ObjectIn, ObjectOut};

    let mut changes = Vec::new();
    for message in &mut objects.objects {
        let object: Object = bcs::from_bytes(message.bcs.as_ref().unwrap().value.as_deref().unwrap()).unwrap();
        if !matches!(object.data(), ObjectData::Package(_)) {
            continue;
        }
        let object = Object::new(object.data().clone(), *object.owner(), writer, object.storage_rebate());
        changes.push(ChangedObject {
            object_id: object.object_id(),
            input_state: ObjectIn::NotExist,
            output_state: ObjectOut::PackageWrite { version: object.version(), digest: object.digest() },
            id_operation: IdOperation::Created,
        });
        message.bcs = Some(proto::Bcs::from(bcs::to_bytes(&object).unwrap()));
    }
    changes
}

/// A file of sui-sdk-types 0.4.0, which ships real chain data for its own tests, read where
/// cargo unpacked the crate.
pub fn sui_sdk_types_fixture(path: &str) -> Vec<u8> {
    let home = std::env::var("CARGO_HOME").map(std::path::PathBuf::from).unwrap_or_else(|_| {
        std::path::PathBuf::from(std::env::var("HOME").expect("HOME or CARGO_HOME")).join(".cargo")
    });
    let registry = home.join("registry/src");
    for index in std::fs::read_dir(&registry).expect("the cargo registry") {
        let file = index.unwrap().path().join("sui-sdk-types-0.4.0").join(path);
        if file.exists() {
            return std::fs::read(file).unwrap();
        }
    }
    panic!("sui-sdk-types 0.4.0's {path} not found under {}", registry.display());
}

/// Checkpoint 1137 of Mysten's OCS bring-up network, as sui-sdk-types ships it: the bare BCS
/// of `CheckpointData` (a `.chk` file without its encoding byte).
pub fn checkpoint_1137() -> Vec<u8> {
    sui_sdk_types_fixture("tests/fixtures/ocs/1137.chk")
}
