/// Turning the committee's votes into one value, weighted by shards, so that no coalition of
/// fewer than a third of the shards (the faulty ones the protocol tolerates) can move it.
module walrus::vote_aggregation;

#[error]
const ENoVotes: vector<u8> = b"There are no votes to aggregate";

/// The smallest value that nodes holding a quorum of shards voted at or below: used for
/// prices, so that a minority cannot push prices up.
public fun quorum_below(votes: vector<u64>, weights: vector<u16>): u64 {
    let (votes, weights) = sorted(votes, weights);
    pick(&votes, &weights, quorum(&weights), false)
}

/// The largest value that nodes holding a quorum of shards voted at or above: used for
/// capacity, so that a minority cannot promise more than the rest will store.
public fun quorum_above(votes: vector<u64>, weights: vector<u16>): u64 {
    let (votes, weights) = sorted(votes, weights);
    pick(&votes, &weights, quorum(&weights), true)
}

/// The least weight w with 3w >= 2n + 1.
fun quorum(weights: &vector<u16>): u64 {
    let mut n = 0u64;
    weights.do_ref!(|w| n = n + (*w as u64));
    (2 * n + 1).divide_and_round_up(3)
}

/// Walks the sorted votes from the low end (or the high end) until a quorum has voted.
fun pick(votes: &vector<u64>, weights: &vector<u16>, quorum: u64, from_top: bool): u64 {
    let count = votes.length();
    assert!(count > 0, ENoVotes);
    let mut seen = 0u64;
    let mut k = 0;
    loop {
        let i = if (from_top) count - 1 - k else k;
        seen = seen + (weights[i] as u64);
        if (seen >= quorum || k == count - 1) return votes[i];
        k = k + 1;
    }
}

/// Votes in ascending order, with their weights.
fun sorted(mut votes: vector<u64>, mut weights: vector<u16>): (vector<u64>, vector<u16>) {
    let n = votes.length();
    let mut i = 1;
    while (i < n) {
        let mut j = i;
        while (j > 0 && votes[j - 1] > votes[j]) {
            votes.swap(j - 1, j);
            weights.swap(j - 1, j);
            j = j - 1;
        };
        i = i + 1;
    };
    (votes, weights)
}
