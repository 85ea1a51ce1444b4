//! Reporting the node's shards in place (`staking::epoch_sync_done`): once the node is a member
//! of the current epoch's committee and no blob is pending for the shards it gained at the
//! epoch's start, it reports that epoch once. The reported epoch is kept in the store, so a
//! restart does not report again; a report the chain refuses as a duplicate counts as done;
//! other failures are retried with a growing pause, each time for the epoch current then (a
//! later epoch supersedes one never reported). Counted in `sync_done_reports_total{outcome}`.
//!
//! Where the report goes is a [`SyncReporter`]: a Sui full node (signed with the operator's
//! key, through `walrus-sui`'s submit path), the testbed's local chain, or nowhere (the node
//! only logs that it would report: a node without a key still runs).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use sui_sdk_types::Address;
use walrus_sui::deployment::Deployment;
use walrus_sui::full_node::{Failure, FullNode};
use walrus_sui::keys::SuiKey;
use walrus_sui::submit::{self, SubmitError, SubmitOptions, Submitted};
use walrus_sui::{node_cap, transactions, wallet};

use crate::chain::ObjectId;
use crate::config::ReportConfig;
use crate::node::NodeState;

const FIRST_PAUSE: Duration = Duration::from_secs(1);
const LONGEST_PAUSE: Duration = Duration::from_secs(60);
/// How often the conditions are checked again without a change noticed.
const RECHECK: Duration = Duration::from_secs(2);
/// How often syncs of blobs still pending for gained shards (given up, say) are started again.
const RESYNC: Duration = Duration::from_secs(60);
/// The abort of a second report for an epoch.
const DUPLICATE: &str = "EDuplicateSyncDone";

/// Where the node reports its shards in place.
pub enum SyncReporter {
    /// Nowhere: the node logs that it would report.
    Log,
    /// The testbed's local chain (`POST /v1/nodes/sync-done`), as the node's operator.
    LocalChain { url: String, operator: Address },
    /// A Sui full node, with the operator's key and its `NodeCap`.
    Sui(Box<SuiReporter>),
}

/// What reporting through a Sui full node needs.
pub struct SuiReporter {
    pub full_node: FullNode,
    pub deployment: Deployment,
    pub key: SuiKey,
    /// The `NodeCap` to use; by default the wallet's cap of this node.
    pub node_cap: Option<Address>,
}

/// How a report ended.
enum Reported {
    Sent,
    /// The chain already has this node's report for the epoch.
    AlreadyDone,
    /// Only logged (no chain to send to).
    Logged,
}

impl SyncReporter {
    /// The reporter the settings describe: reads the deployment file and the key now, so that a
    /// mistake stops the node at start-up.
    pub fn from_config(config: &ReportConfig) -> anyhow::Result<Self> {
        Ok(match config {
            ReportConfig::Log => Self::Log,
            ReportConfig::LocalChain { url, operator } => {
                Self::LocalChain { url: url.trim_end_matches('/').to_owned(), operator: *operator }
            }
            ReportConfig::Sui { deployment, full_node, keystore, address, node_cap } => {
                let deployment = Deployment::read(deployment)?;
                let key = wallet::key(keystore.as_deref(), *address)?;
                let url = full_node.clone().unwrap_or_else(|| deployment.full_node.clone());
                let full_node = FullNode::new(&url).with_context(|| format!("the full node {url}"))?;
                Self::Sui(Box::new(SuiReporter { full_node, deployment, key, node_cap: *node_cap }))
            }
        })
    }

    /// Where reports go, for the start-up log.
    pub fn describe(&self) -> String {
        match self {
            Self::Log => "nowhere (no --deployment or --local-chain): logged only".into(),
            Self::LocalChain { url, operator } => format!("the local chain {url} as {operator}"),
            Self::Sui(sui) => format!("Sui full node {} signed by {}", sui.full_node.url(), sui.key.address()),
        }
    }

    async fn send(&self, http: &reqwest::Client, node_id: ObjectId, epoch: u32) -> Result<Reported, String> {
        match self {
            Self::Log => Ok(Reported::Logged),
            Self::LocalChain { url, operator } => {
                let body = serde_json::json!({ "sender": operator.to_string(), "node_id": node_id.to_string(), "epoch": epoch });
                let url = format!("{url}/v1/nodes/sync-done");
                let response = http
                    .post(&url)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.to_string())
                    .timeout(Duration::from_secs(30))
                    .send()
                    .await
                    .map_err(|e| format!("{url}: {e}"))?;
                let status = response.status();
                let text = response.text().await.unwrap_or_default();
                if status.is_success() {
                    return Ok(Reported::Sent);
                }
                let error = serde_json::from_str::<serde_json::Value>(&text).ok();
                if error.as_ref().and_then(|e| e["error"].as_str()) == Some(DUPLICATE) {
                    return Ok(Reported::AlreadyDone);
                }
                Err(format!("{url}: {status}: {text}"))
            }
            Self::Sui(sui) => sui.send(Address::new(node_id.0), epoch).await,
        }
    }
}

