//! The Walrus client: stores blobs through a committee of storage nodes and reads them back.
//!
//! Storing encodes a blob ([`walrus_encoder`]), registers it on chain, sends every node the
//! metadata and the sliver pairs of its shards, gathers the nodes' signed confirmations into a
//! [`Certificate`] and certifies the blob on chain. Reading fetches metadata verified against
//! the blob ID and enough verified slivers to decode. Sui is reached only through
//! [`ChainAccess`], so the same client runs against Sui or the local chain.

pub mod certificate;
pub mod chain;
mod client;
pub mod config;
pub mod daemon;
pub mod node_client;
mod read;
mod spill;
pub mod store;
pub mod sui;

pub use certificate::{Certificate, Persistence};
pub use chain::{
    BlobObject, ChainAccess, ChainError, Committee, Member, ObjectId, Prices, RegisterRequest, Registered,
};
pub use client::{Client, NodeFault};
pub use config::ClientConfig;
pub use read::{ReadError, ReadOutcome, STREAM_DEPTH};
pub use store::{Estimate, ResourceOperation, StoreError, StoreEvent, StoreOptions, StoreOutcome};
