//! Reading a blob: metadata from any node, verified against the blob ID; verified primary
//! slivers from all nodes in parallel until enough are in hand (secondary ones if not); decode
//! and check the result against the metadata. Nodes that fail or lie are named.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::StreamExt;
use tokio::sync::Semaphore;
use walrus_encoder::{
    decode, Axis, BlobId, ConsistencyCheck, Primary, Secondary, ShardIndex, Sliver, SliverPairIndex, VerifiedMetadata,
};

use crate::chain::{ChainError, Committee};
use crate::client::{list_faults, Client, NodeFault};
use crate::node_client::NodeError;

/// Metadata requests in flight at once: a few, so one slow node does not stall the read.
const METADATA_FANOUT: usize = 3;

/// A read blob and the nodes that failed along the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadOutcome {
    pub blob: Vec<u8>,
    pub faults: Vec<NodeFault>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("chain: {0}")]
    Chain(#[from] ChainError),
    #[error("no node served valid metadata for blob {blob_id}: {}", no_metadata_reason(faults))]
    NoMetadata { blob_id: BlobId, faults: Vec<NodeFault> },
    #[error(
        "too few valid slivers for blob {blob_id}: {primary} primary of {primary_needed} needed, {secondary} secondary \
         of {secondary_needed} needed:{}",
        list_faults(faults)
    )]
    NotEnoughSlivers {
        blob_id: BlobId,
        primary: usize,
        primary_needed: usize,
        secondary: usize,
        secondary_needed: usize,
        faults: Vec<NodeFault>,
    },
    #[error("blob {0} is inconsistently encoded: its slivers do not decode to data matching its metadata")]
    Inconsistent(BlobId),
    #[error("cannot decode blob {blob_id}: {source}")]
    Decode { blob_id: BlobId, source: walrus_encoder::Error },
}

/// Nodes that failed, or else what the silence means.
fn no_metadata_reason(faults: &[NodeFault]) -> String {
    if faults.is_empty() {
        "no node has it (the blob was never stored, or it expired or was deleted)".to_owned()
    } else {
        format!("the others do not have it, and {} node(s) failed:{}", faults.len(), list_faults(faults))
    }
}

/// Faults gathered during a read, one per node (the first reason).
#[derive(Default)]
struct Faults(BTreeMap<usize, NodeFault>);

impl Faults {
    fn add(&mut self, committee: &Committee, index: usize, reason: impl std::fmt::Display) {
        self.0.entry(index).or_insert_with(|| NodeFault::new(&committee.members[index], reason));
    }

    fn into_vec(self) -> Vec<NodeFault> {
        self.0.into_values().collect()
    }
}

impl Client {
    /// Reads blob `blob_id`; succeeds while at most f shards' nodes are down or lying.
    pub async fn read(&self, blob_id: &BlobId) -> Result<ReadOutcome, ReadError> {
        let committee = self.chain.committee().await?;
        let mut faults = Faults::default();
        let metadata = self.metadata(&committee, blob_id, &mut faults).await?;
        let params = metadata.layout().params();
        let primary = self.slivers::<Primary>(&committee, &metadata, &mut faults).await;
        let primary_needed = usize::from(params.primary_source_symbols());
        let check = ConsistencyCheck::Default;
        let blob = if primary.len() >= primary_needed {
            decode_blocking(metadata, primary, check).await
        } else {
            let secondary = self.slivers::<Secondary>(&committee, &metadata, &mut faults).await;
            let secondary_needed = usize::from(params.secondary_source_symbols());
            if secondary.len() < secondary_needed {
                return Err(ReadError::NotEnoughSlivers {
                    blob_id: *blob_id,
                    primary: primary.len(),
                    primary_needed,
                    secondary: secondary.len(),
                    secondary_needed,
                    faults: faults.into_vec(),
                });
            }
            decode_blocking(metadata, secondary, check).await
        };
        match blob {
            Ok(blob) => Ok(ReadOutcome { blob, faults: faults.into_vec() }),
            Err(walrus_encoder::Error::InconsistentBlob) => Err(ReadError::Inconsistent(*blob_id)),
            Err(source) => Err(ReadError::Decode { blob_id: *blob_id, source }),
        }
    }

