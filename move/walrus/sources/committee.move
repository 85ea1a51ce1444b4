/// Which node holds which shards in an epoch: a map from node ID to shard indices, sorted by
/// node ID (the order the signer bitmap uses). A new committee is derived from the previous
/// one so that as few shards as possible change hands: a node keeps its shards up to its new
/// count, and only the shards freed by shrinking or departing nodes move.
module walrus::committee;

use sui::vec_map::{Self, VecMap};

#[error]
const EInvalidShardCount: vector<u8> = b"Shard counts must be positive and sum to the committee's number of shards";

public struct Committee has copy, drop, store {
    shards: VecMap<ID, vector<u16>>,
}

public fun empty(): Committee { Committee { shards: vec_map::empty() } }

/// The committee after `self` that gives node `node_ids[i]` `counts[i]` shards out of
/// `n_shards`; `self` may be empty (then shards are numbered in node-ID order).
public fun transition(self: &Committee, node_ids: vector<ID>, counts: vector<u16>, n_shards: u16): Committee {
    assert!(counts.all!(|c| *c > 0), EInvalidShardCount);
    let mut total = 0u64;
    counts.do_ref!(|c| total = total + (*c as u64));
    assert!(total == n_shards as u64, EInvalidShardCount);
    let (node_ids, counts) = sort_by_id(node_ids, counts);

    // Every shard not kept by its holder is free, in ascending order.
    let mut held = vector::tabulate!(n_shards as u64, |_| false);
    let mut kept = vector[];
    node_ids.length().do!(|i| {
        let old = self.shards.try_get(&node_ids[i]).destroy_or!(vector[]);
        let keep = old.length().min(counts[i] as u64);
        let mine = vector::tabulate!(keep, |k| old[k]);
        mine.do_ref!(|s| *&mut held[*s as u64] = true);
        kept.push_back(mine);
    });
    let mut free = vector[];
    (n_shards as u64).do!(|s| if (!held[s]) free.push_back(s as u16));
    free.reverse();

    let mut shards = vec_map::empty();
    node_ids.zip_do!(counts, |node_id, count| {
        let mut mine = kept.remove(0);
        while (mine.length() < (count as u64)) mine.push_back(free.pop_back());
        shards.insert(node_id, mine);
    });
    Committee { shards }
}

public fun size(self: &Committee): u64 { self.shards.length() }

public fun node_ids(self: &Committee): vector<ID> { self.shards.keys() }

public fun contains(self: &Committee, node_id: &ID): bool { self.shards.contains(node_id) }

/// The shards of `node_id`; aborts if it is not a member (Walrus's signature).
public fun shards(self: &Committee, node_id: &ID): &vector<u16> { self.shards.get(node_id) }

/// How many shards `node_id` holds; zero if it is not a member.
public fun shard_count(self: &Committee, node_id: &ID): u16 {
    if (self.contains(node_id)) (self.shards(node_id).length() as u16) else 0
}

public fun n_shards(self: &Committee): u16 {
    let mut total = 0;
    self.shards.length().do!(|i| {
        let (_, shards) = self.shards.get_entry_by_idx(i);
        total = total + shards.length();
    });
    total as u16
}

/// Insertion sort by node ID as a u256: committees are small and come nearly sorted.
fun sort_by_id(mut ids: vector<ID>, mut counts: vector<u16>): (vector<ID>, vector<u16>) {
    let n = ids.length();
    let mut i = 1;
    while (i < n) {
        let mut j = i;
        while (j > 0 && ids[j - 1].to_address().to_u256() > ids[j].to_address().to_u256()) {
            ids.swap(j - 1, j);
            counts.swap(j - 1, j);
            j = j - 1;
        };
        i = i + 1;
    };
    (ids, counts)
}
