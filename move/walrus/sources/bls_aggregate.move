/// The committee as certificates see it: members in ascending node-ID order with their BLS
/// public keys and shard counts (weights), and the check of an aggregated BLS12-381 min-pk
/// signature over a message, with the signers named by a bitmap over that order.
module walrus::bls_aggregate;

use sui::bls12381::{Self, G1, UncompressedG1};
use sui::group_ops::Element;
use walrus::messages::{Self, CertifiedMessage};

#[error]
const EInvalidBitmap: vector<u8> = b"The signer bitmap is longer than the committee or names a member that does not exist";
#[error]
const ESigVerification: vector<u8> = b"The aggregated signature does not verify";
#[error]
const ENotEnoughStake: vector<u8> = b"The signers do not hold enough shards";
#[error]
const EIncorrectCommittee: vector<u8> = b"Committee members must have weight > 0 and strictly ascending node IDs";
#[error]
const ETooManyShards: vector<u8> = b"The committee's weights exceed 65535 shards";

public struct BlsCommitteeMember has copy, drop, store {
    /// Kept uncompressed so that summing keys is cheap.
    public_key: Element<UncompressedG1>,
    /// Number of shards the member holds.
    weight: u16,
    node_id: ID,
}

public struct BlsCommittee has copy, drop, store {
    members: vector<BlsCommitteeMember>,
    /// Sum of the weights.
    n_shards: u16,
    epoch: u32,
    /// Sum of all members' keys, from which non-signers are subtracted.
    total_aggregated_key: Element<G1>,
}

/// How much weight a certificate needs.
public enum RequiredWeight has drop {
    /// More than two thirds of the shards: 3w >= 2n + 1.
    Quorum,
    /// Enough that one signer is honest if at most f shards are faulty: 3w >= n + 1.
    OneCorrectNode,
}

public(package) fun new_bls_committee_member(public_key: Element<UncompressedG1>, weight: u16, node_id: ID): BlsCommitteeMember {
    BlsCommitteeMember { public_key, weight, node_id }
}

/// A committee for `epoch`; members must come sorted by node ID, as the signer bitmap and the
/// SDKs rely on that order.
public(package) fun new_bls_committee(epoch: u32, members: vector<BlsCommitteeMember>): BlsCommittee {
    let mut n_shards = 0u64;
    let mut keys = vector[];
    members.length().do!(|i| {
        let member = &members[i];
        assert!(member.weight > 0, EIncorrectCommittee);
        if (i > 0) {
            assert!(members[i - 1].node_id.to_address().to_u256() < member.node_id.to_address().to_u256(), EIncorrectCommittee);
        };
        n_shards = n_shards + (member.weight as u64);
        keys.push_back(member.public_key);
    });
    assert!(n_shards <= 0xffff, ETooManyShards);
    let total_aggregated_key = if (keys.is_empty()) bls12381::g1_identity()
    else bls12381::uncompressed_g1_to_g1(&bls12381::uncompressed_g1_sum(&keys));
    BlsCommittee { members, n_shards: n_shards as u16, epoch, total_aggregated_key }
}

public fun epoch(self: &BlsCommittee): u32 { self.epoch }

public fun n_shards(self: &BlsCommittee): u16 { self.n_shards }

public fun n_members(self: &BlsCommittee): u64 { self.members.length() }

public fun member(self: &BlsCommittee, index: u64): &BlsCommitteeMember { &self.members[index] }

public fun total_aggregated_key(self: &BlsCommittee): &Element<G1> { &self.total_aggregated_key }

public fun node_id(self: &BlsCommitteeMember): ID { self.node_id }

public fun weight(self: &BlsCommitteeMember): u16 { self.weight }

public fun public_key(self: &BlsCommitteeMember): &Element<UncompressedG1> { &self.public_key }

/// The committee index of `node_id`, if it is a member.
public fun find_index(self: &BlsCommittee, node_id: ID): Option<u64> {
    self.members.find_index!(|m| m.node_id == node_id)
}

