//! The chain on disk: every committed call becomes a checkpoint file `<N>.binpb.zst` in
//! `DIR/checkpoints/` (the protobuf `sui.rpc.v2.Checkpoint` that `dir:` followers read),
//! linked to the previous one by digest, and the state is saved in `DIR/state.json`.
//!
//! Crash safety: the state file is written first (temp file, fsync, rename, fsync of the
//! folder) and carries the checkpoint it commits; the checkpoint file follows the same way.
//! On opening, a checkpoint the state names but the folder lacks is written again, so a call
//! that returned is never lost and a checkpoint never exists without its state.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use prost::Message;
use serde::{Deserialize, Serialize};
use sui_rpc::proto::sui::rpc::v2 as proto;
use sui_sdk_types::{Address, Digest};
use walrus_chain::events::{WalrusEvent, EVENTS_MODULE};

use crate::error::ChainError;
use crate::genesis::Genesis;
use crate::rules::blake2b256;
use crate::state::{Call, State, Tx};

const STATE_FILE: &str = "state.json";
const CHECKPOINTS_DIR: &str = "checkpoints";

/// A committed transaction, as callers see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Executed {
    /// Base58, as Sui shows it.
    pub digest: String,
    #[serde(skip)]
    pub digest_bytes: [u8; 32],
    pub sender: Address,
    pub time_ms: u64,
    pub call: Call,
    pub created: Vec<Address>,
    pub events: Vec<WalrusEvent>,
    pub checkpoint: u64,
}

#[derive(Serialize, Deserialize)]
struct Saved {
    state: State,
    /// The last checkpoint written, zstd-compressed protobuf in base64 (rewritten if missing).
    last_checkpoint: u64,
    last_digest: String,
    last_time_ms: u64,
    last_checkpoint_file: String,
}

pub struct LocalChain {
    dir: PathBuf,
    state: State,
    /// `None` before genesis.
    last: Option<(u64, [u8; 32], u64)>,
}

impl LocalChain {
    /// Creates the chain in `dir` (which must not hold one yet) and commits its genesis as
    /// checkpoint 0. Returns the genesis transactions.
    pub fn create(dir: &Path, genesis: &Genesis, now_ms: u64) -> Result<(Self, Vec<Executed>), ChainError> {
        if dir.join(STATE_FILE).exists() {
            return Err(ChainError::BadInput(format!("{} already holds a chain", dir.display())));
        }
        if genesis.nodes.is_empty() {
            return Err(ChainError::BadInput("the genesis file lists no storage nodes".into()));
        }
        fs::create_dir_all(dir.join(CHECKPOINTS_DIR)).map_err(|e| storage_error(dir, e))?;
        let mut chain = Self { dir: dir.to_owned(), state: State::default(), last: None };
        let time = genesis.genesis_time_ms.unwrap_or(now_ms);
        let package_id = genesis
            .package_id
            .unwrap_or_else(|| Address::new(blake2b256(&[b"walrus-localchain package", genesis.to_toml().as_bytes()])));
        let mut batch = Batch::new(&chain, time);
        batch.run(
            &mut chain.state,
            genesis.deployer,
            Call::Initialize {
                package_id,
                n_shards: genesis.n_shards,
                epoch_duration_ms: genesis.epoch_duration_ms,
                max_epochs_ahead: genesis.max_epochs_ahead,
                max_committee_size: genesis.max_committee_size,
                balances: genesis.balances.iter().map(|b| (b.address, b.amount)).collect(),
            },
        )?;
        let mut node_ids = Vec::new();
        for node in &genesis.nodes {
            let executed = batch.run(
                &mut chain.state,
                node.sender,
                Call::RegisterCandidate {
                    name: node.name.clone(),
                    network_address: node.network_address.clone(),
                    public_key: node.public_key.clone(),
                    network_public_key: node.network_public_key.clone(),
                    proof_of_possession: node.proof_of_possession.clone(),
                    commission_rate: node.commission_rate,
                    storage_price: node.storage_price,
                    write_price: node.write_price,
                    node_capacity: node.node_capacity,
                },
            )?;
            node_ids.push(executed.created[0]);
        }
        for (node, node_id) in genesis.nodes.iter().zip(node_ids) {
            batch.run(&mut chain.state, node.sender, Call::Stake { node_id, amount: node.stake })?;
        }
        batch.run(&mut chain.state, genesis.deployer, Call::VotingEnd)?;
        batch.run(&mut chain.state, genesis.deployer, Call::InitiateEpochChange)?;
        let executed = batch.commit(&mut chain)?;
        Ok((chain, executed))
    }

