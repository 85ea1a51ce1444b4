/// What a storage node tells the network about itself, and the capability its operator holds.
/// The operator is whoever holds the `NodeCap`: it updates the node, collects commission and
/// reports epoch syncs, and handing it over hands over all of that (Walrus splits commission
/// and governance rights between the cap and an address, which surprises operators).
module walrus::storage_node;

use std::string::String;
use sui::bls12381::{Self, UncompressedG1};
use sui::group_ops::Element;

const MAX_NODE_NAME_LENGTH: u64 = 100;
/// A DNS name (253), a colon and a port (5).
const MAX_NETWORK_ADDRESS_LENGTH: u64 = 259;
/// A compressed secp256r1 key.
const NETWORK_PUBLIC_KEY_LENGTH: u64 = 33;
const BLS_PUBLIC_KEY_LENGTH: u64 = 48;

#[error]
const EInvalidNameLength: vector<u8> = b"The node name must be 1 to 100 bytes";
#[error]
const EInvalidNetworkAddressLength: vector<u8> = b"The network address must be 1 to 259 bytes";
#[error]
const EInvalidNetworkPublicKey: vector<u8> = b"The network public key must be 33 bytes (compressed secp256r1)";
#[error]
const EInvalidPublicKey: vector<u8> = b"The BLS public key must be 48 bytes (compressed G1)";

public struct NodeInfo has store {
    name: String,
    node_id: ID,
    network_address: String,
    /// BLS12-381 G1, kept uncompressed so committee keys add up cheaply.
    public_key: Element<UncompressedG1>,
    /// The same key as registered (48 bytes compressed), for events: followers of the chain
    /// learn committee keys from them, and group arithmetic cannot give the bytes back.
    public_key_bytes: vector<u8>,
    network_public_key: vector<u8>,
}

public struct NodeCap has key, store {
    id: UID,
    node_id: ID,
    /// The last epoch for which this node reported holding its shards.
    last_epoch_sync_done: u32,
}

public(package) fun new(
    name: String,
    node_id: ID,
    network_address: String,
    public_key: vector<u8>,
    network_public_key: vector<u8>,
): NodeInfo {
    let mut info = NodeInfo {
        name: b"".to_string(),
        node_id,
        network_address: b"".to_string(),
        public_key: bls12381::g1_to_uncompressed_g1(&bls12381::g1_identity()),
        public_key_bytes: vector[],
        network_public_key: vector[],
    };
    info.set_name(name);
    info.set_network_address(network_address);
    info.set_public_key(public_key);
    info.set_network_public_key(network_public_key);
    info
}

public(package) fun new_cap(node_id: ID, ctx: &mut TxContext): NodeCap {
    NodeCap { id: object::new(ctx), node_id, last_epoch_sync_done: 0 }
}

public fun name(self: &NodeInfo): String { self.name }

public fun node_id(self: &NodeInfo): ID { self.node_id }

public fun network_address(self: &NodeInfo): String { self.network_address }

public fun public_key(self: &NodeInfo): &Element<UncompressedG1> { &self.public_key }

public fun public_key_bytes(self: &NodeInfo): vector<u8> { self.public_key_bytes }

public fun network_public_key(self: &NodeInfo): vector<u8> { self.network_public_key }

public fun cap_node_id(self: &NodeCap): ID { self.node_id }

public fun last_epoch_sync_done(self: &NodeCap): u32 { self.last_epoch_sync_done }

public(package) fun set_name(self: &mut NodeInfo, name: String) {
    assert!(!name.is_empty() && name.length() <= MAX_NODE_NAME_LENGTH, EInvalidNameLength);
    self.name = name;
}

public(package) fun set_network_address(self: &mut NodeInfo, network_address: String) {
    let length = network_address.length();
    assert!(length > 0 && length <= MAX_NETWORK_ADDRESS_LENGTH, EInvalidNetworkAddressLength);
    self.network_address = network_address;
}

/// Sets the BLS key (48 bytes compressed; the point is validated by the framework).
public(package) fun set_public_key(self: &mut NodeInfo, public_key: vector<u8>) {
    assert!(public_key.length() == BLS_PUBLIC_KEY_LENGTH, EInvalidPublicKey);
    self.public_key = bls12381::g1_to_uncompressed_g1(&bls12381::g1_from_bytes(&public_key));
    self.public_key_bytes = public_key;
}

public(package) fun set_network_public_key(self: &mut NodeInfo, network_public_key: vector<u8>) {
    assert!(network_public_key.length() == NETWORK_PUBLIC_KEY_LENGTH, EInvalidNetworkPublicKey);
    self.network_public_key = network_public_key;
}

public(package) fun set_last_epoch_sync_done(self: &mut NodeCap, epoch: u32) {
    self.last_epoch_sync_done = epoch;
}
