//! The pure computations of `move/walrus`, one function per Move function and with the same
//! rounding: encoded size, blob IDs, costs, shard apportionment, committee transitions, vote
//! aggregation, and Sui's object-ID derivation.

use std::collections::BTreeMap;

use sui_sdk_types::Address;

use crate::error::{aborts, Abort};

/// Prices are per MiB of encoded size.
const BYTES_PER_UNIT_SIZE: u64 = 1_048_576;
const RS2: u8 = 1;
const DIGEST_LEN: u64 = 32;
const BLOB_ID_LEN: u64 = 32;
const MAX_SYMBOL_SIZE: u64 = 65534;
const MIN_SHARDS: u16 = 4;

pub fn blake2b256(parts: &[&[u8]]) -> [u8; 32] {
    let mut state = blake2b_simd::Params::new().hash_length(32).to_state();
    for part in parts {
        state.update(part);
    }
    state.finalize().as_bytes().try_into().expect("32-byte hash")
}

/// `tx_context::fresh_object_address` as Sui computes it: Blake2b-256 of the scope byte of
/// regular object IDs (0xf1), the transaction digest and the creation counter (u64 LE).
pub fn derive_object_id(tx_digest: &[u8; 32], created: u64) -> Address {
    Address::new(blake2b256(&[&[0xf1], tx_digest, &created.to_le_bytes()]))
}

/// `encoding::encoded_blob_length`.
pub fn encoded_blob_length(unencoded_length: u64, encoding_type: u8, n_shards: u16) -> Result<u64, Abort> {
    if encoding_type != RS2 {
        return Err(aborts::EInvalidEncodingType);
    }
    if n_shards < MIN_SHARDS {
        return Err(aborts::ETooFewShards);
    }
    let n = u64::from(n_shards);
    let f = (n - 1) / 3;
    let primary = n - 2 * f;
    let secondary = n - f;
    let mut symbol = unencoded_length.max(1).div_ceil(primary * secondary);
    symbol += symbol % 2;
    if symbol > MAX_SYMBOL_SIZE {
        return Err(aborts::EBlobTooLarge);
    }
    Ok(n * ((primary + secondary) * symbol + n * 2 * DIGEST_LEN + BLOB_ID_LEN))
}

/// `blob::derive_blob_id`: Blake2b-256 of the BCS of (encoding type, size, root hash); the
/// digest's bytes are the blob ID's (a little-endian u256).
pub fn derive_blob_id(root_hash: &[u8; 32], encoding_type: u8, size: u64) -> [u8; 32] {
    blake2b256(&[&[encoding_type], &size.to_le_bytes(), root_hash])
}

/// `system_state_inner::cost`: `ceil(bytes / 1 MiB) * price * epochs`.
pub fn cost(bytes: u64, price: u64, epochs: u64) -> Result<u64, Abort> {
    let units = u128::from(bytes.div_ceil(BYTES_PER_UNIT_SIZE));
    u64::try_from(units * u128::from(price) * u128::from(epochs)).map_err(|_| aborts::ECostOverflow)
}

/// `apportionment::apportion`: D'Hondt with lower quotas first; ties to the larger stake, then
/// the lower node ID.
pub fn apportion(node_ids: &[Address], stakes: &[u64], n_shards: u16) -> Result<Vec<u16>, Abort> {
    let total: u128 = stakes.iter().map(|s| u128::from(*s)).sum();
    if total == 0 {
        return Err(aborts::ENoStake);
    }
    let n = u128::from(n_shards);
    let mut shards: Vec<u16> = stakes.iter().map(|s| (u128::from(*s) * n / total) as u16).collect();
    let given: u16 = shards.iter().sum();
    for _ in 0..n_shards - given {
        let mut best = 0;
        for i in 1..stakes.len() {
            if ahead(node_ids, stakes, &shards, i, best) {
                best = i;
            }
        }
        shards[best] += 1;
    }
    Ok(shards)
}

fn ahead(node_ids: &[Address], stakes: &[u64], shards: &[u16], a: usize, b: usize) -> bool {
    let qa = u128::from(stakes[a]) * (u128::from(shards[b]) + 1);
    let qb = u128::from(stakes[b]) * (u128::from(shards[a]) + 1);
    if qa != qb {
        return qa > qb;
    }
    if stakes[a] != stakes[b] {
        return stakes[a] > stakes[b];
    }
    node_ids[a].as_bytes() < node_ids[b].as_bytes()
}

/// Which node holds which shards, sorted by node ID (byte order is the u256 order Move uses).
pub type Committee = BTreeMap<Address, Vec<u16>>;

