//! What a `StakedWal` is worth now, computed as `move/walrus/sources/staking_pool.move` does:
//! the stake becomes shares at the exchange rate of its activation epoch and is worth those
//! shares at the rate of the epoch it is valued at. A pool records a rate (its WAL and shares)
//! in the `exchange_rates` table whenever it enters an epoch; a pool outside the committee
//! earns nothing and records rates only where its stake changed, so its latest rate is what
//! its shares are worth until it next earns.

use std::collections::HashMap;

use serde::Deserialize;
use sui_sdk_types::{Address, TypeTag};

use super::full_node::{FullNode, NodeError};

/// A pool's WAL and shares when it entered an epoch (`staking_pool::ExchangeRate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct ExchangeRate {
    pub wal: u128,
    pub shares: u128,
}

impl ExchangeRate {
    /// `staking_pool::to_shares`: 1:1 while either side is zero.
    pub fn to_shares(&self, wal: u64) -> u64 {
        if self.wal == 0 || self.shares == 0 {
            return wal;
        }
        // Move casts back to u64 and aborts on overflow; a rate that overflows is not one the
        // pool can hold, so saturating shows it rather than wrapping.
        u64::try_from(u128::from(wal) * self.shares / self.wal).unwrap_or(u64::MAX)
    }

    /// `staking_pool::to_wal`.
    pub fn to_wal(&self, shares: u64) -> u64 {
        if self.wal == 0 || self.shares == 0 {
            return shares;
        }
        u64::try_from(u128::from(shares) * self.wal / self.shares).unwrap_or(u64::MAX)
    }
}

/// The fields of `StakingPool` up to the ones the value needs, in the declared order.
#[derive(Deserialize)]
struct StakingPool {
    _id: [u8; 32],
    _state: PoolState,
    node_info: NodeInfo,
    _voting_params: (u64, u64, u64),
    _commission_rate: u16,
    _pending_commission_rate: Vec<(u32, u16)>,
    _wal_balance: u64,
    _num_shares: u64,
    _pending_stake: Vec<(u32, u64)>,
    _pending_withdraw_shares: Vec<(u32, u64)>,
    _pre_active_withdrawals: Vec<(u32, u64)>,
    /// `Table<u32, ExchangeRate>`: its UID is the parent of the rates' dynamic fields.
    exchange_rates: ([u8; 32], u64),
    _rewards_pool: u64,
    _commission: u64,
    latest_epoch: u32,
}

#[derive(Deserialize)]
enum PoolState {
    Active,
    Deregistered { _epoch: u32 },
}

/// `storage_node::NodeInfo` (`Element<…>` is a struct of one byte vector).
#[derive(Deserialize)]
struct NodeInfo {
    name: String,
    _node_id: [u8; 32],
    network_address: String,
    _public_key: Vec<u8>,
    public_key_bytes: Vec<u8>,
    _network_public_key: Vec<u8>,
}

/// What a pool's stakes are valued with: the pool's latest epoch and its rates table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool {
    pub latest_epoch: u32,
    rates_table: Address,
}

impl Pool {
    /// Decodes a `StakingPool` object's contents.
    pub fn decode(contents: &[u8]) -> Result<Self, String> {
        let pool: StakingPool =
            bcs::from_bytes(contents).map_err(|e| format!("the StakingPool object does not decode: {e}"))?;
        Ok(Self { latest_epoch: pool.latest_epoch, rates_table: Address::new(pool.exchange_rates.0) })
    }
}

/// What a `StakingPool` says of its node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolNode {
    pub name: String,
    /// Where the node serves clients.
    pub network_address: String,
    /// The BLS key as registered (48 bytes, compressed).
    pub public_key: Vec<u8>,
}

/// The node of a `StakingPool` object's contents.
pub fn pool_node(contents: &[u8]) -> Result<PoolNode, String> {
    let pool: StakingPool =
        bcs::from_bytes(contents).map_err(|e| format!("the StakingPool object does not decode: {e}"))?;
    let info = pool.node_info;
    Ok(PoolNode { name: info.name, network_address: info.network_address, public_key: info.public_key_bytes })
}

/// A stake as the valuation needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stake {
    pub principal: u64,
    pub activation_epoch: u32,
    pub withdraw_epoch: Option<u32>,
}

impl Stake {
    /// The epoch whose rate values the stake: its withdrawal epoch once the pool reached it
    /// (what it will be paid), else the pool's latest epoch (what it is worth so far).
    pub fn valuation_epoch(&self, pool: &Pool) -> u32 {
        self.withdraw_epoch.map_or(pool.latest_epoch, |w| w.min(pool.latest_epoch))
    }
}

/// A stake's value, or why it could not be computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `value` FROST at the rate of `epoch`.
    Valued {
        value: u64,
        epoch: u32,
    },
    /// Not active by the valuation epoch: worth its principal, as `value_at_epoch` says.
    NotActive {
        value: u64,
    },
    Unknown(String),
}

