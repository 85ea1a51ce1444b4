/// `Blob`: a registered blob and the storage that pays for it. Fields are Walrus's, in order,
/// so contracts and SDKs that read blobs work unchanged. Attributes live in a dynamic field
/// named `"metadata"`, as in Walrus (see `metadata`).
module walrus::blob;

use std::string::String;
use sui::{bcs, hash};
use walrus::encoding;
use walrus::events;
use walrus::messages::CertifiedBlobMessage;
use walrus::metadata::{Self, Metadata};
use walrus::storage_resource::Storage;

#[error]
const ENotCertified: vector<u8> = b"The blob is not certified";
#[error]
const EBlobNotDeletable: vector<u8> = b"The blob is not deletable";
#[error]
const EResourceBounds: vector<u8> = b"The storage does not cover the current epoch";
#[error]
const EResourceSize: vector<u8> = b"The storage is smaller than the blob's encoded size";
#[error]
const EAlreadyCertified: vector<u8> = b"The blob is already certified";
#[error]
const EInvalidBlobId: vector<u8> = b"The blob ID does not match";
#[error]
const EInvalidBlobPersistenceType: vector<u8> = b"The certificate is for the other persistence type (permanent or deletable)";
#[error]
const EInvalidBlobObject: vector<u8> = b"The certificate is for another blob object";
#[error]
const EExtensionNotLater: vector<u8> = b"The extension must end after the blob's storage";

public struct Blob has key, store {
    id: UID,
    registered_epoch: u32,
    blob_id: u256,
    /// Unencoded size in bytes.
    size: u64,
    encoding_type: u8,
    certified_epoch: Option<u32>,
    storage: Storage,
    deletable: bool,
}

/// What a blob ID is the hash of: BCS of these fields, through Blake2b-256, read as a
/// little-endian u256, exactly as the encoder computes it.
public struct BlobIdDerivation has drop {
    encoding_type: u8,
    size: u64,
    root_hash: u256,
}

public fun derive_blob_id(root_hash: u256, encoding_type: u8, size: u64): u256 {
    let digest = hash::blake2b256(&bcs::to_bytes(&BlobIdDerivation { encoding_type, size, root_hash }));
    bcs::new(digest).peel_u256()
}

// === Accessors ===

public fun object_id(self: &Blob): ID { self.id.to_inner() }

public fun registered_epoch(self: &Blob): u32 { self.registered_epoch }

public fun blob_id(self: &Blob): u256 { self.blob_id }

public fun size(self: &Blob): u64 { self.size }

public fun encoding_type(self: &Blob): u8 { self.encoding_type }

public fun certified_epoch(self: &Blob): &Option<u32> { &self.certified_epoch }

public fun storage(self: &Blob): &Storage { &self.storage }

public fun end_epoch(self: &Blob): u32 { self.storage.end_epoch() }

public fun is_deletable(self: &Blob): bool { self.deletable }

public fun is_certified(self: &Blob): bool { self.certified_epoch.is_some() }

/// The encoded size the blob occupies over `n_shards` shards.
public fun encoded_size(self: &Blob, n_shards: u16): u64 {
    encoding::encoded_blob_length(self.size, self.encoding_type, n_shards)
}

// === Life cycle (through `system`) ===

/// A new blob on `storage`, which must cover the current epoch and the encoded size.
public(package) fun new(
    storage: Storage,
    blob_id: u256,
    root_hash: u256,
    size: u64,
    encoding_type: u8,
    deletable: bool,
    registered_epoch: u32,
    n_shards: u16,
    ctx: &mut TxContext,
): Blob {
    assert!(storage.start_epoch() <= registered_epoch && registered_epoch < storage.end_epoch(), EResourceBounds);
    assert!(encoding::encoded_blob_length(size, encoding_type, n_shards) <= storage.size(), EResourceSize);
    assert!(derive_blob_id(root_hash, encoding_type, size) == blob_id, EInvalidBlobId);
    let blob = Blob {
        id: object::new(ctx),
        registered_epoch,
        blob_id,
        size,
        encoding_type,
        certified_epoch: option::none(),
        storage,
        deletable,
    };
    events::emit_blob_registered(
        registered_epoch,
        blob_id,
        size,
        encoding_type,
        blob.end_epoch(),
        deletable,
        blob.object_id(),
    );
    blob
}

/// Marks the blob certified in `current_epoch` by a certificate verified for that epoch.
public(package) fun certify_with_certified_msg(self: &mut Blob, current_epoch: u32, message: CertifiedBlobMessage) {
    check_certificate(&message, self.blob_id, self.deletable, self.object_id(), self.is_certified(), current_epoch, self.end_epoch());
    self.certified_epoch.fill(current_epoch);
    self.emit_certified(false);
}

