//! What running against a real Sui network needs. The parts the storage node shares live in
//! `walrus-sui` and are re-exported here: the Move packages' publish payloads ([`package`]),
//! the user's Sui keys ([`keys`]) and which of them signs ([`wallet`]), the transactions built
//! from explicit inputs ([`transactions`]) and their signing ([`signer`]), a full node's gRPC
//! API ([`full_node`]), the names of `move/walrus`'s aborts ([`move_errors`]), where a
//! deployment lives ([`deployment`]), an operator's `NodeCap` ([`node_cap`]) and the
//! simulate-confirm-sign-execute path of every transaction ([`submit`]). The client's own:
//! what stakes are worth ([`stake_value`]), the system's state and blob objects read through a
//! full node ([`blobs`]), the client's chain interface on Sui ([`chain`]) and the `walrus`
//! commands built on them ([`cli`]).

pub use walrus_sui::{
    deployment, full_node, keys, move_errors, node_cap, package, signer, submit, transactions, wallet,
};

pub mod blobs;
pub mod chain;
pub mod cli;
pub mod stake_value;