/// `committee::transition`: members keep their old shards up to their new count; the freed
/// shards go out in ascending order, to members in node-ID order. Counts are positive and sum
/// to `n_shards` (the caller's selection guarantees it).
pub fn transition(previous: &Committee, members: &[(Address, u16)], n_shards: u16) -> Committee {
    let mut members = members.to_vec();
    members.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut held = vec![false; usize::from(n_shards)];
    let kept: Vec<Vec<u16>> = members
        .iter()
        .map(|(id, count)| {
            let old = previous.get(id).map(Vec::as_slice).unwrap_or_default();
            let mine = old[..old.len().min(usize::from(*count))].to_vec();
            mine.iter().for_each(|s| held[usize::from(*s)] = true);
            mine
        })
        .collect();
    let mut free = (0..n_shards).filter(|s| !held[usize::from(*s)]);
    members
        .iter()
        .zip(kept)
        .map(|((id, count), mut mine)| {
            while mine.len() < usize::from(*count) {
                mine.push(free.next().expect("counts sum to n_shards"));
            }
            (*id, mine)
        })
        .collect()
}

/// `vote_aggregation::quorum_below`: the lowest value a quorum of shards voted at or below.
pub fn quorum_below(votes: &[u64], weights: &[u16]) -> u64 {
    pick(votes, weights, false)
}

/// `vote_aggregation::quorum_above`: the highest value a quorum voted at or above.
pub fn quorum_above(votes: &[u64], weights: &[u16]) -> u64 {
    pick(votes, weights, true)
}

/// Walks the votes (sorted stably, as Move's insertion sort does) from one end until a quorum.
fn pick(votes: &[u64], weights: &[u16], from_top: bool) -> u64 {
    let mut sorted: Vec<(u64, u16)> = votes.iter().copied().zip(weights.iter().copied()).collect();
    sorted.sort_by_key(|(vote, _)| *vote);
    let n: u64 = weights.iter().map(|w| u64::from(*w)).sum();
    let quorum = (2 * n + 1).div_ceil(3);
    let count = sorted.len();
    let mut seen = 0u64;
    for k in 0..count {
        let i = if from_top { count - 1 - k } else { k };
        seen += u64::from(sorted[i].1);
        if seen >= quorum || k == count - 1 {
            return sorted[i].0;
        }
    }
    unreachable!("a committee always has members")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> Address {
        let mut bytes = [0u8; 32];
        bytes[31] = n;
        Address::new(bytes)
    }

    #[test]
    fn apportion_gives_lower_quotas_then_highest_averages() {
        // 1000 / 3000 of 10 shards: quotas 3, 3, 3; the last shard to the largest stake...
        let ids = [id(1), id(2), id(3)];
        assert_eq!(apportion(&ids, &[1000, 1000, 1000], 10).unwrap(), vec![4, 3, 3]);
        assert_eq!(apportion(&ids, &[1000, 2000, 1000], 10).unwrap(), vec![2, 6, 2]);
        assert_eq!(apportion(&ids, &[0, 0, 0], 10), Err(aborts::ENoStake));
    }

    #[test]
    fn transition_keeps_shards_and_hands_out_freed_ones_in_order() {
        let first = transition(&Committee::new(), &[(id(2), 2), (id(1), 2)], 4);
        assert_eq!(first[&id(1)], vec![0, 1]);
        assert_eq!(first[&id(2)], vec![2, 3]);
        let second = transition(&first, &[(id(1), 1), (id(2), 2), (id(3), 1)], 4);
        assert_eq!(second[&id(1)], vec![0]);
        assert_eq!(second[&id(2)], vec![2, 3]);
        assert_eq!(second[&id(3)], vec![1]);
    }

    #[test]
    fn votes_need_a_quorum_of_shards() {
        // Weights 1, 1, 2 (n = 4, quorum 3): from below, 10 + 20 are not enough.
        assert_eq!(quorum_below(&[30, 10, 20], &[2, 1, 1]), 30);
        assert_eq!(quorum_above(&[30, 10, 20], &[2, 1, 1]), 20);
    }

    #[test]
    fn encoded_length_and_cost_round_as_move_does() {
        assert_eq!(encoded_blob_length(0, 1, 4), encoded_blob_length(1, 1, 4));
        assert_eq!(encoded_blob_length(1, 2, 10), Err(aborts::EInvalidEncodingType));
        assert_eq!(encoded_blob_length(1, 1, 3), Err(aborts::ETooFewShards));
        assert_eq!(cost(1, 5, 3), Ok(15));
        assert_eq!(cost(BYTES_PER_UNIT_SIZE + 1, 5, 1), Ok(10));
        assert_eq!(cost(u64::MAX, u64::MAX, 2), Err(aborts::ECostOverflow));
    }
}
