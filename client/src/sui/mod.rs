//! What running against a real Sui network needs beside the chain interface: the Move
//! packages' publish payloads ([`package`]) and the user's Sui keys ([`keys`]).

pub mod keys;
pub mod package;
