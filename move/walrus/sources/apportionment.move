/// Shards for stake: D'Hondt (highest averages) apportionment of a fixed number of shards.
/// Every node first gets its lower quota `floor(n * stake / total)`, which D'Hondt never goes
/// below, and the rest go one by one to the highest quotient `stake / (shards + 1)`. Ties go to
/// the larger stake, then to the lower node ID: a rule anyone can check, unlike Walrus, whose
/// ties depend on the history of its active-set vector.
module walrus::apportionment;

#[error]
const ENoStake: vector<u8> = b"Shards cannot be apportioned without stake";

/// Shard counts for `stakes` (same order as `node_ids`), summing to `n_shards`.
public fun apportion(node_ids: &vector<ID>, stakes: &vector<u64>, n_shards: u16): vector<u16> {
    let mut total = 0u128;
    stakes.do_ref!(|s| total = total + (*s as u128));
    assert!(total > 0, ENoStake);
    let n = n_shards as u128;
    let mut shards = stakes.map_ref!(|s| ((*s as u128) * n / total) as u16);
    let mut given = 0u16;
    shards.do_ref!(|k| given = given + *k);
    let mut left = n_shards - given;
    while (left > 0) {
        let mut best = 0;
        stakes.length().do!(|i| if (i > 0 && ahead(node_ids, stakes, &shards, i, best)) best = i);
        *&mut shards[best] = shards[best] + 1;
        left = left - 1;
    };
    shards
}

/// Whether node `a` has a better claim on the next shard than node `b`.
fun ahead(node_ids: &vector<ID>, stakes: &vector<u64>, shards: &vector<u16>, a: u64, b: u64): bool {
    // stake_a / (shards_a + 1) against stake_b / (shards_b + 1), cross-multiplied.
    let qa = (stakes[a] as u128) * ((shards[b] as u128) + 1);
    let qb = (stakes[b] as u128) * ((shards[a] as u128) + 1);
    if (qa != qb) return qa > qb;
    if (stakes[a] != stakes[b]) return stakes[a] > stakes[b];
    node_ids[a].to_address().to_u256() < node_ids[b].to_address().to_u256()
}
