//! What running against a real Sui network needs beside the chain interface: the Move
//! packages' publish payloads ([`package`]).

pub mod package;
