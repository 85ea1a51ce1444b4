/// Key/value attributes of a blob (content type, file name, ...), as strings. A blob, owned
/// or pooled, holds at most one `Metadata` value, in a dynamic field named `"metadata"` on
/// its object, as in Walrus; the functions on a `UID` below keep that field for both kinds
/// and announce every attribute change.
module walrus::metadata;

use std::string::String;
use sui::dynamic_field;
use sui::vec_map::{Self, VecMap};
use walrus::events;

#[error]
const EDuplicateMetadata: vector<u8> = b"The blob already has metadata";
#[error]
const EMissingMetadata: vector<u8> = b"The blob has no metadata";

/// Name of the dynamic field that holds a blob's `Metadata`.
const METADATA_KEY: vector<u8> = b"metadata";

public struct Metadata has drop, store {
    metadata: VecMap<String, String>,
}

public fun new(): Metadata {
    Metadata { metadata: vec_map::empty() }
}

/// Sets `key` to `value`, replacing an earlier value.
public fun insert_or_update(self: &mut Metadata, key: String, value: String) {
    if (self.metadata.contains(&key)) {
        self.metadata.remove(&key);
    };
    self.metadata.insert(key, value);
}

/// Removes `key` and returns it with its value; aborts if `key` is absent.
public fun remove(self: &mut Metadata, key: &String): (String, String) {
    self.metadata.remove(key)
}

/// Removes `key` if present and returns its value.
public fun remove_if_exists(self: &mut Metadata, key: &String): Option<String> {
    if (self.metadata.contains(key)) {
        let (_, value) = self.metadata.remove(key);
        option::some(value)
    } else {
        option::none()
    }
}

public fun get(self: &Metadata, key: &String): Option<String> {
    self.metadata.try_get(key)
}

public fun keys(self: &Metadata): vector<String> {
    self.metadata.keys()
}

public fun length(self: &Metadata): u64 {
    self.metadata.length()
}

public(package) fun into_keys_values(self: Metadata): (vector<String>, vector<String>) {
    let Metadata { metadata } = self;
    metadata.into_keys_values()
}

// === Metadata attached to a blob object ===

/// Attaches `metadata` to the blob object `id`; aborts if it already has some.
public(package) fun attach(id: &mut UID, blob_id: u256, metadata: Metadata) {
    assert!(!dynamic_field::exists_(id, METADATA_KEY), EDuplicateMetadata);
    metadata.metadata.keys().do!(|key| {
        let value = *metadata.metadata.get(&key);
        events::emit_blob_attribute_set(blob_id, id.to_inner(), key, value);
    });
    dynamic_field::add(id, METADATA_KEY, metadata);
}

/// Attaches `metadata`, returning what it replaces.
public(package) fun attach_or_replace(id: &mut UID, blob_id: u256, metadata: Metadata): Option<Metadata> {
    let old = if (dynamic_field::exists_(id, METADATA_KEY)) option::some(detach(id, blob_id)) else option::none();
    attach(id, blob_id, metadata);
    old
}

/// Detaches and returns the metadata; aborts if there is none.
public(package) fun detach(id: &mut UID, blob_id: u256): Metadata {
    assert!(dynamic_field::exists_(id, METADATA_KEY), EMissingMetadata);
    let metadata: Metadata = dynamic_field::remove(id, METADATA_KEY);
    metadata.keys().do!(|key| events::emit_blob_attribute_removed(blob_id, id.to_inner(), key));
    metadata
}

/// Sets one attribute, creating the metadata if needed.
public(package) fun set_attribute(id: &mut UID, blob_id: u256, key: String, value: String) {
    if (!dynamic_field::exists_(id, METADATA_KEY)) {
        dynamic_field::add(id, METADATA_KEY, new());
    };
    events::emit_blob_attribute_set(blob_id, id.to_inner(), key, value);
    borrow_attached(id).insert_or_update(key, value);
}

/// Removes one attribute; aborts if there is no metadata or not this key.
public(package) fun remove_attribute(id: &mut UID, blob_id: u256, key: &String): (String, String) {
    assert!(dynamic_field::exists_(id, METADATA_KEY), EMissingMetadata);
    let (key, value) = borrow_attached(id).remove(key);
    events::emit_blob_attribute_removed(blob_id, id.to_inner(), key);
    (key, value)
}

/// Removes one attribute if present, returning its value.
public(package) fun remove_attribute_if_exists(id: &mut UID, blob_id: u256, key: &String): Option<String> {
    if (!dynamic_field::exists_(id, METADATA_KEY)) return option::none();
    let value = borrow_attached(id).remove_if_exists(key);
    if (value.is_some()) events::emit_blob_attribute_removed(blob_id, id.to_inner(), *key);
    value
}

/// The value of attribute `key`, if the object has it.
public(package) fun attribute(id: &UID, key: &String): Option<String> {
    if (!dynamic_field::exists_(id, METADATA_KEY)) return option::none();
    let metadata: &Metadata = dynamic_field::borrow(id, METADATA_KEY);
    metadata.get(key)
}

/// Drops the metadata, if any, before the object is deleted (no events: the object goes).
public(package) fun drop_attached(id: &mut UID) {
    dynamic_field::remove_if_exists<vector<u8>, Metadata>(id, METADATA_KEY);
}

fun borrow_attached(id: &mut UID): &mut Metadata {
    dynamic_field::borrow_mut(id, METADATA_KEY)
}
