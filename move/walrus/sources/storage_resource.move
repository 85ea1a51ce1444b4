/// `Storage`: a reservation of encoded bytes for the epochs `[start_epoch, end_epoch)`, bought
/// from the system and owned by whoever paid. It can be split and fused freely; a blob wraps
/// exactly one. Fields are Walrus's, in order, so SDKs read it unchanged.
module walrus::storage_resource;

use walrus::events;

#[error]
const EInvalidEpoch: vector<u8> = b"The split epoch must lie strictly inside the storage period";
#[error]
const EIncompatibleEpochs: vector<u8> = b"The storage periods are not adjacent or not equal";
#[error]
const EIncompatibleAmount: vector<u8> = b"The storage sizes differ";
#[error]
const EInvalidSplitSize: vector<u8> = b"The split size exceeds the storage size";

public struct Storage has key, store {
    id: UID,
    start_epoch: u32,
    end_epoch: u32,
    storage_size: u64,
}

public fun start_epoch(self: &Storage): u32 { self.start_epoch }

public fun end_epoch(self: &Storage): u32 { self.end_epoch }

public fun size(self: &Storage): u64 { self.storage_size }

/// Splits off `[split_epoch, end_epoch)` into a new object; `self` keeps `[start_epoch, split_epoch)`.
public fun split_by_epoch(self: &mut Storage, split_epoch: u32, ctx: &mut TxContext): Storage {
    assert!(split_epoch > self.start_epoch && split_epoch < self.end_epoch, EInvalidEpoch);
    let new = Storage {
        id: object::new(ctx),
        start_epoch: split_epoch,
        end_epoch: self.end_epoch,
        storage_size: self.storage_size,
    };
    self.end_epoch = split_epoch;
    self.emit_split(&new);
    new
}

/// Splits off all but `split_size` bytes into a new object; `self` keeps `split_size` bytes.
/// Either piece may be empty, as in Walrus: integrators split at 0 or at the whole size to
/// preview an empty resource, and an empty piece holds no capacity.
public fun split_by_size(self: &mut Storage, split_size: u64, ctx: &mut TxContext): Storage {
    assert!(split_size <= self.storage_size, EInvalidSplitSize);
    let new = Storage {
        id: object::new(ctx),
        start_epoch: self.start_epoch,
        end_epoch: self.end_epoch,
        storage_size: self.storage_size - split_size,
    };
    self.storage_size = split_size;
    self.emit_split(&new);
    new
}

/// Fuses two resources of the same size whose periods are adjacent, in either order.
public fun fuse_periods(self: &mut Storage, other: Storage) {
    assert!(self.storage_size == other.storage_size, EIncompatibleAmount);
    if (self.end_epoch == other.start_epoch) {
        self.end_epoch = other.end_epoch;
    } else {
        assert!(self.start_epoch == other.end_epoch, EIncompatibleEpochs);
        self.start_epoch = other.start_epoch;
    };
    self.absorb(other);
}

/// Fuses two resources over the same period; their sizes add up.
public fun fuse_amount(self: &mut Storage, other: Storage) {
    assert!(self.start_epoch == other.start_epoch && self.end_epoch == other.end_epoch, EIncompatibleEpochs);
    self.storage_size = self.storage_size + other.storage_size;
    self.absorb(other);
}

/// Fuses by amount when the periods are equal, else by period.
public fun fuse(self: &mut Storage, other: Storage) {
    if (self.start_epoch == other.start_epoch) self.fuse_amount(other) else self.fuse_periods(other)
}

/// Destroys the resource without telling the system, so its capacity stays reserved until it
/// expires; `system::release_storage` gives the unexpired part back instead.
public fun destroy(self: Storage) {
    let Storage { id, .. } = self;
    id.delete();
}

public(package) fun create(start_epoch: u32, end_epoch: u32, storage_size: u64, ctx: &mut TxContext): Storage {
    Storage { id: object::new(ctx), start_epoch, end_epoch, storage_size }
}

/// Adds `extra_size` bytes over the same period, for storage pools whose growth is paid for
/// directly.
public(package) fun increase_size(self: &mut Storage, extra_size: u64) {
    self.storage_size = self.storage_size + extra_size;
}

/// Moves the end of the period, for blob extensions that are paid for directly.
public(package) fun extend_end_epoch(self: &mut Storage, extended_epochs: u32) {
    self.end_epoch = self.end_epoch + extended_epochs;
}

fun absorb(self: &Storage, other: Storage) {
    events::emit_storage_fused(self.id.to_inner(), other.id.to_inner(), self.start_epoch, self.end_epoch, self.storage_size);
    other.destroy();
}

fun emit_split(self: &Storage, new: &Storage) {
    events::emit_storage_split(
        self.id.to_inner(),
        self.start_epoch,
        self.end_epoch,
        self.storage_size,
        new.id.to_inner(),
        new.start_epoch,
        new.end_epoch,
        new.storage_size,
    );
}

#[test_only]
public fun create_for_test(start_epoch: u32, end_epoch: u32, storage_size: u64, ctx: &mut TxContext): Storage {
    create(start_epoch, end_epoch, storage_size, ctx)
}
