//! A Sui full node's gRPC API (`sui.rpc.v2`, through `sui-rpc`), for what the client reads and
//! sends: the reference gas price, objects' references and owners, the sender's coins,
//! simulation, execution, and waiting until a transaction is in a checkpoint. Transient errors
//! (the node restarting, overloaded or unreachable) are retried with a bounded backoff; a Move
//! abort is reported with the `move/walrus` constant it raised.

use std::time::Duration;

use sui_rpc::field::{FieldMask, FieldMaskUtil as _};
use sui_rpc::proto::sui::rpc::v2 as proto;
use sui_sdk_types::{Address, Digest, ObjectReference, Owner, Transaction, TypeTag};

use crate::move_errors::{self, MoveError};
use crate::signer::SignedTransaction;

/// The coin type of SUI, which pays for gas.
pub const SUI_COIN: &str = "0x2::coin::Coin<0x2::sui::SUI>";

/// How often and how patiently a call is retried when the node is unavailable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Attempts in all, including the first.
    pub attempts: u32,
    /// The wait after the first failure; it doubles after each further one.
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Self { attempts: 5, first_delay: Duration::from_millis(200), max_delay: Duration::from_secs(5) }
    }
}

/// Why a call to the full node did not give an answer.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("invalid full node address {url:?}: {reason}")]
    Address { url: String, reason: String },
    #[error("the full node at {url} is unavailable after {attempts} attempts: {last}")]
    Unavailable { url: String, attempts: u32, last: String },
    #[error("the full node refused the request: {0}")]
    Refused(tonic::Status),
    #[error("{0} not found on the full node")]
    NotFound(String),
    #[error("the full node's answer lacks or garbles {0}")]
    Malformed(&'static str),
    #[error("the transaction would fail: {0}")]
    Failed(Failure),
    #[error("transaction {digest} was not in a checkpoint after {waited:?}")]
    NotCheckpointed { digest: Digest, waited: Duration },
}

/// A transaction that fails, as simulation or execution reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// A Move abort; `error` is the `move/walrus` constant it raised, when the abort is ours.
    Abort { module: String, function: Option<String>, code: u64, error: Option<MoveError> },
    /// Anything else (out of gas, a wrong argument, …), as the node describes it.
    Other(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Abort { module, function, code, error } => {
                let place = match function {
                    Some(function) => format!("{module}::{function}"),
                    None => module.clone(),
                };
                match error {
                    Some(e) => write!(f, "{place} aborted with {}: {}", e.name, e.message),
                    None => write!(f, "{place} aborted with code {code}"),
                }
            }
            Failure::Other(description) => f.write_str(description),
        }
    }
}

/// An object's reference and owner: what a transaction needs to use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub reference: ObjectReference,
    /// For a shared object, `Owner::Shared(initial_shared_version)`.
    pub owner: Owner,
    /// The Move type (`0x…::module::Type`); `None` for a package.
    pub object_type: Option<String>,
}

/// A coin the sender owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coin {
    pub reference: ObjectReference,
    pub balance: u64,
}

/// What a transaction costs, in MIST.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GasUsed {
    pub computation: u64,
    pub storage: u64,
    pub rebate: u64,
}

impl GasUsed {
    /// The budget to send a simulated transaction with: computation and storage (the rebate is
    /// only paid back afterwards, so the budget must cover the storage in full) plus a fifth,
    /// as the shared objects it touches may have grown by the time it executes.
    pub fn budget(&self) -> u64 {
        let used = self.computation.saturating_add(self.storage);
        used.saturating_add(used / 5)
    }

    /// What the sender pays in the end.
    pub fn net(&self) -> i128 {
        i128::from(self.computation) + i128::from(self.storage) - i128::from(self.rebate)
    }
}

/// An event a transaction emitted: its Move type and BCS contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub event_type: String,
    pub contents: Vec<u8>,
}

/// An object a transaction created: a new object, or a package it published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    pub reference: ObjectReference,
    pub owner: Owner,
    /// The Move type (`0x…::module::Type`); `None` for a package.
    pub object_type: Option<String>,
}

