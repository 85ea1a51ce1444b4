//! Storing a blob: encode, skip it if already certified long enough, register, upload to every
//! node at once, gather verified confirmations into a certificate, certify.

use std::collections::BTreeSet;
use std::sync::Arc;

use fastcrypto::bls12381::min_pk::BLS12381Signature;
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use walrus_encoder::{Axis, BlobId, EncodingType, Primary, Secondary, ShardIndex, SliverPairIndex, VerifiedMetadata};

use crate::certificate::{
    confirmation_message, verify_confirmation, CertificateBuilder, ConfirmationError, Persistence,
};
use crate::chain::{BlobObject, ChainError, Committee, RegisterRequest, Registered};
use crate::client::{list_faults, Client, NodeFault};
use crate::node_client::{NodeClient, NodeError};
use crate::spill::{Source, SpillError, SpilledSlivers};

/// Progress of a store, for a progress bar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreEvent {
    /// Encoding is done: this many bytes of slivers are to be sent.
    Encoded { total_bytes: u64 },
    /// A sliver of this many bytes reached a node.
    Sent { bytes: u64 },
    /// Nodes holding `weight` shards have confirmed; `needed` make a certificate.
    Confirmed { weight: usize, needed: usize },
}

pub type ProgressFn = Arc<dyn Fn(StoreEvent) + Send + Sync>;

/// What to store the blob as.
#[derive(Clone)]
pub struct StoreOptions {
    /// Epochs ahead of the current one the blob is stored for.
    pub epochs: u32,
    pub deletable: bool,
    /// Store even if the blob is already certified long enough.
    pub force: bool,
    pub progress: Option<ProgressFn>,
}

impl StoreOptions {
    fn report(&self, event: StoreEvent) {
        if let Some(progress) = &self.progress {
            progress(event);
        }
    }
}

/// Where the blob's object came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResourceOperation {
    /// Storage reserved and the blob registered now.
    RegisterFromScratch { epochs_ahead: u32 },
    /// This wallet's earlier registration of the blob, not certified yet: a store resumed
    /// after a failure, at no new cost.
    ReuseRegistration,
    /// The blob registered now on storage the wallet owned (freed by a deletion, say): only
    /// the write fee was paid.
    ReuseStorage,
}

/// What a store did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreOutcome {
    /// A certified permanent blob object already covers the epochs asked for.
    AlreadyCertified { blob: BlobObject },
    NewlyCreated {
        blob: BlobObject,
        /// FROST charged for reserving and registering.
        cost: u64,
        encoded_length: u64,
        operation: ResourceOperation,
        /// Nodes that did not confirm before the blob was certified.
        faults: Vec<NodeFault>,
    },
}

impl StoreOutcome {
    pub fn blob(&self) -> &BlobObject {
        match self {
            StoreOutcome::AlreadyCertified { blob } | StoreOutcome::NewlyCreated { blob, .. } => blob,
        }
    }

    /// The publisher's `BlobStoreResult` JSON.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            StoreOutcome::AlreadyCertified { blob } => serde_json::json!({"alreadyCertified": {
                "blobId": blob.blob_id.to_string(),
                "objectId": blob.object_id,
                "endEpoch": blob.end_epoch,
            }}),
            StoreOutcome::NewlyCreated { blob, cost, encoded_length, operation, .. } => {
                let operation = match operation {
                    ResourceOperation::RegisterFromScratch { epochs_ahead } => serde_json::json!({
                        "registerFromScratch": {"encodedLength": encoded_length, "epochsAhead": epochs_ahead},
                    }),
                    ResourceOperation::ReuseRegistration => {
                        serde_json::json!({"reuseRegistration": {"encodedLength": encoded_length}})
                    }
                    ResourceOperation::ReuseStorage => {
                        serde_json::json!({"reuseStorage": {"encodedLength": encoded_length}})
                    }
                };
                serde_json::json!({"newlyCreated": {
                    "blobObject": blob.to_json(),
                    "resourceOperation": operation,
                    "cost": cost,
                }})
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the blob cannot be encoded: {0}")]
    Encode(#[from] walrus_encoder::Error),
    #[error("cannot encode the blob through a temporary file of its slivers: {0}")]
    Spill(std::io::Error),
    #[error("cannot read {path}: {source}")]
    Input { path: std::path::PathBuf, source: std::io::Error },
    #[error("chain: {0}")]
    Chain(#[from] ChainError),
    #[error("--epochs must be at least 1")]
    NoEpochs,
    #[error(
        "cannot certify blob {blob_id} (object {object_id}): nodes holding {weight} of {n_shards} shards confirmed, \
         {needed} needed; {} node(s) failed:{}",
        faults.len(),
        list_faults(faults)
    )]
    NotEnoughConfirmations {
        blob_id: BlobId,
        object_id: crate::chain::ObjectId,
        weight: usize,
        needed: usize,
        n_shards: u16,
        faults: Vec<NodeFault>,
    },
}

