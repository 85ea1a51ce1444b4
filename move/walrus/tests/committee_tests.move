#[test_only]
module walrus::committee_tests;

use walrus::apportionment;
use walrus::committee;
use walrus::test_utils::node_id;
use walrus::vote_aggregation::{quorum_above, quorum_below};

fun ids(n: u64): vector<ID> { vector::tabulate!(n, |i| node_id(i)) }

#[test]
fun apportionment_follows_dhondt() {
    assert!(apportionment::apportion(&ids(3), &vector[1, 1, 1], 10) == vector[4, 3, 3]);
    assert!(apportionment::apportion(&ids(2), &vector[1, 0], 7) == vector[7, 0]);
    assert!(apportionment::apportion(&ids(4), &vector[2, 3, 4, 10], 100) == vector[10, 16, 21, 53]);
    // Ties go to the larger stake, then to the lower node ID.
    assert!(apportionment::apportion(&vector[node_id(5), node_id(2)], &vector[7, 7], 3) == vector[1, 2]);
    assert!(apportionment::apportion(&ids(2), &vector[std::u64::max_value!(), 1], 1000) == vector[1000, 0]);
}

#[test, expected_failure(abort_code = apportionment::ENoStake)]
fun apportionment_without_stake_is_refused() {
    apportionment::apportion(&ids(2), &vector[0, 0], 10);
}

#[test]
fun first_committee_numbers_shards_in_node_order() {
    let c = committee::empty().transition(vector[node_id(1), node_id(0)], vector[3, 2], 5);
    assert!(c.node_ids() == vector[node_id(0), node_id(1)]);
    assert!(*c.shards(&node_id(0)) == vector[0, 1]);
    assert!(*c.shards(&node_id(1)) == vector[2, 3, 4]);
    assert!(c.n_shards() == 5 && c.size() == 2 && c.shard_count(&node_id(1)) == 3);
    assert!(c.shard_count(&node_id(9)) == 0 && !c.contains(&node_id(9)));
}

/// As in Walrus, a non-member has no shard list to borrow.
#[test, expected_failure(abort_code = sui::vec_map::EKeyDoesNotExist)]
fun shards_of_a_non_member_abort() {
    let c = committee::empty().transition(vector[node_id(0)], vector[4], 4);
    c.shards(&node_id(9));
}

#[test]
fun transition_moves_only_the_shards_it_must() {
    let first = committee::empty().transition(ids(3), vector[4, 4, 2], 10);
    // Node 0 shrinks to 2 (keeps 0, 1), node 1 keeps 4, node 2 leaves, node 3 joins with 4.
    let next = first.transition(vector[node_id(0), node_id(1), node_id(3)], vector[2, 4, 4], 10);
    assert!(*next.shards(&node_id(0)) == vector[0, 1]);
    assert!(*next.shards(&node_id(1)) == vector[4, 5, 6, 7]);
    assert!(*next.shards(&node_id(3)) == vector[2, 3, 8, 9]);
    assert!(!next.contains(&node_id(2)));
}

#[test, expected_failure(abort_code = committee::EInvalidShardCount)]
fun transition_with_the_wrong_total_is_refused() {
    committee::empty().transition(ids(2), vector[2, 2], 5);
}

#[test, expected_failure(abort_code = committee::EInvalidShardCount)]
fun transition_with_a_zero_count_is_refused() {
    committee::empty().transition(ids(2), vector[5, 0], 5);
}

#[test]
fun prices_are_the_quorum_below_and_capacity_the_quorum_above() {
    // Weights 1, 1, 1, 7 (n = 10, quorum 7).
    let votes = vector[100, 1, 50, 10];
    let weights = vector[1, 1, 1, 7];
    assert!(quorum_below(votes, weights) == 10);
    assert!(quorum_above(votes, weights) == 10);
    // Four equal nodes (n = 4, quorum 3): a single outlier moves nothing.
    assert!(quorum_below(vector[5, 6, 7, 1000], vector[1, 1, 1, 1]) == 7);
    assert!(quorum_above(vector[0, 6, 7, 8], vector[1, 1, 1, 1]) == 6);
}

#[test, expected_failure(abort_code = walrus::vote_aggregation::ENoVotes)]
fun aggregating_no_votes_is_refused() {
    quorum_below(vector[], vector[]);
}