/// The effects of a simulated or executed transaction that succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub digest: Digest,
    pub gas: GasUsed,
    pub events: Vec<Event>,
    pub created: Vec<Created>,
}

impl Outcome {
    /// The created object of Move type `module::name` (of any package), if there is one.
    pub fn created_of_type(&self, module: &str, name: &str) -> Option<&Created> {
        let suffix = format!("::{module}::{name}");
        self.created.iter().find(|c| c.object_type.as_deref().is_some_and(|t| t.ends_with(&suffix)))
    }

    /// The package the transaction published, if it published one.
    pub fn published_package(&self) -> Option<Address> {
        self.created.iter().find(|c| c.object_type.is_none()).map(|c| *c.reference.object_id())
    }
}

/// An object and its Move contents (BCS), as the wallet's listing reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedObject {
    pub reference: ObjectReference,
    pub contents: Vec<u8>,
}

/// An object's Move type and BCS contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoveObject {
    pub object_type: String,
    pub contents: Vec<u8>,
}

/// A client of one full node.
#[derive(Clone)]
pub struct FullNode {
    url: String,
    client: sui_rpc::Client,
    retry: Retry,
}

/// What the outcome of a transaction is read from.
const OUTCOME_MASK: &[&str] =
    &["digest", "effects.status", "effects.gas_used", "effects.changed_objects", "events.events"];

impl FullNode {
    /// A client of the full node at `url` (`http://host:port` or `https://…`). Nothing is sent
    /// until the first call.
    pub fn new(url: &str) -> Result<Self, NodeError> {
        let client = sui_rpc::Client::new(url)
            .map_err(|e| NodeError::Address { url: url.to_owned(), reason: e.message().to_owned() })?;
        Ok(Self { url: url.to_owned(), client, retry: Retry::default() })
    }

