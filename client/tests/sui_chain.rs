//! `SuiChain`, the client's `ChainAccess` on Sui, against the fake full node of `fake_sui`:
//! what it reads from the `System` and `Staking` objects, the pools and the wallet's `Blob`
//! objects, and the transactions it sends (which Move calls, with which objects and
//! arguments, checked by the fake as `move/walrus` would), with their aborts named.

mod fake_sui;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use fake_sui::{address, serve, Fake, FakeMember, MIN_STAKE, STORAGE_PRICE, WRITE_PRICE};
use fastcrypto::bls12381::min_pk::BLS12381KeyPair;
use fastcrypto::traits::{KeyPair as _, Signer as _, ToFromBytes as _};
use rand::SeedableRng as _;
use sui_sdk_types::Address;
use walrus_client::certificate::{confirmation_message, CertificateBuilder};
use walrus_client::sui::chain::SuiChain;
use walrus_client::sui::deployment::Deployment;
use walrus_client::sui::full_node::FullNode;
use walrus_client::sui::keys::SuiKey;
use walrus_client::sui::submit::SubmitOptions;
use walrus_client::{ChainAccess, ObjectId, Persistence, Prices, RegisterRequest};
use walrus_encoder::EncodingType;

/// 4 + 3 shards; epoch 3; storage up to 5 epochs ahead.
const EPOCH: u32 = 3;
const AHEAD: u32 = 5;

struct Env {
    fake: Fake,
    chain: SuiChain,
    key: SuiKey,
    bls: Vec<BLS12381KeyPair>,
    /// Committee nodes in the order of signer bitmaps.
    nodes: Vec<Address>,
    /// What the chain asked to confirm: (action, whether agreement was needed).
    asked: Arc<Mutex<Vec<(String, bool)>>>,
}

async fn env_with(wal: &[u64], agree: bool) -> Env {
    let key = SuiKey::generate();
    let fake = Fake::new(key.address(), &[5_000_000_000]);
    let walrus = fake.deploy(wal);
    let wal_package = fake.state().wal_package.unwrap();
    let url = serve(fake.clone()).await;
    let bls: Vec<BLS12381KeyPair> =
        (0..2).map(|i| BLS12381KeyPair::generate(&mut rand::rngs::StdRng::seed_from_u64(i))).collect();
    let (a, _) = fake.add_node(address(0x91));
    let (b, _) = fake.add_node(address(0x92));
    let members = [
        FakeMember {
            node: a,
            public_key: bls[0].public().as_bytes().to_vec(),
            shards: vec![0, 2, 4, 6],
            network_address: "a.example.org:9185".into(),
        },
        FakeMember {
            node: b,
            public_key: bls[1].public().as_bytes().to_vec(),
            shards: vec![1, 3, 5],
            network_address: "b.example.org:9185".into(),
        },
    ];
    fake.set_committee(EPOCH, &members, AHEAD);
    let deployment = Deployment { full_node: url.clone(), wal_package, walrus };
    let asked = Arc::new(Mutex::new(Vec::new()));
    let record = asked.clone();
    let options = SubmitOptions { poll_interval: Duration::from_millis(5), ..SubmitOptions::default() };
    let confirm = Arc::new(move |preview: &walrus_client::sui::submit::Preview, needs_yes: bool| {
        record.lock().unwrap().push((preview.action.clone(), needs_yes));
        agree
    });
    let chain = SuiChain::new(deployment, FullNode::new(&url).unwrap(), Some(key.clone()), options, confirm);
    let (bls, nodes) = if a < b { (bls, vec![a, b]) } else { (bls.into_iter().rev().collect(), vec![b, a]) };
    Env { fake, chain, key, bls, nodes, asked }
}

async fn env() -> Env {
    env_with(&[3 * MIN_STAKE, MIN_STAKE], true).await
}

