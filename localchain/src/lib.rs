//! A local chain for one machine: a test stand-in for Sui and the `move/walrus` contracts, so
//! that the testbed can run storage nodes, clients and the indexer without a Sui network.
//! The contracts stay the source of truth: [`state`] applies their rules for the calls the
//! testbed needs and emits their events byte for byte (a generated Move test replays a
//! scripted scenario against `move/walrus` and compares); [`chain`] writes each transaction
//! into checkpoint files that `dir:` followers read; [`service`] serves it over HTTP.

mod as_text;
pub mod certificate;
pub mod chain;
pub mod error;
pub mod genesis;
pub mod rules;
pub mod service;
pub mod state;

pub use chain::{Executed, LocalChain};
pub use error::ChainError;
pub use genesis::Genesis;
pub use state::{Call, State};