    /// The first metadata a node serves that hashes to `blob_id`.
    async fn metadata(
        &self,
        committee: &Committee,
        blob_id: &BlobId,
        faults: &mut Faults,
    ) -> Result<VerifiedMetadata, ReadError> {
        let n_shards = committee.n_shards();
        // Owned node clients: a closure over borrowed members makes the future's Send-ness
        // unprovable to the compiler, and the daemon needs it Send.
        let nodes: Vec<_> = committee.members.iter().map(|member| self.node(member)).collect();
        let mut answers = futures::stream::iter(nodes.into_iter().enumerate())
            .map(|(index, node)| async move { (index, node.get_metadata(blob_id).await) })
            .buffer_unordered(METADATA_FANOUT);
        while let Some((index, answer)) = answers.next().await {
            match answer {
                Ok(metadata) if metadata.n_shards() == n_shards => return Ok(metadata),
                Ok(metadata) => faults.add(
                    committee,
                    index,
                    format!("served metadata for {} shards, the committee has {n_shards}", metadata.n_shards()),
                ),
                // A node that does not know the blob is not at fault.
                Err(NodeError::Refused { status: 404, .. }) => {}
                Err(e) => faults.add(committee, index, e),
            }
        }
        drop(answers);
        Err(ReadError::NoMetadata { blob_id: *blob_id, faults: std::mem::take(faults).into_vec() })
    }

    /// Verified slivers of axis `A` until enough to decode. Requests go round-robin over the
    /// nodes, at most `requests_per_node` per node and about as many in all as are needed plus
    /// one per node, so every node is asked early and little is fetched beyond the need.
    async fn slivers<A: Axis>(
        &self,
        committee: &Committee,
        metadata: &VerifiedMetadata,
        faults: &mut Faults,
    ) -> Vec<Sliver<A>> {
        let layout = metadata.layout();
        let needed = usize::from(layout.params().source_symbols::<A>());
        let expected_len = layout.sliver_length::<A>();
        let rotation = metadata.rotation();
        let blob_id = metadata.blob_id();
        let n_shards = layout.n_shards();
        let metadata = Arc::new(metadata.clone());
        let nodes: Vec<_> =
            committee.members.iter().map(|m| (self.node(m), Semaphore::new(self.config.requests_per_node))).collect();
        let most_shards = committee.members.iter().map(|m| m.shards.len()).max().unwrap_or(0);
        let requests: Vec<(usize, SliverPairIndex)> = (0..most_shards)
            .flat_map(|round| {
                committee.members.iter().enumerate().filter_map(move |(index, member)| {
                    member.shards.get(round).map(|&s| (index, rotation.pair_on(ShardIndex(s))))
                })
            })
            .collect();
        let fetch = |(index, pair): (usize, SliverPairIndex)| {
            let (node, limit) = &nodes[index];
            let metadata = metadata.clone();
            async move {
                let _permit = limit.acquire().await.expect("the semaphore is never closed");
                let sliver = match node.get_sliver::<A>(&blob_id, pair, expected_len).await {
                    Ok(sliver) => sliver,
                    Err(e) => return (index, Err(e.to_string())),
                };
                let asked = pair.sliver::<A>(n_shards);
                if sliver.index() != asked {
                    return (index, Err(format!("sent {} sliver {} when asked for {asked}", A::NAME, sliver.index())));
                }
                let checked = tokio::task::spawn_blocking(move || sliver.verify(&metadata).map(|()| sliver))
                    .await
                    .expect("verification does not panic")
                    .map_err(|e| format!("sent an invalid {} sliver: {e}", A::NAME));
                (index, checked)
            }
        };
        let mut answers = futures::stream::iter(requests).map(fetch).buffer_unordered(needed + committee.members.len());
        let mut slivers = Vec::with_capacity(needed);
        while let Some((index, answer)) = answers.next().await {
            match answer {
                Ok(sliver) => {
                    slivers.push(sliver);
                    if slivers.len() == needed {
                        break;
                    }
                }
                Err(reason) => faults.add(committee, index, reason),
            }
        }
        slivers
    }
}

async fn decode_blocking<A: Axis>(
    metadata: VerifiedMetadata,
    slivers: Vec<Sliver<A>>,
    check: ConsistencyCheck,
) -> walrus_encoder::Result<Vec<u8>> {
    tokio::task::spawn_blocking(move || decode(&metadata, &slivers, check)).await.expect("decoding does not panic")
}
