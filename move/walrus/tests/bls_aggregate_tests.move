#[test_only]
module walrus::bls_aggregate_tests;

use walrus::bls_aggregate;
use walrus::messages;
use walrus::test_utils::{committee, bitmap, node_id, signature};

#[test]
fun committee_sums_weights_and_finds_members() {
    let committee = committee(4, vector[3, 1, 6]);
    assert!(committee.epoch() == 4);
    assert!(committee.n_shards() == 10);
    assert!(committee.n_members() == 3);
    assert!(committee.member(2).weight() == 6);
    assert!(committee.member(2).node_id() == node_id(2));
    assert!(committee.find_index(node_id(1)) == option::some(1));
    assert!(committee.find_index(node_id(7)).is_none());
}

#[test]
fun empty_committee_has_no_shards() {
    let committee = committee(0, vector[]);
    assert!(committee.n_shards() == 0);
    assert!(!committee.is_quorum(0));
}

#[test, expected_failure(abort_code = bls_aggregate::EIncorrectCommittee)]
fun zero_weight_member_is_refused() {
    committee(1, vector[1, 0, 2]);
}

#[test, expected_failure(abort_code = bls_aggregate::EIncorrectCommittee)]
fun members_out_of_order_are_refused() {
    let a = committee(1, vector[1, 1]);
    bls_aggregate::new_bls_committee(1, vector[*a.member(1), *a.member(0)]);
}

#[test, expected_failure(abort_code = bls_aggregate::EIncorrectCommittee)]
fun duplicate_member_is_refused() {
    let a = committee(1, vector[1]);
    bls_aggregate::new_bls_committee(1, vector[*a.member(0), *a.member(0)]);
}

#[test, expected_failure(abort_code = bls_aggregate::ETooManyShards)]
fun more_than_65535_shards_are_refused() {
    committee(1, vector[40000, 40000]);
}

#[test]
fun bitmap_bits_are_lsb_first_over_member_order() {
    let committee = committee(1, vector[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    // Members 0, 3 and 9 signed.
    let bitmap = vector[0x09, 0x02];
    assert!(committee.non_signers(&bitmap) == vector[1, 2, 4, 5, 6, 7, 8]);
    assert!(committee.signer_weight(&bitmap) == 1 + 4 + 10);
    assert!(bitmap == bitmap(10, vector[0, 3, 9]));
}

#[test]
fun short_bitmap_counts_missing_members_as_non_signers() {
    let committee = committee(1, vector[1, 1, 1, 1, 1, 1, 1, 1, 5]);
    assert!(committee.non_signers(&vector[0xff]) == vector[8]);
    assert!(committee.signer_weight(&vector[0xff]) == 8);
    assert!(committee.signer_weight(&vector[]) == 0);
}

#[test, expected_failure(abort_code = bls_aggregate::EInvalidBitmap)]
fun bitmap_longer_than_committee_is_refused() {
    committee(1, vector[1, 1, 1]).non_signers(&vector[0x07, 0x00]);
}

#[test, expected_failure(abort_code = bls_aggregate::EInvalidBitmap)]
fun bitmap_naming_a_non_member_is_refused() {
    committee(1, vector[1, 1, 1]).non_signers(&vector[0x0f]);
}

#[test]
fun quorum_and_validity_thresholds() {
    // n = 10: quorum needs 3w >= 21 (w >= 7), one correct node 3w >= 11 (w >= 4).
    let committee = committee(1, vector[10]);
    assert!(!committee.is_quorum(6));
    assert!(committee.is_quorum(7));
    assert!(!committee.includes_one_correct_node(3));
    assert!(committee.includes_one_correct_node(4));
}

#[test]
fun quorum_certificate_reports_its_support() {
    let committee = committee(7, vector[2, 3, 5]);
    let message = messages::blob_certification_message(7, 1, messages::permanent());
    let certified = committee.verify_quorum_in_epoch(signature!(), bitmap(3, vector[1, 2]), message);
    assert!(certified.stake_support() == 8);
    assert!(certified.cert_epoch() == 7);
}

#[test]
fun one_correct_node_certificate_needs_f_plus_one() {
    let committee = committee(7, vector[2, 3, 5]);
    let message = messages::invalid_blob_id_message(7, 1);
    let certified = committee.verify_one_correct_node_in_epoch(signature!(), bitmap(3, vector[2]), message);
    assert!(certified.stake_support() == 5);
}

#[test, expected_failure(abort_code = bls_aggregate::ENotEnoughStake)]
fun quorum_certificate_with_too_little_weight() {
    let committee = committee(7, vector[2, 3, 5]);
    let message = messages::blob_certification_message(7, 1, messages::permanent());
    committee.verify_quorum_in_epoch(signature!(), bitmap(3, vector[0, 1]), message);
}

#[test, expected_failure(abort_code = bls_aggregate::ENotEnoughStake)]
fun one_correct_node_certificate_with_too_little_weight() {
    let committee = committee(7, vector[2, 3, 5]);
    let message = messages::invalid_blob_id_message(7, 1);
    committee.verify_one_correct_node_in_epoch(signature!(), bitmap(3, vector[1]), message);
}

#[test, expected_failure(abort_code = bls_aggregate::ENotEnoughStake)]
fun no_certificate_verifies_against_an_empty_committee() {
    let committee = committee(0, vector[]);
    committee.verify_one_correct_node_in_epoch(signature!(), vector[], messages::invalid_blob_id_message(0, 1));
}
