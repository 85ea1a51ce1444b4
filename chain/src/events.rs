//! The package's events, decoded from their BCS into typed values. Field order and types
//! mirror the Move structs exactly (a test checks them against the harness's layout of the
//! compiled package), and the Walrus events keep Walrus's layouts, so one decoder reads both.

use std::collections::BTreeSet;
use std::fmt;

use base64::Engine;
use serde::{Deserialize, Serialize, Serializer};
use sui_sdk_types::{Address, Event, MovePackage};

/// The module every event type is defined in.
pub const EVENTS_MODULE: &str = "events";

/// A blob ID: a Move `u256`, 32 bytes little-endian, shown as URL-safe base64 without padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
pub struct BlobId(pub [u8; 32]);

impl fmt::Display for BlobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.0))
    }
}

/// Base64url in JSON; the 32 bytes in BCS, as Move has them.
impl Serialize for BlobId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(self)
        } else {
            self.0.serialize(serializer)
        }
    }
}

/// A Move `u256` that is not a blob ID (a deny list's Merkle root): 32 bytes little-endian,
/// shown as `0x` and 64 hex digits of those bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
pub struct U256(pub [u8; 32]);

impl Serialize for U256 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(&format_args!("0x{}", hex::encode(self.0)))
        } else {
            self.0.serialize(serializer)
        }
    }
}

