//! The one path every transaction of the CLI takes: build it with the wallet's gas coins and
//! the node's reference gas price, simulate it, show what it costs, ask (unless told not to),
//! sign, execute, and wait until it is in a checkpoint. The budget is the simulation's cost
//! with a margin, so the user is never charged more than shown plus that margin; a transaction
//! that would fail is reported with its Move abort before anything is signed.

use std::time::Duration;

use sui_sdk_types::{Address, Digest, ObjectReference, Transaction};

use crate::full_node::{Failure, FullNode, GasUsed, NodeError, Outcome};
use crate::keys::SuiKey;
use crate::signer::{SignError, SignedTransaction};
use crate::transactions::{BuildError, Gas};

/// The most a transaction may budget, in MIST (Sui's `max_tx_gas`, 50 SUI).
pub const MAX_BUDGET: u64 = 50_000_000_000;
/// The most gas coins one transaction may pay with (Sui's `max_gas_payment_objects`).
const MAX_GAS_COINS: usize = 256;
/// MIST in one SUI.
pub const MIST_PER_SUI: u64 = 1_000_000_000;

/// How a transaction is sent.
#[derive(Debug, Clone, Copy)]
pub struct SubmitOptions {
    /// Stop after the simulation.
    pub dry_run: bool,
    /// How long to wait for the transaction to be in a checkpoint, and how often to ask.
    pub checkpoint_timeout: Duration,
    pub poll_interval: Duration,
}

impl Default for SubmitOptions {
    fn default() -> Self {
        Self { dry_run: false, checkpoint_timeout: Duration::from_secs(60), poll_interval: Duration::from_millis(500) }
    }
}

/// What the user is shown before confirming.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preview {
    /// What the transaction does, in words.
    pub action: String,
    pub gas_price: u64,
    /// The simulated cost.
    pub gas: GasUsed,
    /// The most it may charge.
    pub budget: u64,
}

impl std::fmt::Display for Preview {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let g = &self.gas;
        write!(
            f,
            "{}\n  simulated gas: {} SUI net (computation {} + storage {} - rebate {} MIST) at {} MIST/unit; budget {} SUI",
            self.action,
            sui(g.net()),
            g.computation,
            g.storage,
            g.rebate,
            self.gas_price,
            sui(i128::from(self.budget)),
        )
    }
}

/// An amount of MIST as SUI, with all nine decimals.
pub fn sui(mist: i128) -> String {
    let sign = if mist < 0 { "-" } else { "" };
    let mist = mist.unsigned_abs();
    let per = u128::from(MIST_PER_SUI);
    format!("{sign}{}.{:09}", mist / per, mist % per)
}

/// How a submission ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    /// `--dry-run`: simulated only.
    Simulated(Preview),
    /// Executed and in checkpoint `checkpoint`.
    Executed { preview: Preview, outcome: Outcome, checkpoint: u64 },
}

impl Submitted {
    /// The effects and events, if executed.
    pub fn outcome(&self) -> Option<&Outcome> {
        match self {
            Submitted::Simulated(_) => None,
            Submitted::Executed { outcome, .. } => Some(outcome),
        }
    }

    /// The object of type `walrus::module::name` the transaction created, if executed.
    pub fn created(&self, module: &str, name: &str) -> Option<sui_sdk_types::Address> {
        self.outcome()?.created_of_type(module, name).map(|c| *c.reference.object_id())
    }
}

/// Why a transaction was not sent or did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error(transparent)]
    Node(NodeError),
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error(transparent)]
    Sign(#[from] SignError),
    #[error("{address} has no SUI to pay gas with")]
    NoGas { address: String },
    #[error("not enough SUI for gas: the transaction may cost up to {} SUI, {address} holds {} SUI", sui(i128::from(*needed)), sui(i128::from(*available)))]
    InsufficientGas { address: String, needed: u64, available: u64 },
    #[error("the simulation says the transaction would fail, so nothing was signed: {0}")]
    WouldFail(Failure),
    #[error("the transaction was executed and failed (its gas is spent): {0}")]
    Failed(Failure),
    #[error("cancelled: nothing was signed")]
    Declined,
    #[error(
        "transaction {digest} was executed but is not in a checkpoint after {waited:?}; it may still land: look it up \
         by its digest before sending it again"
    )]
    NotCheckpointed { digest: Digest, waited: Duration },
    #[error("cannot wait for this sender's turn to send (lock file {}): {source}", path.display())]
    Turn { path: std::path::PathBuf, source: std::io::Error },
}

impl From<NodeError> for SubmitError {
    fn from(e: NodeError) -> Self {
        match e {
            NodeError::NotCheckpointed { digest, waited } => Self::NotCheckpointed { digest, waited },
            e => Self::Node(e),
        }
    }
}