/// One sliver of the pairs a node holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Part {
    pair: SliverPairIndex,
    primary: bool,
}

/// The blob to store: in memory (a publisher's request body) or in a file.
enum Input {
    Memory(Vec<u8>),
    File(std::fs::File, u64),
}

/// Why a node did not confirm.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error(transparent)]
    Node(#[from] NodeError),
    #[error("invalid confirmation: {0}")]
    Confirmation(#[from] ConfirmationError),
}

/// What the uploads to all nodes share.
struct Upload {
    client: Client,
    committee: Committee,
    metadata: VerifiedMetadata,
    /// Read back sliver by sliver as they are sent.
    slivers: Arc<SpilledSlivers>,
    persistence: Persistence,
    message: Vec<u8>,
    options: StoreOptions,
    /// Nodes may hold parts of the blob from an earlier attempt: ask before sending.
    resumed: bool,
}

enum Report {
    Confirmed(usize, Box<BLS12381Signature>),
    Failed(usize, Failure),
}

/// What storing a blob would be, without storing it (a dry run).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Estimate {
    pub blob_id: BlobId,
    pub unencoded_size: u64,
    /// The size storage is charged for.
    pub encoded_size: u64,
    /// FROST for reserving `epochs` epochs and registering.
    pub cost: u64,
    /// The Merkle root a registration names (see [`RegisterRequest::root_hash`]).
    pub root_hash: [u8; 32],
}

impl Client {
    /// The blob ID, sizes and cost of storing `blob` for `epochs` epochs.
    pub async fn estimate(&self, blob: Vec<u8>, epochs: u32) -> Result<Estimate, StoreError> {
        let n_shards = self.chain.n_shards().await?;
        let prices = self.chain.prices().await?;
        let metadata = tokio::task::spawn_blocking(move || walrus_encoder::compute_metadata(n_shards, &blob))
            .await
            .expect("encoding does not panic")?;
        let layout = metadata.layout();
        Ok(Estimate {
            blob_id: metadata.blob_id(),
            unencoded_size: layout.unencoded_length(),
            encoded_size: layout.encoded_length(),
            cost: prices.cost(layout.encoded_length(), epochs),
            root_hash: metadata.metadata().root_hash().bytes(),
        })
    }

    /// Stores `blob` for `options.epochs` epochs and certifies it.
    pub async fn store(&self, blob: Vec<u8>, options: StoreOptions) -> Result<StoreOutcome, StoreError> {
        self.store_from(Input::Memory(blob), options).await
    }

    /// Stores the file at `path` like [`Self::store`], reading it as encoding goes: neither the
    /// file nor its slivers are ever in memory whole.
    pub async fn store_file(&self, path: &std::path::Path, options: StoreOptions) -> Result<StoreOutcome, StoreError> {
        let input_error = |source| StoreError::Input { path: path.to_owned(), source };
        let file = std::fs::File::open(path).map_err(input_error)?;
        let stat = file.metadata().map_err(input_error)?;
        if !stat.is_file() {
            return Err(input_error(std::io::Error::other("not a regular file")));
        }
        let len = stat.len();
        self.store_from(Input::File(file, len), options).await
    }