macro_rules! events {
    ($( $(#[$doc:meta])* $name:ident { $($field:ident : $ty:ty),* $(,)? } )*) => {
        $(
            $(#[$doc])*
            #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
            pub struct $name { $(pub $field: $ty),* }
        )*

        /// Every event type the indexer understands, by its Move name.
        #[derive(Clone, Debug, PartialEq, Eq, Serialize)]
        #[serde(untagged)]
        pub enum WalrusEvent { $($name($name)),* }

        impl WalrusEvent {
            /// Decodes the BCS of the event named `name`; `None` for a name we do not know.
            pub fn decode(name: &str, bcs_bytes: &[u8]) -> Option<Result<Self, bcs::Error>> {
                match name {
                    $(stringify!($name) => Some(bcs::from_bytes::<$name>(bcs_bytes).map(Self::$name)),)*
                    _ => None,
                }
            }

            pub fn name(&self) -> &'static str {
                match self { $(Self::$name(_) => stringify!($name)),* }
            }

            /// The names of all known events, for documentation and filters.
            pub const NAMES: &'static [&'static str] = &[$(stringify!($name)),*];
        }

        #[cfg(test)]
        pub(crate) fn trace_all(tracer: &mut serde_reflection::Tracer, samples: &serde_reflection::Samples) {
            $(tracer.trace_type::<$name>(samples).expect(stringify!($name));)*
        }
    };
}

events! {
    // Walrus's layouts.
    BlobRegistered { epoch: u32, blob_id: BlobId, size: u64, encoding_type: u8, end_epoch: u32, deletable: bool, object_id: Address }
    BlobCertified { epoch: u32, blob_id: BlobId, end_epoch: u32, deletable: bool, object_id: Address, is_extension: bool }
    BlobDeleted { epoch: u32, blob_id: BlobId, end_epoch: u32, object_id: Address, was_certified: bool }
    InvalidBlobID { epoch: u32, blob_id: BlobId }
    EpochChangeStart { epoch: u32 }
    EpochChangeDone { epoch: u32 }
    ShardsReceived { epoch: u32, shards: Vec<u16> }
    EpochParametersSelected { next_epoch: u32 }
    // Walrus's, which our package does not emit (governance, deny lists, dead code).
    ShardRecoveryStart { epoch: u32, shards: Vec<u16> }
    ContractUpgraded { epoch: u32, package_id: Address, version: u64 }
    RegisterDenyListUpdate { epoch: u32, root: U256, sequence_number: u64, node_id: Address }
    DenyListUpdate { epoch: u32, root: U256, sequence_number: u64, node_id: Address }
    DenyListBlobDeleted { epoch: u32, blob_id: BlobId }
    ContractUpgradeProposed { epoch: u32, package_digest: Vec<u8> }
    ContractUpgradeQuorumReached { epoch: u32, package_digest: Vec<u8> }
    ProtocolVersionUpdated { epoch: u32, start_epoch: u32, protocol_version: u64 }
    PricesUpdated { epoch: u32, storage_price: u64, write_price: u64 }
    StoragePoolCreated {
        epoch: u32, storage_pool_id: Address, reserved_encoded_capacity_bytes: u64, start_epoch: u32, end_epoch: u32,
    }
    PooledBlobRegistered {
        epoch: u32, blob_id: BlobId, unencoded_size: u64, encoding_type: u8, deletable: bool, object_id: Address,
        storage_pool_id: Address,
    }
    PooledBlobCertified { epoch: u32, blob_id: BlobId, deletable: bool, object_id: Address, storage_pool_id: Address }
    PooledBlobDeleted { epoch: u32, blob_id: BlobId, object_id: Address, was_certified: bool, storage_pool_id: Address }
    StoragePoolExtended { epoch: u32, storage_pool_id: Address, new_end_epoch: u32 }
    // Ours.
    CapacityUpdated { epoch: u32, total_capacity_size: u64, used_capacity_size: u64 }
    StorageReserved { epoch: u32, storage_id: Address, start_epoch: u32, end_epoch: u32, storage_size: u64, cost: u64 }
    StorageSplit {
        storage_id: Address, start_epoch: u32, end_epoch: u32, storage_size: u64,
        new_storage_id: Address, new_start_epoch: u32, new_end_epoch: u32, new_storage_size: u64,
    }
    StorageFused { storage_id: Address, absorbed_id: Address, start_epoch: u32, end_epoch: u32, storage_size: u64 }
    StorageReleased { epoch: u32, storage_id: Address, storage_size: u64, released_from_epoch: u32, end_epoch: u32 }
    BlobBurned { blob_id: BlobId, object_id: Address, end_epoch: u32, was_certified: bool }
    BlobAttributeSet { blob_id: BlobId, object_id: Address, key: String, value: String }
    BlobAttributeRemoved { blob_id: BlobId, object_id: Address, key: String }
    NodeRegistered {
        epoch: u32, node_id: Address, name: String, network_address: String, public_key: Vec<u8>,
        network_public_key: Vec<u8>, commission_rate: u16,
    }
    NodeUpdated {
        epoch: u32, node_id: Address, name: String, network_address: String, public_key: Vec<u8>,
        network_public_key: Vec<u8>,
        storage_price_vote: u64, write_price_vote: u64, node_capacity_vote: u64, commission_rate: u16,
    }
    NodeDeregistered { epoch: u32, node_id: Address }
    StakeDeposited { epoch: u32, node_id: Address, staked_wal_id: Address, amount: u64, activation_epoch: u32 }
    WithdrawalRequested { epoch: u32, node_id: Address, staked_wal_id: Address, amount: u64, withdraw_epoch: u32 }
    StakeWithdrawn { epoch: u32, node_id: Address, staked_wal_id: Address, principal: u64, amount: u64 }
    CommissionCollected { epoch: u32, node_id: Address, amount: u64 }
    CommitteeSelected { epoch: u32, node_ids: Vec<Address>, shards: Vec<Vec<u16>> }
    RewardsDistributed { epoch: u32, node_id: Address, reward: u64, commission: u64, pool_wal: u64, pool_shares: u64 }
    EpochChangeSyncTimedOut { epoch: u32, weight: u16 }
}

impl WalrusEvent {
    /// The blob ID the event is about, if any (for lookups by blob).
    pub fn blob_id(&self) -> Option<BlobId> {
        match self {
            Self::BlobRegistered(e) => Some(e.blob_id),
            Self::BlobCertified(e) => Some(e.blob_id),
            Self::BlobDeleted(e) => Some(e.blob_id),
            Self::InvalidBlobID(e) => Some(e.blob_id),
            Self::BlobBurned(e) => Some(e.blob_id),
            Self::BlobAttributeSet(e) => Some(e.blob_id),
            Self::BlobAttributeRemoved(e) => Some(e.blob_id),
            Self::PooledBlobRegistered(e) => Some(e.blob_id),
            Self::PooledBlobCertified(e) => Some(e.blob_id),
            Self::PooledBlobDeleted(e) => Some(e.blob_id),
            Self::DenyListBlobDeleted(e) => Some(e.blob_id),
            _ => None,
        }
    }
}

/// Which event types are ours: those defined in module `events` of the configured package or
/// of any later version of it. An upgrade that adds event types defines them at the upgraded
/// package's address, so the set grows as upgrades are seen (their type-origin tables name the
/// original package).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PackageOrigins {
    addresses: BTreeSet<Address>,
}

impl PackageOrigins {
    pub fn new(package: Address) -> Self {
        Self { addresses: BTreeSet::from([package]) }
    }

    pub fn from_addresses(addresses: impl IntoIterator<Item = Address>) -> Self {
        Self { addresses: addresses.into_iter().collect() }
    }

    pub fn addresses(&self) -> impl Iterator<Item = &Address> {
        self.addresses.iter()
    }

    pub fn is_ours(&self, event: &Event) -> bool {
        event.type_.module().as_str() == EVENTS_MODULE && self.addresses.contains(event.type_.address())
    }