    /// The URL it was made with.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn with_retry(mut self, retry: Retry) -> Self {
        self.retry = retry;
        self
    }

    /// Runs `call` until it succeeds, fails for good, or the retries are spent.
    async fn call<T, F, Fut>(&self, mut call: F) -> Result<T, NodeError>
    where
        F: FnMut(sui_rpc::Client) -> Fut,
        Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let mut delay = self.retry.first_delay;
        let mut attempt = 1;
        loop {
            let status = match call(self.client.clone()).await {
                Ok(response) => return Ok(response.into_inner()),
                Err(status) => status,
            };
            if !is_transient(&status) {
                return Err(match status.code() {
                    tonic::Code::NotFound => NodeError::NotFound(status.message().to_owned()),
                    _ => NodeError::Refused(status),
                });
            }
            if attempt >= self.retry.attempts {
                return Err(NodeError::Unavailable {
                    url: self.url.clone(),
                    attempts: attempt,
                    last: format!("{:?}: {}", status.code(), status.message()),
                });
            }
            tracing::debug!(url = %self.url, attempt, code = ?status.code(), "full node unavailable, retrying");
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(self.retry.max_delay);
            attempt += 1;
        }
    }

    /// The current epoch's reference gas price, in MIST per unit.
    pub async fn reference_gas_price(&self) -> Result<u64, NodeError> {
        let response = self
            .call(|mut c| async move {
                let request =
                    proto::GetEpochRequest::latest().with_read_mask(FieldMask::from_paths(["reference_gas_price"]));
                c.ledger_client().get_epoch(request).await
            })
            .await?;
        response.epoch.and_then(|e| e.reference_gas_price).ok_or(NodeError::Malformed("the reference gas price"))
    }

    /// Object `id` with the fields of `paths`.
    async fn get_object(&self, id: Address, paths: &[&str]) -> Result<proto::Object, NodeError> {
        let response = self
            .call(|mut c| async move {
                let request = proto::GetObjectRequest::new(&id).with_read_mask(FieldMask::from_paths(paths));
                c.ledger_client().get_object(request).await
            })
            .await?;
        response.object.ok_or(NodeError::Malformed("the object"))
    }

    /// The current reference and owner of object `id`.
    pub async fn object(&self, id: Address) -> Result<ObjectInfo, NodeError> {
        let object = self.get_object(id, &["object_id", "version", "digest", "owner", "object_type"]).await?;
        object_info(object)
    }

    /// The reference, owner, type and BCS contents of object `id`, read at one version.
    pub async fn object_with_contents(&self, id: Address) -> Result<(ObjectInfo, Vec<u8>), NodeError> {
        let paths = ["object_id", "version", "digest", "owner", "object_type", "contents"];
        let mut object = self.get_object(id, &paths).await?;
        let contents = object.contents.take().and_then(|c| c.value);
        let contents = contents.ok_or(NodeError::Malformed("the object's contents"))?;
        Ok((object_info(object)?, contents.to_vec()))
    }

    /// The Move type and BCS contents of object `id`, of any owner (a pool inside the
    /// `Staking` object's table included).
    pub async fn contents(&self, id: Address) -> Result<MoveObject, NodeError> {
        let object = self.get_object(id, &["object_id", "object_type", "contents"]).await?;
        let object_type = object.object_type.ok_or(NodeError::Malformed("the object's type"))?;
        let contents = object.contents.and_then(|c| c.value).ok_or(NodeError::Malformed("the object's contents"))?;
        Ok(MoveObject { object_type, contents: contents.to_vec() })
    }

    /// The value of the dynamic field of `parent` (a `UID`, a `Table`'s included) named by
    /// the BCS `key` of type `key_type`, or `None` if there is no such field. The field is
    /// the object whose ID Sui derives from the parent and key; its contents are the
    /// `Field { id, name, value }`, of which this returns the BCS of `value`.
    pub async fn dynamic_field(
        &self,
        parent: Address,
        key_type: &TypeTag,
        key: &[u8],
    ) -> Result<Option<Vec<u8>>, NodeError> {
        let id = parent.derive_dynamic_child_id(key_type, key);
        let field = match self.contents(id).await {
            Ok(field) => field,
            Err(NodeError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        // The UID, then the key as given.
        let value = field.contents.get(Address::LENGTH..).and_then(|rest| rest.strip_prefix(key));
        value.map(|v| Some(v.to_vec())).ok_or(NodeError::Malformed("a dynamic field's name"))
    }

    /// Every coin of `coin_type` (`0x2::coin::Coin<T>`) that `owner` holds, largest first.
    pub async fn coins(&self, owner: Address, coin_type: &str) -> Result<Vec<Coin>, NodeError> {
        let objects = self.list_owned(owner, coin_type, &["object_id", "version", "digest", "balance"]).await?;
        let mut coins = objects
            .iter()
            .map(|object| {
                let balance = object.balance.ok_or(NodeError::Malformed("a coin's balance"))?;
                Ok(Coin { reference: reference(object)?, balance })
            })
            .collect::<Result<Vec<_>, NodeError>>()?;
        coins.sort_by_key(|c| std::cmp::Reverse(c.balance));
        Ok(coins)
    }

    /// Every object of Move type `object_type` that `owner` holds, with its contents.
    pub async fn owned_objects(&self, owner: Address, object_type: &str) -> Result<Vec<OwnedObject>, NodeError> {
        let objects = self.list_owned(owner, object_type, &["object_id", "version", "digest", "contents"]).await?;
        objects
            .iter()
            .map(|object| {
                let contents = object.contents.as_ref().and_then(|c| c.value.as_ref());
                let contents = contents.ok_or(NodeError::Malformed("an object's contents"))?.to_vec();
                Ok(OwnedObject { reference: reference(object)?, contents })
            })
            .collect()
    }

    /// The objects of `object_type` that `owner` holds, every page, with the fields of `mask`.
    async fn list_owned(
        &self,
        owner: Address,
        object_type: &str,
        mask: &[&str],
    ) -> Result<Vec<proto::Object>, NodeError> {
        let mut objects = Vec::new();
        let mut page_token = None;
        loop {
            let token = page_token.clone();
            let response = self
                .call(|mut c| {
                    let mut request = proto::ListOwnedObjectsRequest::default();
                    request.owner = Some(owner.to_string());
                    request.object_type = Some(object_type.to_owned());
                    request.page_size = Some(1000);
                    request.page_token = token.clone();
                    request.read_mask = Some(FieldMask::from_paths(mask));
                    async move { c.state_client().list_owned_objects(request).await }
                })
                .await?;
            objects.extend(response.objects);
            match response.next_page_token {
                Some(token) if !token.is_empty() => page_token = Some(token),
                _ => break,
            }
        }
        Ok(objects)
    }

    /// The SUI coins `owner` can pay gas with.
    pub async fn gas_coins(&self, owner: Address) -> Result<Vec<Coin>, NodeError> {
        self.coins(owner, SUI_COIN).await
    }

    /// Runs `transaction` without committing it: what it would cost and emit, or why it fails.
    pub async fn simulate(&self, transaction: &Transaction) -> Result<Outcome, NodeError> {
        let response = self
            .call(|mut c| {
                let mut request = proto::SimulateTransactionRequest::default();
                request.transaction = Some(transaction.clone().into());
                request.read_mask =
                    Some(FieldMask::from_paths(OUTCOME_MASK.iter().map(|p| format!("transaction.{p}"))));
                async move { c.execution_client().simulate_transaction(request).await }
            })
            .await?;
        outcome(response.transaction.ok_or(NodeError::Malformed("the simulated transaction"))?)
    }

    /// Executes a signed transaction. Resending it after a transient error is safe: the network
    /// executes a digest once.
    pub async fn execute(&self, signed: &SignedTransaction) -> Result<Outcome, NodeError> {
        let response = self
            .call(|mut c| {
                let mut request = proto::ExecuteTransactionRequest::default();
                request.transaction = Some(signed.transaction.clone().into());
                request.signatures = vec![signed.signature.clone().into()];
                request.read_mask = Some(FieldMask::from_paths(OUTCOME_MASK));
                async move { c.execution_client().execute_transaction(request).await }
            })
            .await?;
        outcome(response.transaction.ok_or(NodeError::Malformed("the executed transaction"))?)
    }

    /// Polls every `interval` until transaction `digest` is in a checkpoint, and returns the
    /// checkpoint; the full node may not know the transaction at all in the meantime.
    pub async fn wait_for_checkpoint(
        &self,
        digest: Digest,
        timeout: Duration,
        interval: Duration,
    ) -> Result<u64, NodeError> {
        let start = tokio::time::Instant::now();
        loop {
            let found = self
                .call(|mut c| async move {
                    let request = proto::GetTransactionRequest::new(&digest)
                        .with_read_mask(FieldMask::from_paths(["digest", "checkpoint"]));
                    c.ledger_client().get_transaction(request).await
                })
                .await;
            match found {
                Ok(response) => {
                    if let Some(checkpoint) = response.transaction.and_then(|t| t.checkpoint) {
                        return Ok(checkpoint);
                    }
                }
                Err(NodeError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
            if start.elapsed() + interval > timeout {
                return Err(NodeError::NotCheckpointed { digest, waited: start.elapsed() });
            }
            tokio::time::sleep(interval).await;
        }
    }
}

/// Errors a node gives while restarting, overloaded or unreachable, which a retry may cure.
fn is_transient(status: &tonic::Status) -> bool {
    matches!(
        status.code(),
        tonic::Code::Unavailable
            | tonic::Code::DeadlineExceeded
            | tonic::Code::ResourceExhausted
            | tonic::Code::Aborted
    )
}

/// An object's reference, owner and type (`None` for a package).
fn object_info(object: proto::Object) -> Result<ObjectInfo, NodeError> {
    let reference = reference(&object)?;
    let owner = owner(object.owner.as_ref().ok_or(NodeError::Malformed("the object's owner"))?)?;
    let object_type = object.object_type.filter(|t| t != "package");
    Ok(ObjectInfo { reference, owner, object_type })
}

fn reference(object: &proto::Object) -> Result<ObjectReference, NodeError> {
    let id = object.object_id.as_deref().and_then(|s| s.parse().ok()).ok_or(NodeError::Malformed("an object ID"))?;
    let version = object.version.ok_or(NodeError::Malformed("an object version"))?;
    let digest =
        object.digest.as_deref().and_then(|s| s.parse().ok()).ok_or(NodeError::Malformed("an object digest"))?;
    Ok(ObjectReference::new(id, version, digest))
}

fn owner(owner: &proto::Owner) -> Result<Owner, NodeError> {
    use proto::owner::OwnerKind;
    let address =
        || owner.address.as_deref().and_then(|s| s.parse().ok()).ok_or(NodeError::Malformed("an owner address"));
    let version = || owner.version.ok_or(NodeError::Malformed("an owner version"));
    Ok(match owner.kind() {
        OwnerKind::Address => Owner::Address(address()?),
        OwnerKind::Object => Owner::Object(address()?),
        OwnerKind::Shared => Owner::Shared(version()?),
        OwnerKind::Immutable => Owner::Immutable,
        OwnerKind::ConsensusAddress => Owner::ConsensusAddress { start_version: version()?, owner: address()? },
        _ => return Err(NodeError::Malformed("the owner kind")),
    })
}

fn outcome(transaction: proto::ExecutedTransaction) -> Result<Outcome, NodeError> {
    let digest = transaction
        .digest
        .as_deref()
        .and_then(|s| s.parse().ok())
        .ok_or(NodeError::Malformed("the transaction digest"))?;
    let effects = transaction.effects.ok_or(NodeError::Malformed("the effects"))?;
    let status = effects.status.ok_or(NodeError::Malformed("the execution status"))?;
    if status.success != Some(true) {
        return Err(NodeError::Failed(failure(status.error.unwrap_or_default())));
    }
    let gas = effects.gas_used.ok_or(NodeError::Malformed("the gas used"))?;
    let gas = GasUsed {
        computation: gas.computation_cost.unwrap_or(0),
        storage: gas.storage_cost.unwrap_or(0),
        rebate: gas.storage_rebate.unwrap_or(0),
    };
    let events = transaction
        .events
        .map(|e| e.events)
        .unwrap_or_default()
        .into_iter()
        .map(|e| Event {
            event_type: e.event_type.unwrap_or_default(),
            contents: e.contents.and_then(|b| b.value).map(|v| v.to_vec()).unwrap_or_default(),
        })
        .collect();
    let created = effects.changed_objects.iter().filter_map(|c| created(c).transpose()).collect::<Result<_, _>>()?;
    Ok(Outcome { digest, gas, events, created })
}

/// What a changed object says of an object the transaction created, if it created it.
fn created(changed: &proto::ChangedObject) -> Result<Option<Created>, NodeError> {
    use proto::changed_object::{IdOperation, OutputObjectState};
    if changed.id_operation() != IdOperation::Created {
        return Ok(None);
    }
    let id = changed.object_id.as_deref().and_then(|s| s.parse().ok());
    let id = id.ok_or(NodeError::Malformed("a created object's ID"))?;
    let version = changed.output_version.ok_or(NodeError::Malformed("a created object's version"))?;
    let digest = changed.output_digest.as_deref().and_then(|s| s.parse().ok());
    let digest = digest.ok_or(NodeError::Malformed("a created object's digest"))?;
    let package = changed.output_state() == OutputObjectState::PackageWrite;
    let owner = match (&changed.output_owner, package) {
        (Some(o), _) => owner(o)?,
        (None, true) => Owner::Immutable,
        (None, false) => return Err(NodeError::Malformed("a created object's owner")),
    };
    let object_type = if package { None } else { changed.object_type.clone() };
    Ok(Some(Created { reference: ObjectReference::new(id, version, digest), owner, object_type }))
}

fn failure(error: proto::ExecutionError) -> Failure {
    let Some(proto::execution_error::ErrorDetails::Abort(abort)) = error.error_details else {
        return Failure::Other(error.description.unwrap_or_else(|| "no description".to_owned()));
    };
    let code = abort.abort_code.unwrap_or(0);
    let location = abort.location.unwrap_or_default();
    let module = location.module.unwrap_or_default();
    let named = abort.clever_error.and_then(|c| c.constant_name).and_then(|name| move_errors::by_name(&module, &name));
    let error = named.or_else(|| move_errors::by_abort(&module, code));
    Failure::Abort { module, function: location.function_name, code, error }
}
