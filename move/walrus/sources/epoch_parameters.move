/// The parameters an epoch runs with, fixed when the epoch starts. Prices change only at epoch
/// boundaries, so a cost quoted during an epoch holds for the whole epoch.
module walrus::epoch_parameters;

public struct EpochParams has copy, drop, store {
    /// Encoded bytes the committee accepts to store per epoch.
    total_capacity_size: u64,
    /// FROST per MiB of encoded size per epoch.
    storage_price_per_unit_size: u64,
    /// FROST per MiB of encoded size, once, when a blob is registered.
    write_price_per_unit_size: u64,
}

public(package) fun new(total_capacity_size: u64, storage_price: u64, write_price: u64): EpochParams {
    EpochParams {
        total_capacity_size,
        storage_price_per_unit_size: storage_price,
        write_price_per_unit_size: write_price,
    }
}

public fun capacity(self: &EpochParams): u64 { self.total_capacity_size }

public fun storage_price(self: &EpochParams): u64 { self.storage_price_per_unit_size }

public fun write_price(self: &EpochParams): u64 { self.write_price_per_unit_size }