/// Verifies a certificate that needs a quorum, and the message's header for this epoch.
public(package) fun verify_quorum_in_epoch(
    self: &BlsCommittee,
    signature: vector<u8>,
    signers_bitmap: vector<u8>,
    message: vector<u8>,
): CertifiedMessage {
    let weight = self.verify_certificate_and_weight(&signature, &signers_bitmap, &message, RequiredWeight::Quorum);
    messages::new_certified_message(message, self.epoch, weight)
}

/// Verifies a certificate that needs f + 1 shards, and the message's header for this epoch.
public(package) fun verify_one_correct_node_in_epoch(
    self: &BlsCommittee,
    signature: vector<u8>,
    signers_bitmap: vector<u8>,
    message: vector<u8>,
): CertifiedMessage {
    let weight = self.verify_certificate_and_weight(&signature, &signers_bitmap, &message, RequiredWeight::OneCorrectNode);
    messages::new_certified_message(message, self.epoch, weight)
}

/// Indices of the members that did not sign: bit `b` of byte `k` stands for member `8k + b`.
/// The bitmap may be shorter than the committee (missing members did not sign) but not
/// longer, and bits past the last member must be clear, so each signer set has one encoding.
public fun non_signers(self: &BlsCommittee, signers_bitmap: &vector<u8>): vector<u64> {
    let n_members = self.members.length();
    assert!(signers_bitmap.length() <= n_members.divide_and_round_up(8), EInvalidBitmap);
    let mut non_signers = vector[];
    n_members.do!(|i| {
        let byte = i / 8;
        let signed = byte < signers_bitmap.length() && (signers_bitmap[byte] >> ((i % 8) as u8)) & 1 == 1;
        if (!signed) non_signers.push_back(i);
    });
    if (n_members % 8 != 0 && signers_bitmap.length() == n_members.divide_and_round_up(8)) {
        let used_bits = (n_members % 8) as u8;
        assert!(*signers_bitmap.borrow(signers_bitmap.length() - 1) >> used_bits == 0, EInvalidBitmap);
    };
    non_signers
}

/// Weight of the signers named by `signers_bitmap`.
public fun signer_weight(self: &BlsCommittee, signers_bitmap: &vector<u8>): u16 {
    let mut missing = 0u16;
    self.non_signers(signers_bitmap).do!(|i| missing = missing + self.members[i].weight);
    self.n_shards - missing
}

public fun is_quorum(self: &BlsCommittee, weight: u16): bool {
    3 * (weight as u64) >= 2 * (self.n_shards as u64) + 1
}

public fun includes_one_correct_node(self: &BlsCommittee, weight: u16): bool {
    3 * (weight as u64) >= (self.n_shards as u64) + 1
}

/// Checks the weight first (cheap), then the signature against the total key minus the keys
/// of the non-signers; returns the signers' weight.
fun verify_certificate_and_weight(
    self: &BlsCommittee,
    signature: &vector<u8>,
    signers_bitmap: &vector<u8>,
    message: &vector<u8>,
    required: RequiredWeight,
): u16 {
    let non_signers = self.non_signers(signers_bitmap);
    let mut missing_weight = 0u16;
    let mut missing_keys = vector[];
    non_signers.do!(|i| {
        missing_weight = missing_weight + self.members[i].weight;
        missing_keys.push_back(self.members[i].public_key);
    });
    let weight = self.n_shards - missing_weight;
    let enough = match (required) {
        RequiredWeight::Quorum => self.is_quorum(weight),
        RequiredWeight::OneCorrectNode => self.includes_one_correct_node(weight),
    };
    assert!(enough, ENotEnoughStake);
    let aggregate_key = if (missing_keys.is_empty()) self.total_aggregated_key
    else bls12381::g1_sub(
        &self.total_aggregated_key,
        &bls12381::uncompressed_g1_to_g1(&bls12381::uncompressed_g1_sum(&missing_keys)),
    );
    assert!(
        bls12381::bls12381_min_pk_verify(signature, aggregate_key.bytes(), message),
        ESigVerification,
    );
    weight
}
