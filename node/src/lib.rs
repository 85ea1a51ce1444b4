//! A Walrus storage node: it accepts metadata and slivers for registered blobs, verifies them
//! against the blob ID before storing them durably, serves them back with recovery symbols,
//! and signs confirmations once it holds its part of a blob.
//!
//! The node is a library first, so tests can run a whole committee in one process; the
//! `walrus-node` binary wraps it. Its chain view changes only through [`ChainUpdate`]s applied
//! with the checkpoint they come from: mapped from the checkpoints it follows ([`Node::follow`])
//! or given directly ([`Node::apply`]).

mod api;
pub mod chain;
pub mod config;
mod error;
pub mod follow;
pub mod keys;
mod node;
mod report;
mod sliver_files;
pub mod store;
mod symbols;
mod sync;

pub use walrus_chain::messages;

pub use chain::{BlobObject, ChainUpdate, Committee, EventId, Member, ObjectId};
pub use follow::FollowConfig;
pub use node::{Node, DB_FILE};
pub use report::{SuiReporter, SyncReporter};
