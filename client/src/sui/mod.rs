//! What running against a real Sui network needs: the Move packages' publish payloads
//! ([`package`]), the user's Sui keys ([`keys`]) and which of them signs ([`wallet`]), the
//! transactions built from explicit inputs ([`transactions`]) and their signing ([`signer`]),
//! a full node's gRPC API ([`full_node`]), the names of `move/walrus`'s aborts
//! ([`move_errors`]), what stakes are worth ([`stake_value`]), where a deployment lives
//! ([`deployment`]), the system's state and blob objects read through a full node
//! ([`blobs`]), the simulate-confirm-sign-execute path of every transaction ([`submit`]), the
//! client's chain interface on Sui ([`chain`]) and the `walrus` commands built on them
//! ([`cli`]).

pub mod blobs;
pub mod chain;
pub mod cli;
pub mod deployment;
pub mod full_node;
pub mod keys;
pub mod move_errors;
pub mod package;
pub mod signer;
pub mod stake_value;
pub mod submit;
pub mod transactions;
pub mod wallet;