    async fn store_from(&self, input: Input, options: StoreOptions) -> Result<StoreOutcome, StoreError> {
        if options.epochs == 0 {
            return Err(StoreError::NoEpochs);
        }
        let committee = self.chain.committee().await?;
        let n_shards = committee.n_shards();
        let (metadata, slivers) = tokio::task::spawn_blocking(move || {
            let source = match &input {
                Input::Memory(blob) => Source::Memory(blob),
                Input::File(file, len) => Source::File { file, len: *len },
            };
            SpilledSlivers::encode(n_shards, source)
        })
        .await
        .expect("encoding does not panic")
        .map_err(|e| match e {
            SpillError::Encode(e) => StoreError::Encode(e),
            SpillError::Io(e) => StoreError::Spill(e),
        })?;
        let metadata = &metadata;
        let blob_id = metadata.blob_id();
        let wanted_end = committee.epoch + options.epochs;
        let objects = self.chain.blob_objects(&blob_id).await?;
        if !options.force {
            // Only a permanent blob is sure to stay: another's deletable blob may go at any time.
            let covering = objects
                .iter()
                .filter(|o| o.certified_epoch.is_some() && !o.deletable && o.end_epoch >= wanted_end)
                .max_by_key(|o| o.end_epoch);
            if let Some(blob) = covering {
                return Ok(StoreOutcome::AlreadyCertified { blob: *blob });
            }
        }
        let layout = metadata.layout();
        let reusable = objects
            .iter()
            .filter(|o| o.owned && o.certified_epoch.is_none() && o.deletable == options.deletable)
            .filter(|o| o.end_epoch >= wanted_end)
            .min_by_key(|o| o.end_epoch);
        let (registered, operation) = match reusable {
            Some(blob) => {
                (Registered { blob: *blob, cost: 0, reused_storage: false }, ResourceOperation::ReuseRegistration)
            }
            None => {
                let request = RegisterRequest {
                    blob_id,
                    root_hash: metadata.metadata().root_hash().bytes(),
                    unencoded_size: layout.unencoded_length(),
                    encoded_size: layout.encoded_length(),
                    encoding_type: EncodingType::RS2 as u8,
                    epochs_ahead: options.epochs,
                    deletable: options.deletable,
                };
                let registered = self.chain.register(&request).await?;
                let operation = if registered.reused_storage {
                    ResourceOperation::ReuseStorage
                } else {
                    ResourceOperation::RegisterFromScratch { epochs_ahead: options.epochs }
                };
                (registered, operation)
            }
        };
        let object_id = registered.blob.object_id;
        let persistence = if options.deletable { Persistence::Deletable(object_id) } else { Persistence::Permanent };
        options.report(StoreEvent::Encoded { total_bytes: slivers.total_bytes() });

        let message = confirmation_message(committee.epoch, &blob_id, persistence);
        let resumed = operation == ResourceOperation::ReuseRegistration;
        let upload = Arc::new(Upload {
            client: self.clone(),
            committee,
            metadata: metadata.clone(),
            slivers: Arc::new(slivers),
            persistence,
            message,
            options,
            resumed,
        });
        let (certificate, weight, faults) = upload.run().await;
        let committee = &upload.committee;
        let Some(certificate) = certificate else {
            return Err(StoreError::NotEnoughConfirmations {
                blob_id,
                object_id,
                weight,
                needed: committee.quorum_weight(),
                n_shards,
                faults,
            });
        };
        let blob = self.chain.certify(&object_id, &certificate).await?;
        Ok(StoreOutcome::NewlyCreated {
            blob,
            cost: registered.cost,
            encoded_length: layout.encoded_length(),
            operation,
            faults,
        })
    }
}

impl Upload {
    /// Uploads to every node at once; returns the certificate once a quorum confirmed (after
    /// letting the others finish for a while), the confirmed weight, and the nodes that had not
    /// confirmed.
    async fn run(self: &Arc<Self>) -> (Option<crate::Certificate>, usize, Vec<NodeFault>) {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut tasks = JoinSet::new();
        for index in 0..self.committee.members.len() {
            let (upload, tx) = (self.clone(), tx.clone());
            tasks.spawn(async move {
                let report = match upload.serve_node(index).await {
                    Ok(signature) => Report::Confirmed(index, Box::new(signature)),
                    Err(failure) => Report::Failed(index, failure),
                };
                let _ = tx.send(report);
            });
        }
        drop(tx);
        let mut builder = CertificateBuilder::new(&self.committee, self.message.clone());
        let mut failures: Vec<(usize, String)> = Vec::new();
        let mut deadline = None;
        loop {
            let report = match deadline {
                None => rx.recv().await,
                Some(deadline) => tokio::time::timeout_at(deadline, rx.recv()).await.unwrap_or(None),
            };
            match report {
                Some(Report::Confirmed(index, signature)) => {
                    builder.add(index, *signature);
                    let needed = self.committee.quorum_weight();
                    self.options.report(StoreEvent::Confirmed { weight: builder.weight(), needed });
                    if builder.is_quorum() && deadline.is_none() {
                        deadline = Some(tokio::time::Instant::now() + self.client.config.after_quorum);
                    }
                }
                Some(Report::Failed(index, failure)) => failures.push((index, failure.to_string())),
                None => break,
            }
        }
        tasks.abort_all();
        let members = &self.committee.members;
        let mut faults: Vec<NodeFault> =
            failures.iter().map(|(i, reason)| NodeFault::new(&members[*i], reason)).collect();
        for (i, member) in members.iter().enumerate() {
            if !builder.has_signed(i) && !failures.iter().any(|(f, _)| *f == i) {
                faults.push(NodeFault::new(member, "had not confirmed when the certificate was complete"));
            }
        }
        let weight = builder.weight();
        (builder.finish(), weight, faults)
    }