    /// Opens the chain in `dir`, writing again the last checkpoint if a crash lost it.
    pub fn open(dir: &Path) -> Result<Self, ChainError> {
        let path = dir.join(STATE_FILE);
        let text = fs::read_to_string(&path).map_err(|e| storage_error(&path, e))?;
        let saved: Saved = serde_json::from_str(&text)
            .map_err(|e| ChainError::Storage(format!("{}: not a local chain's state: {e}", path.display())))?;
        let digest: Digest = saved
            .last_digest
            .parse()
            .map_err(|e| ChainError::Storage(format!("{}: bad digest: {e}", path.display())))?;
        let chain = Self {
            dir: dir.to_owned(),
            state: saved.state,
            last: Some((saved.last_checkpoint, digest.into_inner(), saved.last_time_ms)),
        };
        let file = chain.checkpoint_path(saved.last_checkpoint);
        if !file.exists() {
            let bytes = STANDARD
                .decode(&saved.last_checkpoint_file)
                .map_err(|e| ChainError::Storage(format!("{}: bad checkpoint bytes: {e}", path.display())))?;
            write_atomically(&file, &bytes)?;
        }
        Ok(chain)
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    pub fn checkpoints_dir(&self) -> PathBuf {
        self.dir.join(CHECKPOINTS_DIR)
    }

    /// The last checkpoint's sequence number.
    pub fn last_checkpoint(&self) -> u64 {
        self.last.map_or(0, |(sequence, _, _)| sequence)
    }

    /// Runs one call as one transaction in its own checkpoint; on an abort nothing is written.
    pub fn execute(&mut self, sender: Address, call: Call, now_ms: u64) -> Result<Executed, ChainError> {
        let mut state = self.state.clone();
        let mut batch = Batch::new(self, now_ms);
        batch.run(&mut state, sender, call)?;
        let mut executed = batch.commit_with(self, state)?;
        Ok(executed.remove(0))
    }

    /// Moves to the next epoch as soon as the schedule allows it (`voting_end` then
    /// `initiate_epoch_change`, in one checkpoint): at `now_ms`, or at the epoch's due time
    /// if that is later, which jumps the chain's clock forward.
    pub fn advance_epoch(&mut self, sender: Address, now_ms: u64) -> Result<Vec<Executed>, ChainError> {
        let time = now_ms.max(self.state.next_epoch_start());
        let mut state = self.state.clone();
        let mut batch = Batch::new(self, time);
        batch.run(&mut state, sender, Call::VotingEnd)?;
        batch.run(&mut state, sender, Call::InitiateEpochChange)?;
        batch.commit_with(self, state)
    }

    fn checkpoint_path(&self, sequence: u64) -> PathBuf {
        self.dir.join(CHECKPOINTS_DIR).join(format!("{sequence}.binpb.zst"))
    }
}

/// The transactions of one checkpoint being built.
struct Batch {
    sequence: u64,
    previous: Option<[u8; 32]>,
    time_ms: u64,
    executed: Vec<Executed>,
}

impl Batch {
    fn new(chain: &LocalChain, now_ms: u64) -> Self {
        let (sequence, previous, time_ms) = match chain.last {
            None => (0, None, now_ms),
            // Checkpoint times never go backwards.
            Some((sequence, digest, last_time)) => (sequence + 1, Some(digest), now_ms.max(last_time)),
        };
        Self { sequence, previous, time_ms, executed: Vec::new() }
    }

    fn run(&mut self, state: &mut State, sender: Address, call: Call) -> Result<&Executed, ChainError> {
        let index = self.executed.len() as u64;
        let call_bytes = serde_json::to_vec(&call).expect("calls are plain data");
        let digest = blake2b256(&[
            b"walrus-localchain transaction",
            &self.previous.unwrap_or_default(),
            &self.sequence.to_le_bytes(),
            &index.to_le_bytes(),
            sender.as_bytes(),
            &call_bytes,
        ]);
        let mut tx = Tx::new(digest, sender, self.time_ms);
        state.apply(&mut tx, &call)?;
        self.executed.push(Executed {
            digest: Digest::new(digest).to_string(),
            digest_bytes: digest,
            sender,
            time_ms: self.time_ms,
            call,
            created: tx.created_objects,
            events: tx.events,
            checkpoint: self.sequence,
        });
        Ok(self.executed.last().expect("just pushed"))
    }

