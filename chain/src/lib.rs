//! Following the Walrus package on Sui, for every program that needs its events: the indexer
//! (which keeps them in PostgreSQL) and the storage node (which keeps blob state and the
//! committee in its own store).
//!
//! Data flows one way: [`source`] (checkpoint N from a folder, a store or a full node) →
//! [`checkpoint`] (decode) → [`events`] (our events, typed; package origins across upgrades), joined by
//! [`follow::events_of`]; [`validators`] checks checkpoints' certificates where a committee is
//! trusted. `testing` (feature `testing`) builds checkpoints for followers' tests.
//! [`messages`] holds what nodes sign for the contracts, which nodes, clients and the local
//! chain all build.

pub mod checkpoint;
pub mod committee;
pub mod events;
pub mod follow;
pub mod messages;
pub mod source;
#[cfg(feature = "testing")]
pub mod testing;
pub mod validators;

pub use messages::ObjectId;
