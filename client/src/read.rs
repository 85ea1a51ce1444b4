//! Reading a blob: metadata from any node, verified against the blob ID; verified primary
//! slivers from all nodes in parallel until enough are in hand (secondary ones if not); decode
//! and check the result against the metadata. Nodes that fail or lie are named.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use tokio::sync::{mpsc, Semaphore};
use walrus_encoder::{
    decode_in_place, Axis, BlobId, Inputs, Primary, Secondary, ShardIndex, Sliver, SliverIndex, SliverPairIndex,
    VerifiedMetadata,
};

use crate::chain::{ChainError, Committee};
use crate::client::{list_faults, Client, NodeFault};
use crate::node_client::NodeError;

/// Metadata requests in flight at once: a few, so one slow node does not stall the read.
const METADATA_FANOUT: usize = 3;

/// The least time a read waits for the remaining systematic slivers once it could decode.
const GRACE_MIN: std::time::Duration = std::time::Duration::from_millis(100);

/// Pieces of a blob a reader may have sent and not yet taken; each is at most a row of the
/// blob (a primary sliver), so this bounds the bytes waiting for a slow reader.
pub const STREAM_DEPTH: usize = 16;

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
    /// Reads blob `blob_id` whole; succeeds while at most f shards' nodes are down or lying.
    pub async fn read(&self, blob_id: &BlobId) -> Result<ReadOutcome, ReadError> {
        let (tx, mut rx) = mpsc::channel::<Bytes>(STREAM_DEPTH);
        let mut blob: Vec<u8> = Vec::new();
        let collect = async {
            while let Some(piece) = rx.recv().await {
                blob.extend_from_slice(&piece);
            }
        };
        let (faults, ()) = tokio::join!(self.read_to(blob_id, tx), collect);
        Ok(ReadOutcome { blob, faults: faults? })
    }

    /// Reads blob `blob_id`, sending its bytes to `out` in order as they are known to be right:
    /// the verified systematic primary slivers are the blob's rows, so while they arrive the
    /// bytes flow before the read is over, and memory holds the slivers but not a second copy
    /// of the blob. Only when some are missing does the rest wait for decoding. Errors after
    /// some bytes went out leave `out` short. If `out` is closed, the read stops.
    pub async fn read_to(&self, blob_id: &BlobId, out: mpsc::Sender<Bytes>) -> Result<Vec<NodeFault>, ReadError> {
        let committee = self.chain.committee().await?;
        let mut faults = Faults::default();
        let metadata = self.metadata(&committee, blob_id, &mut faults).await?;
        let params = metadata.layout().params();
        let mut emitter = Emitter::new(&metadata, out);
        let primary = self.slivers::<Primary>(&committee, &metadata, &mut faults, Some(&mut emitter)).await;
        if emitter.is_over() {
            return Ok(faults.into_vec());
        }
        let primary_needed = usize::from(params.primary_source_symbols());
        // Rows held back for the ones in front come back decoded: the emitter lets go of its
        // references, so that the slivers can be decoded in place without copies.
        emitter.forget_waiting();
        let decoded = if primary.len() >= primary_needed {
            decode_blocking(metadata.clone(), primary).await.map(Lines::Rows)
        } else {
            let primary_count = primary.len();
            drop(primary);
            let secondary = self.slivers::<Secondary>(&committee, &metadata, &mut faults, None).await;
            let secondary_needed = usize::from(params.secondary_source_symbols());
            if secondary.len() < secondary_needed {
                return Err(ReadError::NotEnoughSlivers {
                    blob_id: *blob_id,
                    primary: primary_count,
                    primary_needed,
                    secondary: secondary.len(),
                    secondary_needed,
                    faults: faults.into_vec(),
                });
            }
            decode_blocking(metadata.clone(), secondary).await.map(Lines::Columns)
        };
        match decoded {
            Ok(Lines::Rows(rows)) => emitter.finish_rows(rows).await,
            Ok(Lines::Columns(columns)) => emitter.finish_columns(&metadata, columns).await,
            Err(walrus_encoder::Error::InconsistentBlob) => return Err(ReadError::Inconsistent(*blob_id)),
            Err(source) => return Err(ReadError::Decode { blob_id: *blob_id, source }),
        }
        Ok(faults.into_vec())
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

    /// Verified slivers of axis `A` until enough to decode. The systematic slivers (the blob's
    /// own rows or columns) are asked for first: when they all arrive, decoding is a copy and
    /// the consistency check has nothing left to re-hash. Requests go round-robin over the
    /// nodes, at most `requests_per_node` per node and as many in all as are needed plus one
    /// per node, so every node is asked early and little is fetched beyond the need.
    async fn slivers<A: Axis>(
        &self,
        committee: &Committee,
        metadata: &VerifiedMetadata,
        faults: &mut Faults,
        mut emitter: Option<&mut Emitter>,
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
        let mut requests: Vec<(usize, SliverPairIndex)> = (0..most_shards)
            .flat_map(|round| {
                committee.members.iter().enumerate().filter_map(move |(index, member)| {
                    member.shards.get(round).map(|&s| (index, rotation.pair_on(ShardIndex(s))))
                })
            })
            .collect();
        // The systematic ones in index order, so that rows arrive about in the order they are
        // sent on; the others keep their round-robin order (the sort is stable).
        requests.sort_by_key(|(_, pair)| {
            let index = usize::from(pair.sliver::<A>(n_shards).get());
            if index < needed {
                (false, index)
            } else {
                (true, 0)
            }
        });
        // Verifications at once: one per core. Each expands its sliver to all n symbols; more
        // at once would not finish sooner, only hold more of those expansions in memory.
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let verifying = Semaphore::new(cores);
        let unverified = Semaphore::new(unverified_budget(needed, cores));
        let fetch = |(index, pair): (usize, SliverPairIndex)| {
            let (node, limit) = &nodes[index];
            let (metadata, verifying, unverified) = (metadata.clone(), &verifying, &unverified);
            async move {
                // Held from the download until the verdict: slivers arrive faster than they
                // are verified, and without this bound they would pile up in memory. Taken
                // before the node's permit, so that slivers come in the order asked for (the
                // systematic ones first), whichever node is free first.
                let _unverified = unverified.acquire().await.expect("the semaphore is never closed");
                let permit = limit.acquire().await.expect("the semaphore is never closed");
                let sliver = match node.get_sliver::<A>(&blob_id, pair, expected_len).await {
                    Ok(sliver) => sliver,
                    Err(e) => return (index, Err(e.to_string())),
                };
                drop(permit);
                let asked = pair.sliver::<A>(n_shards);
                if sliver.index() != asked {
                    return (index, Err(format!("sent {} sliver {} when asked for {asked}", A::NAME, sliver.index())));
                }
                let _verifying = verifying.acquire().await.expect("the semaphore is never closed");
                let checked = tokio::task::spawn_blocking(move || sliver.verify(&metadata).map(|()| sliver))
                    .await
                    .expect("verification does not panic")
                    .map_err(|e| format!("sent an invalid {} sliver: {e}", A::NAME));
                (index, checked)
            }
        };
        let mut answers = futures::stream::iter(requests).map(fetch).buffer_unordered(needed + committee.members.len());
        let started = tokio::time::Instant::now();
        let mut slivers: Vec<Sliver<A>> = Vec::with_capacity(needed + committee.members.len());
        let mut systematic = 0;
        let mut grace_until = None;
        loop {
            let answer = match grace_until {
                None => answers.next().await,
                Some(deadline) => tokio::time::timeout_at(deadline, answers.next()).await.unwrap_or(None),
            };
            let Some((index, answer)) = answer else { break };
            let sliver = match answer {
                Ok(sliver) => sliver,
                Err(reason) => {
                    faults.add(committee, index, reason);
                    continue;
                }
            };
            if usize::from(sliver.index().get()) < needed {
                systematic += 1;
                if let Some(emitter) = emitter.as_deref_mut() {
                    emitter.offer(sliver.index().get(), sliver.bytes()).await;
                    if emitter.is_closed() {
                        break;
                    }
                }
            }
            slivers.push(sliver);
            if systematic == needed {
                break;
            }
            // Enough to decode: give the systematic slivers still on their way a little longer
            // (a quarter of the time so far), as they make decoding a copy; a slow node does
            // not hold the read up for more than that.
            if slivers.len() >= needed && grace_until.is_none() {
                grace_until = Some(tokio::time::Instant::now() + GRACE_MIN.max(started.elapsed() / 4));
            }
        }
        // The systematic ones first: decoding takes the first it needs, and those cost least.
        slivers.sort_by_key(|sliver| sliver.index().get());
        slivers
    }
}

