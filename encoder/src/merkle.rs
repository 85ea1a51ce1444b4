//! Walrus's Merkle tree: leaves `H(0x00 || x)`, inner nodes `H(0x01 || l || r)`, and an odd
//! node at any level paired with an all-zero `Empty` node (no duplication, no power-of-two
//! padding).

use serde::{Deserialize, Serialize};

use crate::hash::{leaf_hash, parent_level, Digest};

/// A tree node as serialized: `Empty` stands for 32 zero bytes (padding only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Node {
    Empty,
    Digest(Digest),
}

impl Node {
    pub fn bytes(&self) -> Digest {
        match self {
            Node::Empty => [0; 32],
            Node::Digest(d) => *d,
        }
    }
}

/// The root over leaf hashes; `Empty` for no leaves.
pub fn root_of_leaf_hashes(leaves: Vec<Digest>) -> Node {
    let mut level = leaves;
    if level.is_empty() {
        return Node::Empty;
    }
    while level.len() > 1 {
        level = parent_level(&level);
    }
    Node::Digest(level[0])
}

/// A whole tree, kept to produce proofs.
pub struct MerkleTree {
    /// `levels[0]` are the leaf hashes; the last level is the root alone.
    levels: Vec<Vec<Digest>>,
}

impl MerkleTree {
    pub fn from_leaf_hashes(leaves: Vec<Digest>) -> Self {
        let mut levels = vec![leaves];
        while levels.last().expect("non-empty").len() > 1 {
            let next = parent_level(levels.last().expect("non-empty"));
            levels.push(next);
        }
        Self { levels }
    }

    pub fn root(&self) -> Node {
        self.levels.last().and_then(|l| l.first()).map_or(Node::Empty, |d| Node::Digest(*d))
    }

    /// The authentication path of leaf `index`, from the leaf level up. `None` if out of range.
    pub fn proof(&self, index: usize) -> Option<MerkleProof> {
        if index >= self.levels[0].len() {
            return None;
        }
        let mut path = Vec::with_capacity(self.levels.len());
        let mut i = index;
        for level in &self.levels[..self.levels.len() - 1] {
            path.push(level.get(i ^ 1).map_or(Node::Empty, |d| Node::Digest(*d)));
            i /= 2;
        }
        Some(MerkleProof { path })
    }
}

/// Siblings from the leaf level up to (not including) the root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MerkleProof {
    pub path: Vec<Node>,
}

impl MerkleProof {
    /// Whether `leaf` is leaf number `index` of a tree of `n_leaves` leaves with this `root`.
    /// Paths longer than the tree's height are refused, so a proof cannot claim a leaf of a
    /// larger tree.
    pub fn verify(&self, root: &Node, leaf: &[u8], index: usize, n_leaves: usize) -> bool {
        let height = if n_leaves <= 1 { 0 } else { (n_leaves - 1).ilog2() as usize + 1 };
        if index >= n_leaves || self.path.len() != height {
            return false;
        }
        let mut node = leaf_hash(leaf);
        let mut i = index;
        for sibling in &self.path {
            node = if i.is_multiple_of(2) {
                crate::hash::inner_hash(&node, &sibling.bytes())
            } else {
                crate::hash::inner_hash(&sibling.bytes(), &node)
            };
            i /= 2;
        }
        Node::Digest(node) == *root
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::inner_hash;

    fn leaves(n: usize) -> (Vec<Vec<u8>>, Vec<Digest>) {
        let data: Vec<Vec<u8>> = (0..n).map(|i| vec![i as u8, 1]).collect();
        let hashes = data.iter().map(|d| leaf_hash(d)).collect();
        (data, hashes)
    }

    #[test]
    fn odd_levels_pad_with_zero() {
        let (_, h) = leaves(3);
        let expected = inner_hash(&inner_hash(&h[0], &h[1]), &inner_hash(&h[2], &[0; 32]));
        assert_eq!(root_of_leaf_hashes(h.clone()), Node::Digest(expected));
        assert_eq!(MerkleTree::from_leaf_hashes(h).root(), Node::Digest(expected));
        assert_eq!(root_of_leaf_hashes(vec![]), Node::Empty);
    }

    #[test]
    fn proofs_verify_only_for_their_leaf() {
        for n in [1, 2, 3, 5, 8, 13, 100] {
            let (data, h) = leaves(n);
            let tree = MerkleTree::from_leaf_hashes(h);
            let root = tree.root();
            for i in 0..n {
                let proof = tree.proof(i).unwrap();
                assert!(proof.verify(&root, &data[i], i, n), "n={n} i={i}");
                assert!(!proof.verify(&root, &data[(i + 1) % n], i, n) || n == 1);
                assert!(!proof.verify(&root, &data[i], i, 2 * n + 1));
            }
            assert!(tree.proof(n).is_none());
        }
    }
}