/// Simulates the transaction `build` makes, shows `confirm` its [`Preview`], and unless
/// `options.dry_run` or `confirm` declines, signs it with `key`, executes it and waits for its
/// checkpoint. `build` is called twice: with a provisional budget for the simulation, then
/// with the budget it gave.
pub async fn submit(
    node: &FullNode,
    key: &SuiKey,
    action: String,
    build: impl Fn(&Gas) -> Result<Transaction, BuildError>,
    options: &SubmitOptions,
    confirm: &mut (dyn FnMut(&Preview) -> bool + Send),
) -> Result<Submitted, SubmitError> {
    let sender = key.address();
    let gas_price = node.reference_gas_price().await?;
    // The coins are read and simulated with in the sender's turn (see [`SenderTurn`]), and read
    // again in the next one, after the confirmation: another sender of this address may have
    // spent them in between.
    let turn = SenderTurn::take(sender).await?;
    let (coins, available) = gas_coins(node, sender).await?;
    let mut gas = Gas { sender, coins, price: gas_price, budget: available.min(MAX_BUDGET) };
    let simulated = match node.simulate(&build(&gas)?).await {
        Ok(outcome) => outcome,
        Err(NodeError::Failed(failure)) => return Err(SubmitError::WouldFail(failure)),
        Err(e) => return Err(e.into()),
    };
    drop(turn);
    gas.budget = simulated.gas.budget().min(MAX_BUDGET);
    covers(sender, gas.budget, available)?;
    let preview = Preview { action, gas_price, gas: simulated.gas, budget: gas.budget };
    if options.dry_run {
        return Ok(Submitted::Simulated(preview));
    }
    if !confirm(&preview) {
        return Err(SubmitError::Declined);
    }
    // Held until the transaction is in a checkpoint.
    let _turn = SenderTurn::take(sender).await?;
    let (coins, available) = gas_coins(node, sender).await?;
    covers(sender, gas.budget, available)?;
    gas.coins = coins;
    let signed = SignedTransaction::sign(build(&gas)?, key)?;
    let outcome = match node.execute(&signed).await {
        Ok(outcome) => outcome,
        Err(NodeError::Failed(failure)) => return Err(SubmitError::Failed(failure)),
        Err(e) => return Err(e.into()),
    };
    let checkpoint =
        node.wait_for_checkpoint(signed.digest(), options.checkpoint_timeout, options.poll_interval).await?;
    Ok(Submitted::Executed { preview, outcome, checkpoint })
}

/// Whether `available` MIST of `sender`'s coins cover a budget of `needed`.
fn covers(sender: Address, needed: u64, available: u64) -> Result<(), SubmitError> {
    if needed > available {
        return Err(SubmitError::InsufficientGas { address: sender.to_string(), needed, available });
    }
    Ok(())
}

/// `sender`'s SUI coins to pay gas with (at most [`MAX_GAS_COINS`]) and their balance.
async fn gas_coins(node: &FullNode, sender: Address) -> Result<(Vec<ObjectReference>, u64), SubmitError> {
    let mut coins = node.gas_coins(sender).await?;
    coins.truncate(MAX_GAS_COINS);
    let available = coins.iter().map(|c| c.balance).fold(0, u64::saturating_add);
    if available == 0 {
        return Err(SubmitError::NoGas { address: sender.to_string() });
    }
    Ok((coins.into_iter().map(|c| c.reference).collect(), available))
}

/// One sender's turn on this machine: an exclusive lock on a file named after the address,
/// held while its gas coins are read and used: for the simulation, and from the second
/// reading until the transaction is in a checkpoint (not while the user decides). Processes that
/// send from one address (the testbed's nodes share a wallet; a user may run two commands)
/// then spend the coins' versions one after the other. Two transactions sent at once with the
/// same versions are refused, and on Sui may lock those coins until the epoch ends.
struct SenderTurn {
    /// Locked while open: closing it (on drop) ends the turn.
    _file: std::fs::File,
}

impl SenderTurn {
    async fn take(sender: Address) -> Result<Self, SubmitError> {
        let path = std::env::temp_dir().join(format!("walrus-sui-sender-{sender}.lock"));
        let lock = path.clone();
        let locked = tokio::task::spawn_blocking(move || {
            // Another user's file (a shared temporary folder) can still be locked, read-only.
            let file = match std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&lock) {
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => std::fs::File::open(&lock)?,
                opened => opened?,
            };
            file.lock()?;
            Ok(Self { _file: file })
        });
        match locked.await {
            Ok(turn) => turn.map_err(|source| SubmitError::Turn { path, source }),
            Err(join) => std::panic::resume_unwind(join.into_panic()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mist_shows_as_sui_with_nine_decimals() {
        assert_eq!(sui(0), "0.000000000");
        assert_eq!(sui(1_500_000_000), "1.500000000");
        assert_eq!(sui(-2_500_000), "-0.002500000");
        assert_eq!(sui(i128::from(u64::MAX)), "18446744073.709551615");
    }
}
