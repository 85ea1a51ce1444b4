//! A committee as every follower and client sees it: its members in the order the contract's
//! signer bitmaps use, each with its BLS key, shards (its weight) and network address.

use serde::{Deserialize, Serialize};

use crate::messages::ObjectId;

/// One storage node of a committee.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The node's on-chain `StakingPool` object.
    pub node_id: ObjectId,
    /// The BLS12-381 min-pk key its confirmations are checked against (48 bytes), as it was
    /// when the committee was selected.
    pub public_key: Vec<u8>,
    /// The shards the node holds in this epoch; their count is its weight in certificates.
    pub shards: Vec<u16>,
    /// Where the node serves its API: `host:port` or a full `http://` URL.
    pub network_address: String,
}

impl Member {
    /// The member's weight in certificates: its number of shards.
    pub fn weight(&self) -> usize {
        self.shards.len()
    }
}

/// The committee of one epoch.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Committee {
    pub epoch: u32,
    pub members: Vec<Member>,
}

impl Committee {
    pub fn n_shards(&self) -> u16 {
        self.members.iter().map(|m| m.shards.len() as u16).sum()
    }

    pub fn member(&self, node_id: &ObjectId) -> Option<&Member> {
        self.members.iter().find(|m| m.node_id == *node_id)
    }

    /// The shard weight a certificate needs: `n - f` with `f = (n - 1) / 3`, which always
    /// satisfies the contract's `3w >= 2n + 1`.
    pub fn quorum_weight(&self) -> usize {
        let n = usize::from(self.n_shards());
        n - (n.saturating_sub(1)) / 3
    }
}