/// `staking_pool::value_at_epoch` for `stake` at `epoch`, with the rates at hand; a missing
/// rate (the Move code would abort) is reported rather than guessed.
pub fn value_at_epoch(stake: &Stake, epoch: u32, rates: &HashMap<u32, ExchangeRate>) -> Value {
    if stake.activation_epoch > epoch {
        return Value::NotActive { value: stake.principal };
    }
    let (Some(at_activation), Some(at_epoch)) = (rates.get(&stake.activation_epoch), rates.get(&epoch)) else {
        let missing = if rates.contains_key(&stake.activation_epoch) { epoch } else { stake.activation_epoch };
        return Value::Unknown(format!("the pool records no exchange rate for epoch {missing}"));
    };
    Value::Valued { value: at_epoch.to_wal(at_activation.to_shares(stake.principal)), epoch }
}

/// Reads the pools of `stakes` and the rates their values need, and values each stake. A
/// pool or rate that cannot be read makes that stake's value unknown, with the reason.
pub async fn values(node: &FullNode, stakes: &[(Address, Stake)]) -> Vec<Value> {
    let mut pools: HashMap<Address, Result<Pool, String>> = HashMap::new();
    let mut rates: HashMap<Address, HashMap<u32, ExchangeRate>> = HashMap::new();
    let mut failures: HashMap<(Address, u32), String> = HashMap::new();
    let mut values = Vec::with_capacity(stakes.len());
    for (node_id, stake) in stakes {
        if !pools.contains_key(node_id) {
            pools.insert(*node_id, read_pool(node, *node_id).await);
        }
        let pool = match &pools[node_id] {
            Ok(pool) => *pool,
            Err(reason) => {
                values.push(Value::Unknown(reason.clone()));
                continue;
            }
        };
        let epoch = stake.valuation_epoch(&pool);
        let known = rates.entry(*node_id).or_default();
        for wanted in [stake.activation_epoch, epoch] {
            if wanted > epoch || known.contains_key(&wanted) || failures.contains_key(&(*node_id, wanted)) {
                continue;
            }
            match read_rate(node, &pool, wanted).await {
                Ok(Some(rate)) => {
                    known.insert(wanted, rate);
                }
                Ok(None) => {}
                Err(reason) => {
                    failures.insert((*node_id, wanted), reason);
                }
            }
        }
        let failure = [stake.activation_epoch, epoch].iter().find_map(|e| failures.get(&(*node_id, *e)));
        values.push(match failure {
            Some(reason) => Value::Unknown(reason.clone()),
            None => value_at_epoch(stake, epoch, known),
        });
    }
    values
}

async fn read_pool(node: &FullNode, node_id: Address) -> Result<Pool, String> {
    let object = node.contents(node_id).await.map_err(|e| format!("the pool cannot be read: {e}"))?;
    if !object.object_type.ends_with("::staking_pool::StakingPool") {
        return Err(format!("{node_id} is not a StakingPool but a {}", object.object_type));
    }
    Pool::decode(&object.contents)
}

async fn read_rate(node: &FullNode, pool: &Pool, epoch: u32) -> Result<Option<ExchangeRate>, String> {
    let field = node.dynamic_field(pool.rates_table, &TypeTag::U32, &epoch.to_le_bytes()).await;
    let field = field.map_err(|e: NodeError| format!("the exchange rate of epoch {epoch} cannot be read: {e}"))?;
    field
        .map(|bytes| {
            bcs::from_bytes(&bytes).map_err(|e| format!("the exchange rate of epoch {epoch} does not decode: {e}"))
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rates(list: &[(u32, u128, u128)]) -> HashMap<u32, ExchangeRate> {
        list.iter().map(|&(e, wal, shares)| (e, ExchangeRate { wal, shares })).collect()
    }

    #[test]
    fn a_stake_is_worth_its_shares_at_the_later_rate() {
        let stake = Stake { principal: 1_000, activation_epoch: 2, withdraw_epoch: None };
        // Entered epoch 2 at 3 WAL for 2 shares: 1000 WAL buys 666 shares (rounded down), which
        // at epoch 5's 2 WAL per share are worth 1332.
        let known = rates(&[(2, 3, 2), (5, 2_000, 1_000)]);
        assert_eq!(value_at_epoch(&stake, 5, &known), Value::Valued { value: 1_332, epoch: 5 });
        // An empty pool is 1:1.
        assert_eq!(value_at_epoch(&stake, 2, &rates(&[(2, 0, 0)])), Value::Valued { value: 1_000, epoch: 2 });
        assert_eq!(value_at_epoch(&stake, 1, &known), Value::NotActive { value: 1_000 });
        let Value::Unknown(reason) = value_at_epoch(&stake, 4, &known) else { panic!("valued without a rate") };
        assert!(reason.contains("epoch 4"), "{reason}");
        let Value::Unknown(reason) = value_at_epoch(&stake, 5, &rates(&[(5, 1, 1)])) else { panic!() };
        assert!(reason.contains("epoch 2"), "{reason}");
    }

    #[test]
    fn a_withdrawing_stake_is_valued_at_its_withdrawal_epoch_once_reached() {
        let pool = Pool { latest_epoch: 7, rates_table: Address::ZERO };
        let staked = Stake { principal: 1, activation_epoch: 1, withdraw_epoch: None };
        assert_eq!(staked.valuation_epoch(&pool), 7);
        let leaving = Stake { withdraw_epoch: Some(5), ..staked };
        assert_eq!(leaving.valuation_epoch(&pool), 5);
        let later = Stake { withdraw_epoch: Some(9), ..staked };
        assert_eq!(later.valuation_epoch(&pool), 7);
    }
}