    /// Sends node `index` the metadata and its slivers, retrying with backoff what it does not
    /// have yet, and returns its verified signature.
    async fn serve_node(&self, index: usize) -> Result<BLS12381Signature, Failure> {
        let config = &self.client.config;
        let member = &self.committee.members[index];
        let node = self.client.node(member);
        let rotation = self.metadata.rotation();
        let all: BTreeSet<Part> = member
            .shards
            .iter()
            .flat_map(|&s| {
                let pair = rotation.pair_on(ShardIndex(s));
                [Part { pair, primary: true }, Part { pair, primary: false }]
            })
            .collect();
        let mut pending = all.clone();
        let mut metadata_stored = false;
        let mut attempt = 0;
        let started = std::time::Instant::now();
        let mut catching_up = 0;
        loop {
            if attempt + catching_up > 0 {
                tokio::time::sleep(config.backoff(attempt + catching_up)).await;
            }
            match self.attempt(&node, member, attempt, &mut metadata_stored, &mut pending).await {
                Ok(signature) => return Ok(signature),
                Err(Failure::Node(NodeError::Refused { reason, .. }))
                    if reason == "NOT_REGISTERED" && started.elapsed() < config.registration_wait =>
                {
                    catching_up += 1;
                }
                Err(Failure::Node(e)) if e.is_transient() && attempt + 1 < config.max_attempts => {
                    // The node lost or never kept something it accepted: ask about everything
                    // again (the retry checks before sending).
                    if matches!(&e, NodeError::Refused { reason, .. } if reason == "MISSING_SLIVERS") {
                        pending = all.clone();
                        metadata_stored = false;
                    }
                    attempt += 1;
                }
                Err(failure) => return Err(failure),
            }
        }
    }

    async fn attempt(
        &self,
        node: &NodeClient,
        member: &crate::Member,
        attempt: u32,
        metadata_stored: &mut bool,
        pending: &mut BTreeSet<Part>,
    ) -> Result<BLS12381Signature, Failure> {
        let blob_id = self.metadata.blob_id();
        if !*metadata_stored {
            node.put_metadata(&self.metadata).await?;
            *metadata_stored = true;
        }
        let parts: Vec<Part> = pending.iter().copied().collect();
        let mut sent = futures::stream::iter(parts)
            .map(|part| self.send_part(node, part, attempt > 0 || self.resumed))
            .buffer_unordered(self.client.config.requests_per_node);
        let mut first_error = None;
        while let Some((part, result)) = sent.next().await {
            match result {
                Ok(bytes) => {
                    pending.remove(&part);
                    self.options.report(StoreEvent::Sent { bytes });
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_error {
            return Err(e.into());
        }
        let signed = node.confirmation(&blob_id, self.persistence, self.client.config.confirmation_wait).await?;
        Ok(verify_confirmation(&self.message, &member.public_key, &signed.message, &signed.signature)?)
    }

    /// Sends one sliver, read from the spill only now so that the bytes in memory are those in
    /// flight; on a retry, first asks whether the node already has it.
    async fn send_part(&self, node: &NodeClient, part: Part, check_first: bool) -> (Part, Result<u64, NodeError>) {
        let result = if part.primary {
            self.send_sliver::<Primary>(node, part.pair, check_first).await
        } else {
            self.send_sliver::<Secondary>(node, part.pair, check_first).await
        };
        (part, result)
    }

    async fn send_sliver<A: Axis>(
        &self,
        node: &NodeClient,
        pair: SliverPairIndex,
        check_first: bool,
    ) -> Result<u64, NodeError> {
        let blob_id = self.metadata.blob_id();
        if !(check_first && node.has_sliver::<A>(&blob_id, pair).await?) {
            let slivers = self.slivers.clone();
            let body = tokio::task::spawn_blocking(move || slivers.sliver_bcs::<A>(pair))
                .await
                .expect("reading a sliver does not panic")
                // The spill is this process's own file: losing it is not the node's fault, but
                // the node gets no sliver either; the message says which it is.
                .map_err(|e| NodeError::Unreachable(format!("cannot read the spilled sliver: {e}")))?;
            node.put_sliver_bcs::<A>(&blob_id, pair, body).await?;
        }
        Ok(self.slivers.sliver_len::<A>() as u64)
    }
}
