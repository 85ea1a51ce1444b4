/// Key/value attributes of a blob (content type, file name, ...), as strings. A blob holds at
/// most one `Metadata` value, in a dynamic field (see `blob`).
module walrus::metadata;

use std::string::String;
use sui::vec_map::{Self, VecMap};

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
