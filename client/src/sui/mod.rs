//! What running against a real Sui network needs beside the chain interface: the Move
//! packages' publish payloads ([`package`]), the user's Sui keys ([`keys`]), the transactions
//! built from explicit inputs ([`transactions`]) and their signing ([`signer`]), a full node's
//! gRPC API ([`full_node`]) and the names of `move/walrus`'s aborts ([`move_errors`]).

pub mod full_node;
pub mod keys;
pub mod move_errors;
pub mod package;
pub mod signer;
pub mod transactions;
