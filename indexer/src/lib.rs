//! The Walrus indexer: follows Sui checkpoints, keeps every event of one Move package (ours,
//! or Walrus's on mainnet: the layouts are the same) in PostgreSQL with the current state they
//! imply, and serves it over HTTP.
//!
//! Data flows one way: `walrus_chain` (checkpoint N from a source, decoded into our typed
//! events) → [`verify`] (it continues the chain) → [`process`] (folded into a batch) → [`store`] (one transaction with the
//! watermark) → [`api`] (read, served by [`serve`], with the
//! explorer page of [`web`] on top). [`ingest`] runs the loop and reports to [`status`].

pub mod api;
pub mod ingest;
pub mod process;
pub mod serve;
pub mod status;
pub mod store;
pub mod verify;
pub mod web;