/// Slivers of which `needed` decode a blob that may be fetched and not yet verified at once:
/// a quarter of those needed (a quarter of the blob in memory on top of the verified ones),
/// enough to keep the downloads going while the cores verify; at least two per core.
fn unverified_budget(needed: usize, cores: usize) -> usize {
    (needed / 4).max(2 * cores)
}

/// The source lines of the message matrix, decoded from slivers of one axis.
enum Lines {
    /// Rows `0..kp` in order: the blob, padded.
    Rows(Vec<Bytes>),
    /// Columns `0..ks` in order.
    Columns(Vec<Bytes>),
}

/// Decodes the first `k` of `slivers` (verified, distinct, sorted) in place, on a blocking
/// thread: the source lines of axis `A` in order, in the slivers' own buffers.
async fn decode_blocking<A: Axis>(
    metadata: VerifiedMetadata,
    slivers: Vec<Sliver<A>>,
) -> walrus_encoder::Result<Vec<Bytes>> {
    tokio::task::spawn_blocking(move || {
        let k = usize::from(metadata.layout().params().source_symbols::<A>());
        let mut buffers: Vec<(SliverIndex<A>, BytesMut)> =
            slivers.into_iter().take(k).map(|sliver| (sliver.index(), sliver.into_symbols_mut())).collect();
        let mut lines: Vec<(SliverIndex<A>, &mut [u8])> =
            buffers.iter_mut().map(|(index, buffer)| (*index, &mut buffer[..])).collect();
        decode_in_place(&metadata, &mut lines, Inputs::Verified)?;
        let indices: Vec<SliverIndex<A>> = lines.into_iter().map(|(index, _)| index).collect();
        let mut decoded: Vec<(SliverIndex<A>, Bytes)> =
            indices.into_iter().zip(buffers).map(|(index, (_, buffer))| (index, buffer.freeze())).collect();
        decoded.sort_by_key(|(index, _)| index.get());
        Ok(decoded.into_iter().map(|(_, line)| line).collect())
    })
    .await
    .expect("decoding does not panic")
}

