//! What running against a real Sui network needs beside the chain interface: the Move
//! packages' publish payloads ([`package`]), the user's Sui keys ([`keys`]), the transactions
//! built from explicit inputs ([`transactions`]) and their signing ([`signer`]).

pub mod keys;
pub mod package;
pub mod signer;
pub mod transactions;
