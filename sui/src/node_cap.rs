//! An operator's `NodeCap`: the object that authorises node operations (updates, commission,
//! sync reports), found among the wallet's objects.

use serde::Deserialize;
use sui_sdk_types::{Address, ObjectReference};

use crate::deployment::Deployment;
use crate::full_node::{FullNode, NodeError};

/// `NodeCap`'s fields, as `move/walrus/sources/storage_node.move` declares them.
#[derive(Deserialize)]
struct NodeCapFields {
    _id: [u8; 32],
    node_id: [u8; 32],
    last_epoch_sync_done: u32,
}

/// A `NodeCap` the wallet owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeCap {
    pub reference: ObjectReference,
    /// The node (its `StakingPool`) the cap operates.
    pub node_id: Address,
    /// The last epoch the node reported its shards in place for.
    pub last_epoch_sync_done: u32,
}

/// Why the caps could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum NodeCapError {
    #[error(transparent)]
    Node(#[from] NodeError),
    #[error("the NodeCap object {0} does not decode")]
    Malformed(Address),
}

/// Every `NodeCap` of `deployment` that `owner` holds.
pub async fn owned(node: &FullNode, deployment: &Deployment, owner: Address) -> Result<Vec<NodeCap>, NodeCapError> {
    let objects = node.owned_objects(owner, &deployment.walrus_type("storage_node", "NodeCap")).await?;
    objects
        .into_iter()
        .map(|object| {
            let id = *object.reference.object_id();
            let fields: NodeCapFields = bcs::from_bytes(&object.contents).map_err(|_| NodeCapError::Malformed(id))?;
            Ok(NodeCap {
                reference: object.reference,
                node_id: Address::new(fields.node_id),
                last_epoch_sync_done: fields.last_epoch_sync_done,
            })
        })
        .collect()
}