/// The registration of `bytes` for `epochs` epochs on a 7-shard system.
fn request(bytes: &[u8], epochs: u32, deletable: bool) -> RegisterRequest {
    let metadata = walrus_encoder::compute_metadata(7, bytes).unwrap();
    let layout = metadata.layout();
    RegisterRequest {
        blob_id: metadata.blob_id(),
        root_hash: metadata.metadata().root_hash().bytes(),
        unencoded_size: layout.unencoded_length(),
        encoded_size: layout.encoded_length(),
        encoding_type: EncodingType::RS2 as u8,
        epochs_ahead: epochs,
        deletable,
    }
}

impl Env {
    fn calls(&self) -> Vec<String> {
        self.fake.state().calls.clone()
    }

    fn wal(&self) -> u64 {
        let state = self.fake.state();
        let mine = Some(self.key.address().to_string());
        state
            .objects
            .values()
            .filter(|o| o.object_type.as_deref() == Some(state.wal_coin.as_str()))
            .filter(|o| o.owner.as_ref().and_then(|w| w.address.clone()) == mine)
            .map(|o| o.balance.unwrap())
            .sum()
    }

    /// A certificate of the committee's signers `signers` (indices) for `message`.
    async fn certificate(&self, message: Vec<u8>, signers: &[usize]) -> walrus_client::Certificate {
        let committee = self.chain.committee().await.unwrap();
        let mut builder = CertificateBuilder::new(&committee, message.clone());
        for &i in signers {
            builder.add(i, self.bls[i].sign(&message));
        }
        builder.finish().expect("the signers are a quorum")
    }
}