/// What a certificate must show to certify a blob, owned or pooled: the blob's ID and
/// persistence (with the object for a deletable blob), a blob not yet certified, and storage
/// that still covers the current epoch.
public(package) fun check_certificate(
    message: &CertifiedBlobMessage,
    blob_id: u256,
    deletable: bool,
    object_id: ID,
    already_certified: bool,
    current_epoch: u32,
    end_epoch: u32,
) {
    assert!(message.certified_blob_id() == blob_id, EInvalidBlobId);
    assert!(!already_certified, EAlreadyCertified);
    assert!(current_epoch < end_epoch, EResourceBounds);
    let certified_object = message.persistence_type().deletable_object_id();
    assert!(certified_object.is_some() == deletable, EInvalidBlobPersistenceType);
    certified_object.do!(|id| assert!(id == object_id, EInvalidBlobObject));
}

/// Deletes a deletable, unexpired blob and returns its storage.
public(package) fun delete(self: Blob, current_epoch: u32): Storage {
    assert!(self.deletable, EBlobNotDeletable);
    assert!(current_epoch < self.end_epoch(), EResourceBounds);
    events::emit_blob_deleted(current_epoch, self.blob_id, self.end_epoch(), self.object_id(), self.is_certified());
    self.into_storage()
}

/// Lengthens a certified, unexpired blob's storage with `extension`, which must begin where
/// the blob's storage ends and have the same size.
public(package) fun extend_with_resource(self: &mut Blob, extension: Storage, current_epoch: u32) {
    self.check_extendable(current_epoch);
    assert!(extension.end_epoch() > self.end_epoch(), EExtensionNotLater);
    self.storage.fuse_periods(extension);
    self.emit_certified(true);
}

/// Lengthens a certified, unexpired blob's storage by `extended_epochs` already paid for.
public(package) fun extend_paid(self: &mut Blob, extended_epochs: u32, current_epoch: u32) {
    self.check_extendable(current_epoch);
    self.storage.extend_end_epoch(extended_epochs);
    self.emit_certified(true);
}

public(package) fun check_extendable(self: &Blob, current_epoch: u32) {
    assert!(self.is_certified(), ENotCertified);
    assert!(current_epoch < self.end_epoch(), EResourceBounds);
}

/// `blob.share()` makes the blob a `SharedBlob` that anyone can fund and extend.
public use fun walrus::shared_blob::new as Blob.share;

/// Destroys the blob and its storage: how owners clean up expired blobs. The storage's capacity
/// stays reserved until it expires; `system::burn_blob` gives the unexpired part back.
public fun burn(self: Blob) {
    self.burn_into_storage().destroy();
}

/// Destroys the blob, keeping its storage for the system to release.
public(package) fun burn_into_storage(self: Blob): Storage {
    events::emit_blob_burned(self.blob_id, self.object_id(), self.end_epoch(), self.is_certified());
    self.into_storage()
}

public(package) fun into_storage(mut self: Blob): Storage {
    metadata::drop_attached(&mut self.id);
    let Blob { id, storage, .. } = self;
    id.delete();
    storage
}

// === Attributes (kept in `metadata`'s dynamic field on the blob) ===

/// Attaches `metadata`; aborts if the blob already has some.
public fun add_metadata(self: &mut Blob, metadata: Metadata) {
    metadata::attach(&mut self.id, self.blob_id, metadata)
}

/// Attaches `metadata`, returning what it replaces.
public fun add_or_replace_metadata(self: &mut Blob, metadata: Metadata): Option<Metadata> {
    metadata::attach_or_replace(&mut self.id, self.blob_id, metadata)
}

/// Detaches and returns the metadata; aborts if there is none.
public fun take_metadata(self: &mut Blob): Metadata {
    metadata::detach(&mut self.id, self.blob_id)
}

/// Sets one attribute, creating the metadata if needed.
public fun insert_or_update_metadata_pair(self: &mut Blob, key: String, value: String) {
    metadata::set_attribute(&mut self.id, self.blob_id, key, value)
}

/// Removes one attribute; aborts if the blob has no metadata or not this key.
public fun remove_metadata_pair(self: &mut Blob, key: &String): (String, String) {
    metadata::remove_attribute(&mut self.id, self.blob_id, key)
}

/// Removes one attribute if present, returning its value.
public fun remove_metadata_pair_if_exists(self: &mut Blob, key: &String): Option<String> {
    metadata::remove_attribute_if_exists(&mut self.id, self.blob_id, key)
}

/// The value of attribute `key`, if the blob has it.
public fun metadata_value(self: &Blob, key: &String): Option<String> {
    metadata::attribute(&self.id, key)
}

fun emit_certified(self: &Blob, is_extension: bool) {
    events::emit_blob_certified(
        *self.certified_epoch.borrow(),
        self.blob_id,
        self.end_epoch(),
        self.deletable,
        self.object_id(),
        is_extension,
    );
}