    /// Learns the origins of a newly published package version if it belongs to our package;
    /// returns the addresses that were new.
    pub fn learn(&mut self, package: &MovePackage) -> Vec<Address> {
        let ours = package.type_origin_table.iter().any(|origin| self.addresses.contains(&origin.package));
        if !ours {
            return Vec::new();
        }
        let mut new = Vec::new();
        for origin in &package.type_origin_table {
            if self.addresses.insert(origin.package) {
                new.push(origin.package);
            }
        }
        new
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;
    use serde_reflection::{ContainerFormat, Format, Named, Samples, Tracer, TracerConfig};

    use super::*;

    /// The Move type a traced Rust field stands for.
    fn move_type(format: &Format) -> String {
        match format {
            Format::U8 => "u8".into(),
            Format::U16 => "u16".into(),
            Format::U32 => "u32".into(),
            Format::U64 => "u64".into(),
            Format::Bool => "bool".into(),
            Format::Str => "0x1::string::String".into(),
            Format::Seq(inner) => format!("vector<{}>", move_type(inner)),
            Format::TypeName(name) if name == "BlobId" || name == "U256" => "u256".into(),
            Format::TypeName(name) if name == "Address" => "0x2::object::ID".into(),
            Format::TupleArray { content, size: 32 } if **content == Format::U8 => "0x2::object::ID".into(),
            other => panic!("no Move type for {other:?}"),
        }
    }

    /// Walrus's event layouts (a copy, see tests/vectors/walrus/README.md): name -> [[field, type]].
    fn walrus_layouts() -> serde_json::Map<String, Value> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/vectors/walrus/walrus-event-layouts.json");
        let layouts: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        layouts.as_object().unwrap().clone()
    }

    fn fields_of(fields: &Value) -> Vec<(String, String)> {
        fields
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f[0].as_str().unwrap().to_owned(), f[1].as_str().unwrap().to_owned()))
            .collect()
    }

    /// Every event the indexer decodes has exactly the fields, order and types of the event the
    /// compiled Move package defines (`node scripts/move.mjs check-layouts` keeps that file
    /// in step with the bytecode), or, for the events only Walrus emits, of Walrus's.
    #[test]
    fn event_layouts_match_the_compiled_move_package() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../move/walrus/layout.json");
        let layout: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let walrus = walrus_layouts();
        let mut tracer = Tracer::new(TracerConfig::default());
        trace_all(&mut tracer, &Samples::new());
        let registry = tracer.registry().unwrap();
        for name in WalrusEvent::NAMES {
            let Some(ContainerFormat::Struct(fields)) = registry.get(*name) else { panic!("{name} was not traced") };
            let ours: Vec<(String, String)> =
                fields.iter().map(|Named { name, value }| (name.clone(), move_type(value))).collect();
            let theirs = match (&layout[format!("events::{name}")]["fields"], walrus.get(*name)) {
                (Value::Array(_), _) => fields_of(&layout[format!("events::{name}")]["fields"]),
                (_, Some(fields)) => fields_of(fields),
                _ => panic!("neither the Move package nor Walrus defines an event {name}"),
            };
            assert_eq!(ours, theirs, "{name}");
        }
        // And the Move package emits nothing the indexer cannot decode.
        let defined = layout.as_object().unwrap().keys().filter_map(|k| k.strip_prefix("events::"));
        for name in defined {
            assert!(WalrusEvent::NAMES.contains(&name), "the indexer does not decode events::{name}");
        }
    }

    /// BCS bytes of a value of Move type `ty`, drawn from `next` (a deterministic generator).
    fn sample(ty: &str, next: &mut impl FnMut() -> u64, out: &mut Vec<u8>) {
        let mut fixed = |n: usize, out: &mut Vec<u8>| (0..n).for_each(|_| out.push(next() as u8));
        match ty {
            "u8" => fixed(1, out),
            "u16" => fixed(2, out),
            "u32" => fixed(4, out),
            "u64" => fixed(8, out),
            "u256" | "0x2::object::ID" => fixed(32, out),
            "bool" => out.push((next() % 2) as u8),
            _ => {
                let inner = ty
                    .strip_prefix("vector<")
                    .and_then(|t| t.strip_suffix('>'))
                    .unwrap_or_else(|| panic!("no sample for {ty}"));
                let len = next() % 5;
                out.push(len as u8); // ULEB128 of a length below 128
                for _ in 0..len {
                    sample(inner, next, out);
                }
            }
        }
    }

    /// Every event type of Walrus's module `events` decodes from bytes laid out as its file
    /// says, and encodes back to the same bytes (all consumed, fields in order); a sample cut
    /// short is an error, never a value.
    #[test]
    fn every_walrus_event_decodes_from_its_layout() {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let layouts = walrus_layouts();
        assert_eq!(layouts.len(), 22, "Walrus defines 22 event types");
        for (name, fields) in &layouts {
            for _ in 0..8 {
                let mut bytes = Vec::new();
                for (_, ty) in fields_of(fields) {
                    sample(&ty, &mut next, &mut bytes);
                }
                let event = WalrusEvent::decode(name, &bytes)
                    .unwrap_or_else(|| panic!("the indexer does not know Walrus's {name}"))
                    .unwrap_or_else(|e| panic!("{name} from {bytes:?}: {e}"));
                assert_eq!(event.name(), name);
                assert_eq!(bcs::to_bytes(&event).unwrap(), bytes, "{name} round trip");
                assert!(
                    matches!(WalrusEvent::decode(name, &bytes[..bytes.len() - 1]), Some(Err(_))),
                    "{name} cut short"
                );
            }
        }
    }
}