    fn commit(self, chain: &mut LocalChain) -> Result<Vec<Executed>, ChainError> {
        let state = chain.state.clone();
        self.commit_with(chain, state)
    }

    /// Writes the state (with the checkpoint) and then the checkpoint file; only then does the
    /// chain move on.
    fn commit_with(self, chain: &mut LocalChain, state: State) -> Result<Vec<Executed>, ChainError> {
        let package = state.package_id.expect("committed after initialisation");
        let mut digest_input = vec![self.sequence.to_le_bytes().to_vec(), self.time_ms.to_le_bytes().to_vec()];
        digest_input.push(self.previous.unwrap_or_default().to_vec());
        digest_input.extend(self.executed.iter().map(|tx| tx.digest_bytes.to_vec()));
        let parts: Vec<&[u8]> = std::iter::once(b"walrus-localchain checkpoint".as_slice())
            .chain(digest_input.iter().map(Vec::as_slice))
            .collect();
        let digest = blake2b256(&parts);
        let message = checkpoint_message(self.sequence, digest, self.previous, self.time_ms, package, &self.executed);
        let bytes = zstd::encode_all(message.encode_to_vec().as_slice(), 3)
            .map_err(|e| ChainError::Storage(format!("compressing checkpoint {}: {e}", self.sequence)))?;
        let saved = Saved {
            state,
            last_checkpoint: self.sequence,
            last_digest: Digest::new(digest).to_string(),
            last_time_ms: self.time_ms,
            last_checkpoint_file: STANDARD.encode(&bytes),
        };
        let json = serde_json::to_vec(&saved).expect("the state is plain data");
        write_atomically(&chain.dir.join(STATE_FILE), &json)?;
        write_atomically(&chain.checkpoint_path(self.sequence), &bytes)?;
        chain.state = saved.state;
        chain.last = Some((self.sequence, digest, self.time_ms));
        Ok(self.executed)
    }
}

/// The protobuf checkpoint followers read: each transaction with its digest and events.
fn checkpoint_message(
    sequence: u64,
    digest: [u8; 32],
    previous: Option<[u8; 32]>,
    time_ms: u64,
    package: Address,
    executed: &[Executed],
) -> proto::Checkpoint {
    let mut summary = proto::CheckpointSummary::default();
    summary.sequence_number = Some(sequence);
    summary.timestamp =
        Some(prost_types::Timestamp { seconds: (time_ms / 1000) as i64, nanos: ((time_ms % 1000) * 1_000_000) as i32 });
    summary.previous_digest = previous.map(|d| Digest::new(d).to_string());
    let mut checkpoint = proto::Checkpoint::default();
    checkpoint.sequence_number = Some(sequence);
    checkpoint.digest = Some(Digest::new(digest).to_string());
    checkpoint.summary = Some(summary);
    checkpoint.transactions = executed
        .iter()
        .map(|tx| {
            let mut message = proto::ExecutedTransaction::default();
            message.digest = Some(tx.digest.clone());
            let mut events = proto::TransactionEvents::default();
            events.events = tx
                .events
                .iter()
                .map(|event| {
                    let mut message = proto::Event::default();
                    message.package_id = Some(package.to_string());
                    message.module = Some(EVENTS_MODULE.to_owned());
                    message.sender = Some(tx.sender.to_string());
                    message.event_type = Some(format!("{package}::{EVENTS_MODULE}::{}", event.name()));
                    message.contents = Some(proto::Bcs::from(bcs::to_bytes(event).expect("events are plain data")));
                    message
                })
                .collect();
            message.events = Some(events);
            message
        })
        .collect();
    checkpoint
}

/// Temp file, fsync, rename, fsync of the folder: the file is whole or absent after a crash.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ChainError> {
    let tmp = path.with_extension("tmp");
    let mut file = fs::File::create(&tmp).map_err(|e| storage_error(&tmp, e))?;
    file.write_all(bytes).and_then(|()| file.sync_all()).map_err(|e| storage_error(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| storage_error(path, e))?;
    let parent = path.parent().expect("files live in a folder");
    fs::File::open(parent).and_then(|dir| dir.sync_all()).map_err(|e| storage_error(parent, e))
}

fn storage_error(path: &Path, error: std::io::Error) -> ChainError {
    ChainError::Storage(format!("{}: {error}", path.display()))
}
