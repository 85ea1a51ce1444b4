/// A gallery that stores many small images in one storage pool: uploads take bytes of the
/// pool, removals give them back, and the owner grows or renews the pool as it fills.
module walrus_compat_tests::pooled_gallery;

use std::string::String;
use sui::coin::Coin;
use wal::wal::WAL;
use walrus::storage_pool::StoragePool;
use walrus::storage_resource::Storage;
use walrus::system::System;

public struct Gallery has key, store {
    id: UID,
    pool: StoragePool,
}

/// Opens a gallery with `capacity` encoded bytes for `epochs` epochs.
public fun open(system: &mut System, capacity: u64, epochs: u32, payment: &mut Coin<WAL>, ctx: &mut TxContext): Gallery {
    Gallery { id: object::new(ctx), pool: system.create_storage_pool(capacity, epochs, payment, ctx) }
}

/// Opens a gallery on storage bought elsewhere.
public fun open_with(system: &System, storage: Storage, ctx: &mut TxContext): Gallery {
    Gallery { id: object::new(ctx), pool: system.create_storage_pool_with_storage(storage, ctx) }
}

public fun upload(
    gallery: &mut Gallery,
    system: &mut System,
    blob_id: u256,
    root_hash: u256,
    size: u64,
    deletable: bool,
    title: String,
    payment: &mut Coin<WAL>,
    ctx: &mut TxContext,
) {
    system.register_pooled_blob(&mut gallery.pool, blob_id, root_hash, size, 1, deletable, payment, ctx);
    gallery.pool.insert_or_update_blob_metadata_pair(blob_id, b"title".to_string(), title);
}

public fun certify(
    gallery: &mut Gallery,
    system: &System,
    blob_id: u256,
    signature: vector<u8>,
    signers_bitmap: vector<u8>,
    message: vector<u8>,
) {
    system.certify_pooled_blob(&mut gallery.pool, blob_id, signature, signers_bitmap, message);
}

public fun remove(gallery: &mut Gallery, system: &System, blob_id: u256) {
    system.delete_pooled_blob(&mut gallery.pool, blob_id);
}

public fun grow(gallery: &mut Gallery, system: &mut System, bytes: u64, payment: &mut Coin<WAL>) {
    system.increase_storage_pool_capacity(&mut gallery.pool, bytes, payment);
}

public fun grow_with(gallery: &mut Gallery, system: &System, storage: Storage) {
    system.increase_storage_pool_capacity_with_storage(&mut gallery.pool, storage);
}

public fun renew(gallery: &mut Gallery, system: &mut System, epochs: u32, payment: &mut Coin<WAL>) {
    system.extend_storage_pool(&mut gallery.pool, epochs, payment);
}

/// Hands back `percent` of the unused bytes.
public fun trim(gallery: &mut Gallery, system: &System, percent: u8, ctx: &mut TxContext): Storage {
    system.decrease_storage_pool_unused_capacity_by_percent(&mut gallery.pool, percent, ctx)
}

/// Hands back exactly `bytes` unused bytes.
public fun trim_bytes(gallery: &mut Gallery, system: &System, bytes: u64, ctx: &mut TxContext): Storage {
    system.decrease_storage_pool_capacity_by_size(&mut gallery.pool, bytes, ctx)
}

/// Clears out blobs after expiry.
public fun sweep(gallery: &mut Gallery, system: &System, blob_id: u256) {
    system.burn_expired_pooled_blob(&mut gallery.pool, blob_id);
}

/// Closes an empty gallery, returning its storage.
public fun close(gallery: Gallery): Storage {
    let Gallery { id, pool } = gallery;
    id.delete();
    pool.destroy()
}

public fun pool(gallery: &Gallery): &StoragePool { &gallery.pool }

/// The object ID a deletable image's certificate must name.
public fun image_object_id(gallery: &Gallery, blob_id: u256): ID { gallery.pool.blob_object_id(blob_id) }

public fun has_image(gallery: &Gallery, blob_id: u256): bool { gallery.pool.contains_blob(blob_id) }

/// Free bytes, images stored, and the pool's end epoch.
public fun status(gallery: &Gallery): (u64, u64, u32) {
    (gallery.pool.available_encoded_bytes(), gallery.pool.blob_count(), gallery.pool.end_epoch())
}
