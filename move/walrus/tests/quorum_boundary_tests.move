#[test_only]
/// Quorums at their exact boundary (finding 4 of issue 9): a quorum is the least weight w with
/// 3w >= 2n + 1, so exactly two thirds is never enough. Checked for certificates, for the
/// epoch-change sync and for vote aggregation, for n = 3f + 1 and for the other residues.
module walrus::quorum_boundary_tests;

use std::unit_test::destroy;
use sui::clock;
use walrus::bls_aggregate;
use walrus::messages;
use walrus::staking_inner;
use walrus::system;
use walrus::test_utils::{committee, bitmap, frost, register, signature, destroy_world};
use walrus::vote_aggregation;

const WAL: u64 = 1_000_000_000;

/// (n, least quorum, least f + 1) for n = 3f + 1 (4, 7, 10, 100, 1000), n = 3f (3, 6, 9, 300)
/// and n = 3f + 2 (5, 8, 101).
fun boundaries(): vector<vector<u64>> {
    vector[
        vector[4, 3, 2],
        vector[7, 5, 3],
        vector[10, 7, 4],
        vector[100, 67, 34],
        vector[1000, 667, 334],
        vector[3, 3, 2],
        vector[6, 5, 3],
        vector[9, 7, 4],
        vector[300, 201, 101],
        vector[5, 4, 2],
        vector[8, 6, 3],
        vector[101, 68, 34],
    ]
}

#[test]
fun certificate_weight_thresholds_are_exact() {
    boundaries().do!(|b| {
        let (n, quorum, one_correct) = (b[0], b[1], b[2]);
        let committee = committee(1, vector[n as u16]);
        assert!(committee.is_quorum(quorum as u16) && !committee.is_quorum((quorum - 1) as u16));
        assert!(committee.includes_one_correct_node(one_correct as u16));
        assert!(!committee.includes_one_correct_node((one_correct - 1) as u16));
    });
}

/// Through the whole verification path, members of one shard each: the least quorum of
/// signers is accepted.
#[test]
fun certificates_from_the_least_quorum_of_signers_verify() {
    boundaries().do!(|b| if (b[0] <= 10) {
        let (n, quorum) = (b[0], b[1]);
        let committee = committee(3, vector::tabulate!(n, |_| 1));
        let message = messages::blob_certification_message(3, 1, messages::permanent());
        let certified = committee.verify_quorum_in_epoch(signature!(), bitmap(n, vector::tabulate!(quorum, |i| i)), message);
        assert!(certified.stake_support() == quorum as u16);
    });
}

/// Exactly two thirds of the shards (n = 3f: 2f signers) is refused.
#[test, expected_failure(abort_code = bls_aggregate::ENotEnoughStake)]
fun a_certificate_from_exactly_two_thirds_is_refused() {
    let committee = committee(3, vector::tabulate!(6, |_| 1));
    let message = messages::blob_certification_message(3, 1, messages::permanent());
    committee.verify_quorum_in_epoch(signature!(), bitmap(6, vector[0, 1, 2, 3]), message);
}

/// One signer short of the least quorum for n = 3f + 1 (2f signers of 3f + 1) is refused.
#[test, expected_failure(abort_code = bls_aggregate::ENotEnoughStake)]
fun a_certificate_one_short_of_quorum_is_refused() {
    let committee = committee(3, vector::tabulate!(7, |_| 1));
    let message = messages::blob_certification_message(3, 1, messages::permanent());
    committee.verify_quorum_in_epoch(signature!(), bitmap(7, vector[0, 1, 2, 3]), message);
}

/// Nodes of one shard each report their sync one by one: the change is done exactly when the
/// least quorum has reported, not at two thirds.
#[test]
fun the_epoch_change_is_done_exactly_at_the_least_quorum() {
    let ctx = &mut tx_context::dummy();
    boundaries().do!(|b| if (b[0] >= 4 && b[0] <= 10) {
        let (n, quorum) = (b[0], b[1]);
        let mut staking = walrus::staking::new_for_testing(n as u16, 1000, 1000, n as u16, ctx);
        let mut system = system::new_for_testing(10, ctx);
        let mut clock = clock::create_for_testing(ctx);
        let mut caps = vector::tabulate!(n, |i| register(&mut staking, i % 10, 0, ctx));
        let stakes = caps.map_ref!(|cap| staking.stake_with_pool(frost(WAL, ctx), cap.cap_node_id(), ctx));
        clock.set_for_testing(500);
        staking.voting_end(&clock);
        clock.set_for_testing(1000);
        staking.initiate_epoch_change(&mut system, &clock);
        n.do!(|k| {
            assert!(staking.committee().shard_count(&caps[k].cap_node_id()) == 1);
            staking.epoch_sync_done(&mut caps[k], 1, &clock);
            assert!(staking_inner::is_sync_done(&staking.epoch_state()) == (k + 1 >= quorum));
        });
        destroy(stakes);
        destroy(caps);
        destroy_world(staking, system, clock);
    });
}

/// Votes 1..n with one shard each: the price is the least quorum's highest vote, the capacity
/// the least quorum's lowest vote from the top.
#[test]
fun vote_aggregation_uses_the_least_quorum() {
    boundaries().do!(|b| if (b[0] <= 100) {
        let (n, quorum) = (b[0], b[1]);
        let votes = vector::tabulate!(n, |i| i + 1);
        let weights = vector::tabulate!(n, |_| 1u16);
        assert!(vote_aggregation::quorum_below(votes, weights) == quorum);
        assert!(vote_aggregation::quorum_above(votes, weights) == n + 1 - quorum);
    });
}