#[tokio::test]
async fn the_committee_prices_and_limits_are_read_from_the_system_and_staking_objects() {
    let env = env().await;
    let chain = &env.chain;
    let committee = chain.committee().await.unwrap();
    assert_eq!(committee.epoch, EPOCH);
    let ids: Vec<ObjectId> = committee.members.iter().map(|m| m.node_id).collect();
    assert_eq!(ids, env.nodes.iter().map(|n| ObjectId(n.into_inner())).collect::<Vec<_>>());
    for (member, key) in committee.members.iter().zip(&env.bls) {
        assert_eq!(member.public_key, key.public().as_bytes(), "the key is the committee's, compressed");
    }
    let by_address = |address: &str| committee.members.iter().find(|m| m.network_address == address).unwrap();
    assert_eq!(by_address("a.example.org:9185").shards, [0, 2, 4, 6]);
    assert_eq!(by_address("b.example.org:9185").shards, [1, 3, 5]);
    assert_eq!(committee.n_shards(), 7);
    assert_eq!(chain.n_shards().await.unwrap(), 7);
    assert_eq!(chain.current_epoch().await.unwrap(), EPOCH);
    assert_eq!(chain.max_epochs_ahead().await.unwrap(), AHEAD);
    let prices = chain.prices().await.unwrap();
    assert_eq!(prices, Prices { storage_per_unit_epoch: STORAGE_PRICE, write_per_unit: WRITE_PRICE });
    assert!(chain.owned_blobs().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_blob_is_registered_certified_extended_and_deleted() {
    let env = env().await;
    let chain = &env.chain;
    let request = request(b"hello sui", 2, true);
    let before = env.wal();
    let registered = chain.register(&request).await.unwrap();
    assert_eq!(env.calls(), ["system::reserve_space_bounded", "system::register_blob_bounded"]);
    let prices = chain.prices().await.unwrap();
    assert_eq!(registered.cost, prices.cost(request.encoded_size, 2));
    assert_eq!(before - env.wal(), registered.cost, "the wallet paid what was reported");
    let blob = registered.blob;
    assert_eq!(
        (blob.blob_id, blob.size, blob.storage_size),
        (request.blob_id, request.unencoded_size, request.encoded_size)
    );
    assert_eq!((blob.registered_epoch, blob.start_epoch, blob.end_epoch), (EPOCH, EPOCH, EPOCH + 2));
    assert!(blob.owned && blob.deletable && blob.certified_epoch.is_none());
    let [on_chain]: [fake_sui::FakeBlob; 1] = env.fake.blobs().try_into().unwrap();
    assert_eq!((on_chain.id.into_inner(), on_chain.blob_id), (blob.object_id.0, request.blob_id.0));
    assert_eq!(chain.blob_objects(&request.blob_id).await.unwrap(), [blob]);
    assert_eq!(chain.blob_object(&blob.object_id).await.unwrap(), Some(blob));
    assert!(env.asked.lock().unwrap()[0].1, "registering spends WAL: the user is asked");

    // Both members sign: 7 of 7 shards.
    let message = confirmation_message(EPOCH, &request.blob_id, Persistence::Deletable(blob.object_id));
    let certificate = env.certificate(message, &[0, 1]).await;
    let certified = chain.certify(&blob.object_id, &certificate).await.unwrap();
    assert_eq!(certified.certified_epoch, Some(EPOCH));
    assert_eq!(env.calls()[2], "system::certify_blob");
    assert!(!env.asked.lock().unwrap()[1].1, "certifying finishes a store: shown, not asked");

    let before = env.wal();
    let extended = chain.extend(&blob.object_id, 1).await.unwrap();
    assert_eq!(extended.blob.end_epoch, EPOCH + 3);
    assert_eq!(extended.cost, request.encoded_size.div_ceil(Prices::UNIT_SIZE) * STORAGE_PRICE, "storage only");
    assert_eq!(before - env.wal(), extended.cost);
    assert_eq!(env.calls()[3], "system::extend_blob_bounded");

    chain.delete(&blob.object_id).await.unwrap();
    assert_eq!(env.calls()[4], "system::delete_blob");
    assert!(env.fake.blobs().is_empty());
    assert_eq!(chain.blob_object(&blob.object_id).await.unwrap(), None);
    let storage = env.fake.state().owned_of_type("storage_resource", "Storage");
    assert_eq!(storage, [Address::new(blob.storage_id.0)], "the freed storage stays with the wallet");
}

#[tokio::test]
async fn aborts_are_named_and_too_little_wal_is_refused_before_signing() {
    let poor = env_with(&[1_000], true).await;
    let chain = &poor.chain;
    // 1000 FROST buys no MiB for 2 epochs at 100 per epoch plus the 1000 write fee.
    let err = chain.register(&request(b"x", 2, true)).await.unwrap_err();
    assert!(err.0.contains("less than the") && err.0.contains("WAL needed"), "{err}");
    assert!(poor.calls().is_empty());

    let env = env().await;
    let chain = &env.chain;
    let err = chain.register(&request(b"x", AHEAD + 1, true)).await.unwrap_err();
    assert!(err.0.contains("EInvalidEpochsAhead"), "{err}");
    let blob = chain.register(&request(b"x", 1, false)).await.unwrap().blob;
    let err = chain.extend(&blob.object_id, 1).await.unwrap_err();
    assert!(err.0.contains("ENotCertified") && err.0.contains("nothing was signed"), "{err}");
    // One member alone (4 of 7 shards) is no quorum.
    let message = confirmation_message(EPOCH, &blob.blob_id, Persistence::Permanent);
    let signature = env.bls[0].sign(&message).as_bytes().try_into().unwrap();
    let weak = walrus_client::Certificate { signers: vec![0], message, signature, n_members: 2 };
    let err = chain.certify(&blob.object_id, &weak).await.unwrap_err();
    assert!(err.0.contains("ENotEnoughStake"), "{err}");
    let err = chain.delete(&blob.object_id).await.unwrap_err();
    assert!(err.0.contains("permanent"), "{err}");
    let err = chain.delete(&ObjectId([0x42; 32])).await.unwrap_err();
    assert!(err.0.contains("no object"), "{err}");
    assert_eq!(env.calls(), ["system::reserve_space_bounded", "system::register_blob_bounded"]);
}

#[tokio::test]
async fn a_declined_transaction_is_not_sent() {
    let env = env_with(&[3 * MIN_STAKE], false).await;
    let err = env.chain.register(&request(b"no", 1, true)).await.unwrap_err();
    assert!(err.0.contains("cancelled"), "{err}");
    assert!(env.calls().is_empty() && env.fake.blobs().is_empty());
    assert_eq!(env.fake.state().simulations, 1);
}