impl SuiReporter {
    async fn send(&self, node_id: Address, epoch: u32) -> Result<Reported, String> {
        let owner = self.key.address();
        let caps = node_cap::owned(&self.full_node, &self.deployment, owner).await.map_err(|e| e.to_string())?;
        let cap = caps
            .into_iter()
            .find(|c| match self.node_cap {
                Some(id) => *c.reference.object_id() == id,
                None => c.node_id == node_id,
            })
            .ok_or_else(|| match self.node_cap {
                Some(id) => format!("{owner} owns no NodeCap {id} of this deployment"),
                None => format!("{owner} owns no NodeCap of node {node_id} in this deployment"),
            })?;
        if cap.node_id != node_id {
            return Err(format!(
                "the NodeCap {} is node {}'s, not {node_id}'s",
                cap.reference.object_id(),
                cap.node_id
            ));
        }
        if cap.last_epoch_sync_done >= epoch {
            return Ok(Reported::AlreadyDone);
        }
        let walrus = self.deployment.walrus;
        let action = format!("Report node {node_id}'s shards in place for epoch {epoch}");
        let sent = submit::submit(
            &self.full_node,
            &self.key,
            action,
            |gas| transactions::sync_done(gas, &walrus, &cap.reference, epoch),
            &SubmitOptions::default(),
            &mut |_| true,
        )
        .await;
        match sent {
            Ok(Submitted::Executed { .. }) => Ok(Reported::Sent),
            Ok(Submitted::Simulated(_)) => Err("only simulated".into()),
            Err(SubmitError::WouldFail(failure) | SubmitError::Failed(failure)) if is_duplicate(&failure) => {
                Ok(Reported::AlreadyDone)
            }
            Err(e) => Err(e.to_string()),
        }
    }
}

fn is_duplicate(failure: &Failure) -> bool {
    matches!(failure, Failure::Abort { error: Some(error), .. } if error.name == DUPLICATE)
}

/// The epoch to report now, if any: the current one, if the node is in its committee, has not
/// reported it and waits for no blob of the shards it gained.
fn due(state: &NodeState) -> Result<Option<u32>, crate::store::StoreError> {
    let committee = state.store.committee();
    if committee.member(&state.node_id).is_none() {
        return Ok(None);
    }
    if state.store.sync_reported()?.is_some_and(|reported| reported >= committee.epoch) {
        return Ok(None);
    }
    if !state.store.shard_syncs_pending()?.is_empty() {
        return Ok(None);
    }
    Ok(Some(committee.epoch))
}

/// Reports each epoch's sync once it is due, forever.
pub(crate) async fn run(state: Arc<NodeState>, to: SyncReporter) {
    tracing::info!(to = %to.describe(), "reporting shards in place (epoch_sync_done)");
    let mut changed = state.chain_changed.subscribe();
    let mut pause = FIRST_PAUSE;
    let mut logged = None;
    let mut resynced = Instant::now();
    loop {
        let due = match due(&state) {
            Ok(due) => due.filter(|&epoch| logged != Some(epoch)),
            Err(error) => {
                tracing::error!(%error, "cannot read the store to decide on reporting the sync");
                None
            }
        };
        if let Some(epoch) = due {
            let outcome = match to.send(&state.http, state.node_id, epoch).await {
                Ok(Reported::Logged) => {
                    tracing::info!(epoch, "the node's shards are in place: it would report epoch_sync_done, but has no chain to send it to");
                    logged = Some(epoch);
                    "logged"
                }
                Ok(reported) => {
                    let (outcome, what) = match reported {
                        Reported::Sent => ("sent", "reported epoch_sync_done"),
                        _ => ("already_done", "epoch_sync_done was reported already"),
                    };
                    tracing::info!(epoch, "the node's shards are in place: {what}");
                    if let Err(error) = state.store.record_sync_reported(epoch) {
                        tracing::error!(epoch, %error, "cannot record the report; the chain refuses a second one");
                    }
                    pause = FIRST_PAUSE;
                    outcome
                }
                Err(error) => {
                    tracing::warn!(epoch, %error, retry_in = ?pause, "cannot report epoch_sync_done; retrying");
                    state.record(|| metrics::counter!("sync_done_reports_total", "outcome" => "failed").increment(1));
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(LONGEST_PAUSE);
                    continue;
                }
            };
            state.record(|| metrics::counter!("sync_done_reports_total", "outcome" => outcome).increment(1));
            continue;
        }
        if resynced.elapsed() >= RESYNC {
            resynced = Instant::now();
            if let Ok(pending) = state.store.shard_syncs_pending() {
                for blob_id in pending {
                    tokio::spawn(crate::sync::sync_blob(state.clone(), blob_id));
                }
            }
        }
        tokio::select! {
            _ = changed.changed() => {}
            _ = state.sync_finished.notified() => {}
            _ = tokio::time::sleep(RECHECK) => {}
        }
    }
}
