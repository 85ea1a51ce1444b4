/// What the system knows about each future epoch: the encoded bytes reserved in it and the
/// WAL paid for it, kept in a ring of `max_epochs_ahead` entries starting at the current epoch.
/// Payments are credited to the epochs they pay for, so rewards can be paid out per epoch.
module walrus::storage_accounting;

use sui::balance::{Self, Balance};
use wal::wal::WAL;

#[error]
const ETooFarInFuture: vector<u8> = b"The epoch is beyond the accounting window (max_epochs_ahead)";

public struct FutureAccounting has store {
    epoch: u32,
    /// Encoded bytes reserved for `epoch`.
    used_capacity: u64,
    /// FROST paid for `epoch` (storage, writes), paid out when the epoch ends.
    rewards_to_distribute: Balance<WAL>,
}

public struct FutureAccountingRingBuffer has store {
    current_index: u32,
    length: u32,
    ring_buffer: vector<FutureAccounting>,
}

public(package) fun new(first_epoch: u32, length: u32): FutureAccountingRingBuffer {
    let ring_buffer = vector::tabulate!(length as u64, |i| new_entry(first_epoch + (i as u32)));
    FutureAccountingRingBuffer { current_index: 0, length, ring_buffer }
}

public fun max_epochs_ahead(self: &FutureAccountingRingBuffer): u32 { self.length }

/// The entry `epochs_ahead` epochs after the current one (also `ring[epochs_ahead]`, as in
/// Walrus).
#[syntax(index)]
public fun ring_lookup(self: &FutureAccountingRingBuffer, epochs_ahead: u32): &FutureAccounting {
    assert!(epochs_ahead < self.length, ETooFarInFuture);
    &self.ring_buffer[((epochs_ahead + self.current_index) % self.length) as u64]
}

#[syntax(index)]
public(package) fun ring_lookup_mut(self: &mut FutureAccountingRingBuffer, epochs_ahead: u32): &mut FutureAccounting {
    assert!(epochs_ahead < self.length, ETooFarInFuture);
    let index = (epochs_ahead + self.current_index) % self.length;
    &mut self.ring_buffer[index as u64]
}

/// Ends the current epoch: returns its entry and opens one at the far end of the window.
public(package) fun ring_pop_expand(self: &mut FutureAccountingRingBuffer): FutureAccounting {
    let index = self.current_index as u64;
    let last_epoch = self.ring_buffer[index].epoch + self.length;
    self.ring_buffer.push_back(new_entry(last_epoch));
    let popped = self.ring_buffer.swap_remove(index);
    self.current_index = (self.current_index + 1) % self.length;
    popped
}

public fun epoch(self: &FutureAccounting): u32 { self.epoch }

public fun used_capacity(self: &FutureAccounting): u64 { self.used_capacity }

public fun rewards(self: &FutureAccounting): u64 { self.rewards_to_distribute.value() }

public(package) fun increase_used_capacity(self: &mut FutureAccounting, amount: u64): u64 {
    self.used_capacity = self.used_capacity + amount;
    self.used_capacity
}

public(package) fun decrease_used_capacity(self: &mut FutureAccounting, amount: u64) {
    self.used_capacity = self.used_capacity - amount;
}

public(package) fun rewards_balance(self: &mut FutureAccounting): &mut Balance<WAL> {
    &mut self.rewards_to_distribute
}

public(package) fun into_rewards(self: FutureAccounting): Balance<WAL> {
    let FutureAccounting { rewards_to_distribute, .. } = self;
    rewards_to_distribute
}

fun new_entry(epoch: u32): FutureAccounting {
    FutureAccounting { epoch, used_capacity: 0, rewards_to_distribute: balance::zero() }
}
