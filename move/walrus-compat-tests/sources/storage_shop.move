/// Sells pieces of a storage reservation: carve `size` bytes off a `Storage`, with a dry run
/// that carves nothing (an empty piece) to show what a buyer would get.
module walrus_compat_tests::storage_shop;

use walrus::storage_resource::Storage;
use walrus::system::System;
use sui::coin::Coin;
use wal::wal::WAL;

/// Buys `size` encoded bytes for `epochs` epochs.
public fun stock(system: &mut System, size: u64, epochs: u32, payment: &mut Coin<WAL>, ctx: &mut TxContext): Storage {
    system.reserve_space(size, epochs, payment, ctx)
}

/// Takes exactly `size` bytes out of `stock`, over the same epochs.
public fun carve(stock: &mut Storage, size: u64, ctx: &mut TxContext): Storage {
    let keep = stock.size() - size;
    stock.split_by_size(keep, ctx)
}

/// The period and size on offer, without changing `stock`: a size-0 carve tells the period
/// a piece would have, and is fused back at once.
public fun preview(stock: &mut Storage, ctx: &mut TxContext): (u32, u32, u64) {
    let empty = carve(stock, 0, ctx);
    let (start, end) = (empty.start_epoch(), empty.end_epoch());
    stock.fuse_amount(empty);
    (start, end, stock.size())
}
