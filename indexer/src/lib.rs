//! The Walrus indexer: follows Sui checkpoints, keeps every event of one Move package (ours,
//! or Walrus's on mainnet: the layouts are the same) in PostgreSQL with the current state they
//! imply, and serves it over HTTP.
//!
//! Data flows one way: [`source`] (checkpoint N from a folder, a store or a full node) →
//! [`checkpoint`] (decode) → [`process`] (our events, typed by [`events`], folded into a
//! batch) → [`store`] (one transaction with the watermark) → [`api`] (read).

pub mod api;
pub mod ingest;
pub mod process;
pub mod store;
