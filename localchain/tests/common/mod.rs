//! A small network for the tests: storage nodes with real BLS keys (from fixed seeds, so the
//! scripted scenario is the same on every run) and a client with WAL.

#![allow(dead_code)]

use fastcrypto::bls12381::min_pk::{BLS12381AggregateSignature, BLS12381KeyPair};
use fastcrypto::traits::{AggregateAuthenticator, KeyPair, Signer, ToFromBytes};
use rand::SeedableRng;
use sui_sdk_types::Address;
use walrus_localchain::genesis::{Balance, Genesis, NodeGenesis};
use walrus_localchain::state::State;

pub const GENESIS_TIME_MS: u64 = 1_700_000_000_000;
pub const EPOCH_MS: u64 = 60_000;
pub const WAL: u64 = 1_000_000_000;

pub fn address(tag: u8, n: u8) -> Address {
    let mut bytes = [tag; 32];
    bytes[31] = n;
    Address::new(bytes)
}

pub fn client() -> Address {
    address(0xC1, 1)
}

pub struct Network {
    pub keys: Vec<BLS12381KeyPair>,
    pub genesis: Genesis,
}

impl Network {
    /// `stakes[i]` WAL with node `i`; 10 shards.
    pub fn new(stakes: &[u64]) -> Self {
        let keys: Vec<BLS12381KeyPair> = (0..stakes.len())
            .map(|i| BLS12381KeyPair::generate(&mut rand::rngs::StdRng::seed_from_u64(100 + i as u64)))
            .collect();
        let nodes = keys
            .iter()
            .zip(stakes)
            .enumerate()
            .map(|(i, (key, stake))| {
                let sender = address(0x0A, i as u8);
                let public_key = key.public().as_bytes().to_vec();
                let message = walrus_chain::messages::proof_of_possession(0, &sender.into_inner(), &public_key);
                NodeGenesis {
                    name: format!("node-{i}"),
                    network_address: format!("127.0.0.1:{}", 9100 + i),
                    proof_of_possession: key.sign(&message).as_bytes().to_vec(),
                    public_key,
                    network_public_key: [vec![2], vec![i as u8; 32]].concat(),
                    sender,
                    commission_rate: 1000 * i as u16,
                    stake: stake * WAL,
                    storage_price: 100 + 10 * i as u64,
                    write_price: 20 + i as u64,
                    node_capacity: 1 << (30 + i),
                }
            })
            .collect();
        let genesis = Genesis {
            package_id: Some(address(0xEE, 0)),
            deployer: address(0xD0, 0),
            n_shards: 10,
            epoch_duration_ms: EPOCH_MS,
            max_epochs_ahead: 10,
            max_committee_size: 100,
            genesis_time_ms: Some(GENESIS_TIME_MS),
            balances: vec![Balance { address: client(), amount: 1_000_000 * WAL }],
            nodes,
        };
        Self { keys, genesis }
    }

    /// The key of the committee member at `index` (members are in node-ID order).
    fn member_key(&self, state: &State, index: usize) -> &BLS12381KeyPair {
        let member = &state.bls_committee.members[index];
        self.keys.iter().find(|k| k.public().as_bytes() == member.public_key.as_slice()).expect("a member's key")
    }

    /// A certificate over `message` by the committee members at `signers`: (signature, bitmap).
    pub fn certify(&self, state: &State, signers: &[usize], message: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let n = state.bls_committee.members.len();
        let mut bitmap = vec![0u8; n.div_ceil(8)];
        for &i in signers {
            bitmap[i / 8] |= 1 << (i % 8);
        }
        let signatures: Vec<_> = signers.iter().map(|&i| self.member_key(state, i).sign(message)).collect();
        let aggregate = BLS12381AggregateSignature::aggregate(&signatures).expect("aggregate");
        (aggregate.as_bytes().to_vec(), bitmap)
    }

    /// Every member signs.
    pub fn certify_all(&self, state: &State, message: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let all: Vec<usize> = (0..state.bls_committee.members.len()).collect();
        self.certify(state, &all, message)
    }
}

/// A blob's root hash and the blob ID it gives with `size` bytes.
pub fn blob(seed: u8, size: u64) -> ([u8; 32], [u8; 32]) {
    let root_hash = [seed; 32];
    (root_hash, walrus_localchain::rules::derive_blob_id(&root_hash, 1, size))
}
