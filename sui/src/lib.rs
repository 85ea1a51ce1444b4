//! What sending Walrus transactions to a Sui network needs, shared by the `walrus` CLI and the
//! storage node (which reports `epoch_sync_done` itself): the Move packages' publish payloads
//! ([`package`]), Sui keys ([`keys`]) and which of them signs ([`wallet`]), transactions built
//! from explicit inputs ([`transactions`]) and their signing ([`signer`]), a full node's gRPC
//! API ([`full_node`]), the names of `move/walrus`'s aborts ([`move_errors`]), where a
//! deployment lives ([`deployment`]), an operator's `NodeCap` ([`node_cap`]) and the
//! simulate-confirm-sign-execute path of every transaction ([`submit`]).
//!
//! It is its own crate, not part of `walrus-client`, so that the node does not depend on the
//! client (its daemon, uploads and progress bars), which itself tests against the node.

pub mod deployment;
pub mod full_node;
pub mod keys;
pub mod move_errors;
pub mod node_cap;
pub mod package;
pub mod signer;
pub mod submit;
pub mod transactions;
pub mod wallet;