/// Sends a blob's bytes on in order: verified systematic rows as they come, the decoded rest
/// at the end, row by row.
struct Emitter {
    out: mpsc::Sender<Bytes>,
    row_len: u64,
    size: u64,
    /// Bytes sent so far: whole rows until the last.
    sent: u64,
    /// Rows that arrived before the rows in front of them.
    waiting: BTreeMap<u16, Bytes>,
    closed: bool,
}

impl Emitter {
    fn new(metadata: &VerifiedMetadata, out: mpsc::Sender<Bytes>) -> Self {
        let layout = metadata.layout();
        Self {
            out,
            row_len: layout.sliver_length::<Primary>() as u64,
            size: layout.unencoded_length(),
            sent: 0,
            waiting: BTreeMap::new(),
            closed: false,
        }
    }

    fn is_closed(&self) -> bool {
        self.closed
    }

    /// Whether nothing is left to send: all of it went, or nobody takes it any more.
    fn is_over(&self) -> bool {
        self.closed || self.sent >= self.size
    }

    /// Systematic primary sliver `index` (verified: row `index` of the blob, padded). The row
    /// shares the sliver's bytes: rows waiting for those in front cost no copy.
    async fn offer(&mut self, index: u16, row: &Bytes) {
        let start = u64::from(index) * self.row_len;
        if self.is_over() || start < self.sent || start >= self.size {
            return;
        }
        let len = self.row_len.min(self.size - start) as usize;
        self.waiting.insert(index, row.slice(..len));
        while !self.is_over() {
            let next = (self.sent / self.row_len) as u16;
            let Some(row) = self.waiting.remove(&next) else { break };
            self.send(row).await;
        }
    }

    /// Drops the rows waiting for those in front of them: they will be offered again.
    fn forget_waiting(&mut self) {
        self.waiting.clear();
    }

    /// The blob's rows `0..kp`, decoded: sends what is not sent yet, freeing each row as it goes.
    async fn finish_rows(&mut self, rows: Vec<Bytes>) {
        for (index, row) in rows.into_iter().enumerate() {
            if self.is_over() {
                break;
            }
            self.offer(index as u16, &row).await;
        }
    }

    /// The blob's columns `0..ks`, decoded: sends the rows not sent yet, gathered one by one.
    async fn finish_columns(&mut self, metadata: &VerifiedMetadata, columns: Vec<Bytes>) {
        let s = usize::from(metadata.layout().symbol_size());
        let kp = usize::from(metadata.layout().params().primary_source_symbols());
        for r in (self.sent / self.row_len) as usize..kp {
            if self.is_over() {
                break;
            }
            let mut row = Vec::with_capacity(self.row_len as usize);
            columns.iter().for_each(|column| row.extend_from_slice(&column[r * s..(r + 1) * s]));
            self.offer(r as u16, &Bytes::from(row)).await;
        }
    }

    async fn send(&mut self, piece: Bytes) {
        self.sent += piece.len() as u64;
        if self.out.send(piece).await.is_err() {
            self.closed = true;
        }
    }
}
