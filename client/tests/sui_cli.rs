//! The `walrus` binary's Sui commands against the fake full node of `fake_sui`: every command
//! simulates, shows its cost, signs, executes and waits for the checkpoint, and the fake
//! checks each transaction's signature and structure (which Move calls, which objects) before
//! it changes its objects. Bad input, aborts, a missing deployment or key, too little WAL or
//! SUI, an unavailable node and a transaction that never reaches a checkpoint all end with a
//! clear error and a non-zero exit.

mod fake_sui;

use std::path::{Path, PathBuf};
use std::process::Output;

use base64::Engine as _;
use fake_sui::{address, serve, Fake, MIN_STAKE};
use serde_json::Value;
use sui_sdk_types::Address;
use tempfile::TempDir;
use walrus_client::sui::deployment::Deployment;
use walrus_client::sui::keys::SuiKey;
use walrus_client::sui::package::package_digest;

/// A wallet with a keystore, a fake node and (optionally) a deployment file naming it.
struct Env {
    dir: TempDir,
    key: SuiKey,
    keystore: PathBuf,
    deployment: PathBuf,
    fake: Fake,
    url: String,
}

/// SUI coins of 5 SUI and 1 SUI.
const SUI: &[u64] = &[5_000_000_000, 1_000_000_000];

async fn env(sui: &[u64]) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let keystore = dir.path().join("sui.keystore");
    let key = fake_sui::wallet(&keystore);
    let fake = Fake::new(key.address(), sui);
    let url = serve(fake.clone()).await;
    let deployment = dir.path().join("deployment.toml");
    Env { dir, key, keystore, deployment, fake, url }
}

/// An environment with a deployment, 3 + 1 WAL in the wallet and a node run by someone else.
async fn deployed() -> (Env, Address) {
    let env = env(SUI).await;
    env.fake.deploy(&[3 * MIN_STAKE, MIN_STAKE]);
    env.fake.write_deployment(&env.url, &env.deployment);
    let (node, _) = env.fake.add_node(address(0x99));
    (env, node)
}

impl Env {
    /// Runs `walrus ARGS --keystore … [--deployment …]`.
    async fn walrus(&self, args: &[&str]) -> Output {
        let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        args.extend(["--keystore".into(), self.keystore.display().to_string()]);
        if !args.iter().any(|a| a == "publish") && !args.iter().any(|a| a == "--deployment") {
            args.extend(["--deployment".into(), self.deployment.display().to_string()]);
        }
        run(args).await
    }

    /// Runs a command that must succeed; returns its standard output.
    async fn ok(&self, args: &[&str]) -> String {
        let output = self.walrus(args).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{args:?} failed: {stderr}");
        String::from_utf8(output.stdout).unwrap()
    }

    async fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let args = all;
        serde_json::from_str(&self.ok(&args).await).unwrap()
    }

    /// Runs a command that must fail without panicking, saying `expected`.
    async fn fails(&self, args: &[&str], expected: &str) -> String {
        let output = self.walrus(args).await;
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(!output.status.success(), "{args:?} succeeded: {}", String::from_utf8_lossy(&output.stdout));
        assert!(stderr.contains(expected), "{args:?}: expected {expected:?} in: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        stderr
    }

    fn calls(&self) -> Vec<String> {
        self.fake.state().calls.clone()
    }

    fn wal(&self) -> u64 {
        let state = self.fake.state();
        let coin_type = Some(state.wal_coin.clone());
        let mine = Some(self.key.address().to_string());
        state
            .objects
            .values()
            .filter(|o| o.object_type == coin_type && o.owner.as_ref().and_then(|w| w.address.clone()) == mine)
            .map(|o| o.balance.unwrap())
            .sum()
    }
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

async fn run(args: Vec<String>) -> Output {
    fake_sui::run_walrus(env!("CARGO_BIN_EXE_walrus"), args).await
}

#[tokio::test]
async fn stake_unstake_withdraw_and_list_stakes() {
    let (env, node) = deployed().await;
    let node = node.to_string();

    let out = env.ok(&["stake", "--node", &node, "--amount", "2.5", "--yes"]).await;
    assert!(out.contains("StakedWal: 0x"), "{out}");
    assert_eq!(env.calls(), ["staking::stake_with_pool"]);
    assert_eq!(env.wal(), 4 * MIN_STAKE - 2_500_000_000);

    let stakes = env.json(&["stakes"]).await;
    let [stake] = stakes["stakes"].as_array().unwrap().as_slice() else { panic!("one stake: {stakes}") };
    assert_eq!(stake["principal"], 2_500_000_000u64);
    assert_eq!(stake["nodeId"], node);
    assert_eq!(stake["state"], "staked");
    let staked = stake["id"].as_str().unwrap().to_owned();
    // The pool has not entered epoch 1 yet: the stake is worth its principal.
    assert_eq!((stake["value"].as_u64(), &stake["valueEpoch"]), (Some(2_500_000_000), &Value::Null));
    let text = env.ok(&["stakes"]).await;
    let line = format!("{staked}: 2.5 WAL with node {node}, staked from epoch 1; worth 2.5 WAL (not active yet)");
    assert!(text.contains(&line), "{text}");

    let unstaked = env.json(&["unstake", "--staked", &staked, "--yes"]).await;
    assert_eq!(unstaked["dryRun"], false);
    assert!(unstaked["digest"].is_string() && unstaked["checkpoint"] == 42, "{unstaked}");
    let stakes = env.json(&["stakes"]).await;
    assert_eq!(stakes["stakes"][0]["state"], "withdrawing");
    // A stake already being withdrawn cannot be again: the abort is named, nothing is sent.
    env.fails(&["unstake", "--staked", &staked, "--yes"], "ENotStaked").await;

    env.ok(&["withdraw", "--staked", &staked, "--yes"]).await;
    assert_eq!(env.wal(), 4 * MIN_STAKE);
    assert!(env.json(&["stakes"]).await["stakes"].as_array().unwrap().is_empty());
    env.fails(&["withdraw", "--staked", &staked, "--yes"], "owns no StakedWal").await;
    assert_eq!(env.calls(), ["staking::stake_with_pool", "staking::request_withdraw_stake", "staking::withdraw_stake"]);
}

#[tokio::test]
async fn stakes_are_valued_at_their_pools_exchange_rates() {
    let (env, node) = deployed().await;
    let (other, _) = env.fake.add_node(address(0x98));
    for (node, amount) in [(node, "2.5"), (other, "1")] {
        env.ok(&["stake", "--node", &node.to_string(), "--amount", amount, "--yes"]).await;
    }
    // The first pool entered epoch 1 with 10 WAL for 8 shares, and epoch 3 with 15 WAL for
    // the same shares: 2.5 WAL bought 2 shares, now worth 3.75 WAL.
    let wal = u128::from(MIN_STAKE);
    env.fake.set_pool(node, 3, &[(1, 10 * wal, 8 * wal), (2, 12 * wal, 8 * wal), (3, 15 * wal, 8 * wal)]);
    // The second entered epoch 2 without a rate for epoch 1, where its stake activated.
    env.fake.set_pool(other, 2, &[(2, 5 * wal, 4 * wal)]);

    let stakes = env.json(&["stakes"]).await;
    let by_node = |id: Address| {
        let rows = stakes["stakes"].as_array().unwrap();
        rows.iter().find(|r| r["nodeId"] == id.to_string()).unwrap().clone()
    };
    let valued = by_node(node);
    assert_eq!((valued["value"].as_u64(), valued["valueEpoch"].as_u64()), (Some(3_750_000_000), Some(3)));
    let unknown = by_node(other);
    assert_eq!(unknown["value"], Value::Null);
    assert!(unknown["valueUnknown"].as_str().unwrap().contains("no exchange rate for epoch 1"), "{unknown}");

    let text = env.ok(&["stakes"]).await;
    assert!(text.contains("2.5 WAL with node"), "{text}");
    assert!(text.contains("worth 3.75 WAL at epoch 3's rate"), "{text}");
    assert!(text.contains("value unknown: the pool records no exchange rate for epoch 1"), "{text}");
    assert!(text.contains("total principal: 3.5 WAL, value 3.75 WAL (1 stake(s) of unknown value left out)"), "{text}");

    // A stake being withdrawn is valued at its withdrawal epoch's rate once the pool passed it.
    let id = valued["id"].as_str().unwrap().to_owned();
    env.ok(&["unstake", "--staked", &id, "--yes"]).await;
    let stakes = env.json(&["stakes"]).await;
    let withdrawing = stakes["stakes"].as_array().unwrap().iter().find(|r| r["id"] == id.as_str()).unwrap().clone();
    assert_eq!(withdrawing["withdrawEpoch"], 1, "the fake's epoch is 0");
    assert_eq!((withdrawing["value"].as_u64(), withdrawing["valueEpoch"].as_u64()), (Some(2_500_000_000), Some(1)));
}

#[tokio::test]
async fn blob_status_lists_an_owners_live_objects_of_the_blob() {
    let (env, _) = deployed().await;
    env.fake.set_system(5, 10);
    let file = env.dir.path().join("blob.bin");
    std::fs::write(&file, b"a blob read through a full node").unwrap();
    let blob_id = walrus_encoder::compute_metadata(10, b"a blob read through a full node").unwrap().blob_id();
    let me = env.key.address();
    let certified = env.fake.add_blob(me, blob_id.0, Some(3), 9);
    env.fake.add_blob(me, blob_id.0, None, 5); // expired: storage ends with epoch 4
    env.fake.add_blob(me, [7; 32], Some(2), 9); // another blob
    let theirs = env.fake.add_blob(address(0x55), blob_id.0, None, 12);

    let id = blob_id.to_string();
    let status = env.json(&["blob-status", "--blob-id", &id]).await;
    assert_eq!((status["currentEpoch"].as_u64(), status["owner"].as_str()), (Some(5), Some(me.to_string().as_str())));
    let [object] = status["objects"].as_array().unwrap().as_slice() else { panic!("one live object: {status}") };
    assert_eq!(object["id"], certified.to_string());
    assert_eq!((object["certifiedEpoch"].as_u64(), object["storage"]["endEpoch"].as_u64()), (Some(3), Some(9)));
    assert_eq!(object["blobId"], id);

    // The blob ID computed from the file with the system's shard count, another owner's
    // objects, and the text form.
    let path = file.display().to_string();
    let other = address(0x55).to_string();
    let text = env.ok(&["blob-status", "--file", &path, "--owner", &other]).await;
    assert!(text.contains("current epoch: 5"), "{text}");
    assert!(
        text.contains(&format!("blob {id}: deletable, registered, not certified, object {theirs}, until epoch 12")),
        "{text}"
    );
    let none = env.ok(&["blob-status", "--blob-id", &blob_id_of_nothing(), "--owner", &other]).await;
    assert!(none.contains("nonexistent (no live blob object of 0x"), "{none}");
    assert!(none.contains("pass --owner for others"), "{none}");

    // `--sui` overrides the deployment's full node; a dead one is reported.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    env.fails(&["blob-status", "--blob-id", &id, "--sui", &dead], "is unavailable after").await;
    env.fails(&["blob-status", "--blob-id", &id, "--owner", "nobody"], "--owner \"nobody\" is not a Sui address").await;
    env.fails(&["blob-status", "--blob-id", "not-a-blob-id", "--sui", &dead], "not-a-blob-id").await;
    let output = run(vec!["blob-status".into(), "--blob-id".into(), id.clone(), "--sui".into(), env.url.clone()]).await;
    assert!(!output.status.success() && String::from_utf8_lossy(&output.stderr).contains("--deployment"));

    // Before the first committee there is no shard count to compute a blob ID with.
    env.fake.set_system(0, 0);
    env.fails(&["blob-status", "--file", &path], "no committee yet").await;
}

/// A blob ID no object holds.
fn blob_id_of_nothing() -> String {
    walrus_encoder::BlobId([9; 32]).to_string()
}

#[tokio::test]
async fn a_dry_run_simulates_and_shows_the_cost_but_sends_nothing() {
    let (env, node) = deployed().await;
    let out = env.ok(&["stake", "--node", &node.to_string(), "--amount", "1", "--dry-run"]).await;
    assert!(out.contains("dry run: nothing sent"), "{out}");
    assert!(out.contains("simulated gas: 0.002500000 SUI net"), "{out}");
    assert!(out.contains("budget 0.003600000 SUI"), "{out}");
    let state = env.fake.state();
    assert_eq!((state.simulations, state.executed.len()), (1, 0));
}

#[tokio::test]
async fn bad_input_and_failures_are_reported_before_anything_is_signed() {
    let (env, node) = deployed().await;
    let node = node.to_string();
    let stake = |amount: &str| ["stake", "--node", node.as_str(), "--amount", amount, "--yes"].map(String::from);
    let err = env.fails(&strs(&stake("0.5")), "EStakeBelowThreshold: A stake must hold at least 1 WAL").await;
    assert!(err.contains("nothing was signed"), "{err}");
    env.fails(&strs(&stake("100")), "holds 4 WAL, less than the 100 WAL asked for").await;
    env.fails(&["stake", "--node", "0x1234", "--amount", "1", "--yes"], "no storage node 0x").await;
    env.fails(&["stake", "--node", "xyz", "--amount", "1", "--yes"], "--node \"xyz\" is not a Sui address").await;
    env.fails(&["stake", "--node", &node, "--amount", "1.2.3", "--yes"], "is not an amount of WAL").await;
    // Without --yes and without a terminal to ask on.
    env.fails(&["stake", "--node", &node, "--amount", "1"], "pass --yes").await;
    // Another address than the keystore's.
    let other = address(0x42).to_string();
    env.fails(&["stake", "--node", &node, "--amount", "1", "--yes", "--address", &other], "no Ed25519 key for").await;
    // No deployment file, or one that does not exist.
    let output = run(vec!["stakes".into(), "--keystore".into(), env.keystore.display().to_string()]).await;
    assert!(String::from_utf8_lossy(&output.stderr).contains("no deployment file"));
    assert!(!output.status.success());
    let stderr =
        env.fails(&["stakes", "--deployment", "/no/such/deployment.toml"], "cannot read the deployment file").await;
    assert_eq!(stderr.matches("No such file").count(), 1, "the OS error once: {stderr}");
    assert_eq!(env.fake.state().executed.len(), 0);
}

#[tokio::test]
async fn too_little_sui_for_gas_is_reported() {
    let env = env(&[1_000_000]).await;
    env.fake.deploy(&[3 * MIN_STAKE]);
    env.fake.write_deployment(&env.url, &env.deployment);
    let (node, _) = env.fake.add_node(address(0x99));
    env.fails(&["stake", "--node", &node.to_string(), "--amount", "1", "--yes"], "not enough SUI for gas").await;
    assert_eq!(env.fake.state().executed.len(), 0);
}

#[tokio::test]
async fn an_unavailable_node_and_a_transaction_that_never_lands_are_reported() {
    let (env, node) = deployed().await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    env.fails(&["stakes", "--sui", &dead], "is unavailable after").await;

    env.fake.state().checkpoint_delay = u32::MAX;
    let args: &[&str] = &["stake", "--node", &node.to_string(), "--amount", "1", "--yes", "--wait-secs", "1"];
    let err = env.fails(args, "was executed but is not in a checkpoint").await;
    assert!(err.contains("look it up by its digest"), "{err}");
    // A late one (three polls, a second and a half) is waited for.
    env.fake.state().checkpoint_delay = 3;
    env.ok(&args[..6]).await;
}

#[tokio::test]
async fn an_operator_registers_and_manages_a_node() {
    let (env, _) = deployed().await;
    let keys = env.dir.path().join("node-keys");
    let (protocol, network) = walrus_node::keys::generate(&keys).unwrap();
    let sender: [u8; 32] = env.key.address().into_inner();
    let register: &[&str] = &[
        "node",
        "register",
        "--name",
        "my-node",
        "--network-address",
        "node.example.org:9185",
        "--public-key",
        &format!("0x{}", hex::encode(protocol.public_key())),
        "--network-public-key",
        &format!("0x{}", hex::encode(network.public_key())),
        "--proof-of-possession",
        &format!("0x{}", hex::encode(protocol.proof_of_possession(0, &sender))),
        "--commission-rate",
        "500",
        "--storage-price",
        "100",
        "--write-price",
        "1000",
        "--capacity",
        "2TiB",
        "--yes",
    ];
    let registered = env.json(register).await;
    let cap = registered["nodeCap"].as_str().expect("the NodeCap is reported").to_owned();
    assert_eq!(env.fake.state().owned_of_type("storage_node", "NodeCap"), [cap.parse::<Address>().unwrap()]);
    assert!(registered["nodeId"].is_string(), "{registered}");
    let listed = env.json(&["node", "list"]).await;
    let [node] = listed["nodes"].as_array().unwrap().as_slice() else { panic!("one node: {listed}") };
    assert_eq!((&node["nodeCap"], &node["nodeId"]), (&Value::from(cap.clone()), &registered["nodeId"]));
    assert_eq!(
        (&node["name"], &node["networkAddress"]),
        (&Value::from("my-node"), &Value::from("node.example.org:9185"))
    );
    assert_eq!(node["publicKey"], format!("0x{}", hex::encode(protocol.public_key())));

    env.ok(&["node", "set-commission", "--rate", "700", "--yes"]).await;
    env.ok(&["node", "vote", "--storage-price", "120", "--capacity", "3TiB", "--yes"]).await;
    env.ok(&["node", "update", "--name", "renamed", "--network-address", "other.example.org:443", "--yes"]).await;
    env.ok(&["node", "collect-commission", "--yes"]).await;
    env.fake.state().epoch = 1;
    env.ok(&["node", "sync-done", "--epoch", "1", "--yes"]).await;
    env.fails(&["node", "sync-done", "--epoch", "1", "--yes"], "EDuplicateSyncDone").await;
    env.fails(&["node", "sync-done", "--epoch", "3", "--yes"], "EInvalidSyncEpoch").await;
    env.fails(&["node", "set-commission", "--rate", "10001", "--yes"], "10001").await;
    env.fails(&["node", "vote", "--yes"], "nothing to vote on").await;
    env.fails(&["node", "update", "--yes"], "nothing to update").await;
    env.fails(&["node", "register", "--name", "x", "--public-key", "abcd"], "expected 48 bytes").await;
    env.ok(&["node", "deregister", "--node-cap", &cap, "--yes"]).await;
    assert_eq!(
        env.calls(),
        [
            "staking::register_candidate",
            "staking::set_next_commission",
            "staking::set_storage_price_vote",
            "staking::set_node_capacity_vote",
            "staking::set_name",
            "staking::set_network_address",
            "staking::collect_commission",
            "staking::epoch_sync_done",
            "staking::deregister",
        ]
    );

    // With a second cap the wallet must say which.
    env.fake.add_node(env.key.address());
    env.fails(&["node", "deregister", "--yes"], "choose one with --node-cap").await;
    env.fails(&["node", "deregister", "--node-cap", &address(0x43).to_string(), "--yes"], "owns no NodeCap").await;
}

/// A publish payload of `modules` random modules depending on `dependencies`.
fn payload(dir: &Path, name: &str, dependencies: &[Address]) -> PathBuf {
    let modules: Vec<Vec<u8>> = (0..3).map(|i| vec![i; 64]).collect();
    let digest = package_digest(&modules, dependencies);
    let b64 = |m: &Vec<u8>| base64::engine::general_purpose::STANDARD.encode(m);
    let json = serde_json::json!({
        "modules": modules.iter().map(b64).collect::<Vec<_>>(),
        "dependencies": dependencies.iter().map(Address::to_string).collect::<Vec<_>>(),
        "digest": digest.to_vec(),
    });
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, json.to_string()).unwrap();
    path
}

#[tokio::test]
async fn publish_both_packages_initialize_and_use_the_deployment() {
    let env = env(SUI).await;
    let framework = [Address::from_static("0x1"), Address::from_static("0x2")];
    let wal_json = payload(env.dir.path(), "wal", &framework);
    let wal_path = wal_json.display().to_string();
    let published = env.json(&["publish", "wal", &wal_path, "--sui", &env.url, "--yes"]).await;
    let wal_package: Address = published["walPackage"].as_str().unwrap().parse().unwrap();
    assert_eq!(env.fake.state().wal_package, Some(wal_package));
    assert_eq!(env.wal(), 5_000_000_000 * MIN_STAKE, "the wallet holds all WAL");

    let deployment = env.deployment.display().to_string();
    let wal_id = wal_package.to_string();
    let common: &[&str] =
        &["--wal-package", &wal_id, "--deployment", &deployment, "--sui", &env.url, "--epoch-duration", "1h", "--yes"];
    // A walrus payload built against another WAL package is refused before anything is sent.
    let stale = payload(env.dir.path(), "stale", &framework).display().to_string();
    let args = [&["publish", "walrus", stale.as_str(), "--n-shards", "10"][..], common].concat();
    env.fails(&args, "was not built against the WAL package").await;

    // Published, but the initialization aborts (too few shards): the error says how to resume.
    let walrus_json = payload(env.dir.path(), "walrus", &[framework[0], framework[1], wal_package]);
    let walrus_path = walrus_json.display().to_string();
    let args = [&["publish", "walrus", walrus_path.as_str(), "--n-shards", "2"][..], common].concat();
    let err = env.fails(&args, "ETooFewShards").await;
    let resume = err.split("retry with --initialize ").nth(1).expect("says how to resume");
    let package = resume.split(':').next().unwrap().trim().to_owned();
    assert!(!env.deployment.exists());

    let args = [&["publish", "walrus", "--initialize", package.as_str(), "--n-shards", "10"][..], common].concat();
    let out = env.ok(&args).await;
    assert!(out.contains("wrote"), "{out}");
    let written = Deployment::read(&env.deployment).unwrap();
    assert_eq!(Some(written.walrus), env.fake.state().walrus);
    assert_eq!((written.wal_package, written.full_node.as_str()), (wal_package, env.url.as_str()));
    // Never overwritten, and the InitCap is spent.
    env.fails(&args, "already exists").await;

    // The deployment works for the other commands.
    let (node, _) = env.fake.add_node(address(0x99));
    env.ok(&["stake", "--node", &node.to_string(), "--amount", "1", "--yes"]).await;
    assert_eq!(env.calls(), ["init::initialize_walrus", "staking::stake_with_pool"]);
}

#[tokio::test]
async fn the_epoch_change_steps_run_when_due() {
    let (env, _) = deployed().await;
    env.fails(&["epoch-change", "voting-end", "--yes"], "ETooEarly").await;
    env.fake.state().change_due = true;
    env.fails(&["epoch-change", "initiate", "--yes"], "EWrongEpochState").await;
    env.ok(&["epoch-change", "voting-end", "--yes"]).await;
    env.ok(&["epoch-change", "initiate", "--yes"]).await;
    assert_eq!(env.fake.state().epoch, 1);
    assert_eq!(env.calls(), ["staking::voting_end", "staking::initiate_epoch_change"]);
}

/// A deployed environment whose committee (two nodes, 4 + 3 shards) is in epoch 3, with
/// storage sold up to 5 epochs ahead.
async fn with_committee() -> Env {
    use fastcrypto::bls12381::min_pk::BLS12381KeyPair;
    use fastcrypto::traits::{KeyPair as _, ToFromBytes as _};
    use rand::SeedableRng as _;
    let (env, _) = deployed().await;
    let members: Vec<fake_sui::FakeMember> = [(0x91, vec![0, 2, 4, 6]), (0x92, vec![1, 3, 5])]
        .into_iter()
        .enumerate()
        .map(|(i, (operator, shards))| {
            let key = BLS12381KeyPair::generate(&mut rand::rngs::StdRng::seed_from_u64(i as u64));
            fake_sui::FakeMember {
                node: env.fake.add_node(address(operator)).0,
                public_key: key.public().as_bytes().to_vec(),
                shards,
                network_address: format!("node{i}.example.org:9185"),
            }
        })
        .collect();
    env.fake.set_committee(3, &members, 5);
    env
}

#[tokio::test]
async fn store_dry_run_shows_the_cost_and_simulates_the_registration() {
    let env = with_committee().await;
    let file = env.dir.path().join("blob.bin");
    std::fs::write(&file, b"stored on sui").unwrap();
    let path = file.display().to_string();
    let out = env.ok(&["store", &path, "--epochs", "2", "--dry-run"]).await;
    let blob_id = walrus_encoder::compute_metadata(7, b"stored on sui").unwrap().blob_id();
    assert!(out.contains(&format!("blob ID {blob_id}")), "{out}");
    // One MiB unit: 2 epochs at 100 FROST and the write fee of 1000.
    assert!(out.contains("would cost 1200 FROST"), "{out}");
    assert!(out.contains("simulated: Reserve") && out.contains("at most 0.0000012 WAL"), "{out}");
    assert!(out.contains("simulated gas: 0.002500000 SUI net"), "{out}");
    let json = env.json(&["store", &path, "--epochs", "max", "--dry-run", "--permanent"]).await;
    assert_eq!(json[0]["cost"], 100 * 5 + 1000, "`max` is the System's max_epochs_ahead: {json}");
    assert_eq!(json[0]["reuseStorage"], false, "the wallet owns no storage: {json}");
    assert!(json[0]["registration"]["action"].as_str().unwrap().contains("permanent blob"), "{json}");
    let simulations = env.fake.state().simulations;
    let executed = env.fake.state().executed.len();
    assert_eq!((simulations, executed), (2, 0));
    assert!(env.calls().is_empty());

    // Storing sends transactions: refused at once without --yes and without a terminal; too
    // many epochs are refused by the contract, named, before anything is signed.
    env.fails(&["store", &path, "--epochs", "1"], "pass --yes").await;
    env.fails(&["store", &path, "--epochs", "6", "--dry-run"], "EInvalidEpochsAhead").await;
    assert!(env.calls().is_empty());
}

#[tokio::test]
async fn info_and_list_blobs_read_the_deployment() {
    let env = with_committee().await;
    let me = env.key.address();
    let blob = env.fake.add_blob(me, [7; 32], Some(3), 5);
    env.fake.add_blob(address(0x55), [7; 32], Some(3), 5);
    let deployment = env.deployment.display().to_string();
    let output = run(vec!["--json".into(), "info".into(), "--deployment".into(), deployment]).await;
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let info: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!((info["epoch"].as_u64(), info["nShards"].as_u64()), (Some(3), Some(7)));
    assert_eq!(info["prices"]["storage_per_unit_epoch"], fake_sui::STORAGE_PRICE);
    let addresses: Vec<&str> = info["committee"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["network_address"].as_str().unwrap())
        .collect();
    assert_eq!(addresses.len(), 2);
    assert!(addresses.contains(&"node0.example.org:9185") && addresses.contains(&"node1.example.org:9185"));

    let file = env.dir.path().join("blob.bin");
    std::fs::write(&file, b"which id").unwrap();
    let args = ["blob-id", &file.display().to_string(), "--deployment", &env.deployment.display().to_string()];
    let output = run(args.iter().map(|a| a.to_string()).collect()).await;
    let expected = walrus_encoder::compute_metadata(7, b"which id").unwrap().blob_id();
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), expected.to_string(), "the Staking object's 7 shards");

    let listed = env.json(&["list-blobs"]).await;
    let [object] = listed.as_array().unwrap().as_slice() else { panic!("the wallet's one blob: {listed}") };
    assert_eq!(object["id"], blob.to_string());
}

#[tokio::test]
async fn delete_and_extend_send_their_transactions() {
    let env = with_committee().await;
    let me = env.key.address();
    let blob_id = walrus_encoder::BlobId([7; 32]);
    let certified = env.fake.add_blob(me, blob_id.0, Some(3), 5);
    let id = certified.to_string();

    let out = env.ok(&["extend", "--blob-obj-id", &id, "--epochs-extended", "1", "--dry-run"]).await;
    assert!(out.contains("dry run: nothing sent") && out.contains("to epoch 6, for at most 0.0000001 WAL"), "{out}");
    assert!(env.calls().is_empty());
    let before = env.wal();
    let out = env.ok(&["extend", "--blob-obj-id", &id, "--epochs-extended", "1", "--yes"]).await;
    assert!(out.contains(&format!("extended {id} (blob {blob_id}) to epoch 6")), "{out}");
    assert_eq!(env.calls(), ["system::extend_blob_bounded"]);
    assert_eq!(before - env.wal(), fake_sui::STORAGE_PRICE, "one MiB for one epoch");
    env.fails(&["extend", "--blob-obj-id", &id, "--epochs-extended", "5", "--yes"], "EInvalidEpochsAhead").await;

    let dry = env.json(&["delete", "--object-id", &id, "--dry-run"]).await;
    assert_eq!(
        (dry["deleted"].as_array().map(Vec::len), dry["transactions"][0]["dryRun"].as_bool()),
        (Some(0), Some(true))
    );
    let deleted = env.json(&["delete", "--blob-id", &blob_id.to_string(), "--yes"]).await;
    assert_eq!(deleted["deleted"], serde_json::json!([id]));
    assert_eq!(env.calls(), ["system::extend_blob_bounded", "system::delete_blob"]);
    assert!(env.fake.blobs().is_empty());
    env.fails(&["delete", "--blob-id", &blob_id.to_string(), "--yes"], "no deletable blob object of this wallet").await;

    // Another's blob, and an uncertified one, are refused with the reason.
    let theirs = env.fake.add_blob(address(0x55), blob_id.0, Some(3), 5).to_string();
    env.fails(&["delete", "--object-id", &theirs, "--yes"], "is not").await;
    let uncertified = env.fake.add_blob(me, blob_id.0, None, 5).to_string();
    env.fails(&["extend", "--blob-obj-id", &uncertified, "--epochs-extended", "1", "--yes"], "ENotCertified").await;
    env.fails(&["delete", "--object-id", &uncertified], "pass --yes").await;
    assert_eq!(env.calls().len(), 2);
}

/// Processes sending from one wallet at once (the testbed's nodes report sync-done with one
/// wallet; a user may run two commands) take turns: each pays with the gas coins' versions
/// after the other's transaction, instead of two transactions spending the same versions,
/// which on Sui can lock the coins until the epoch ends (here the fake refuses the second).
#[tokio::test]
async fn commands_sending_from_one_wallet_at_once_take_turns_with_the_gas_coins() {
    let (env, _) = deployed().await;
    let caps: Vec<String> = (0..4).map(|_| env.fake.add_node(env.key.address()).1.to_string()).collect();
    env.fake.state().epoch = 1;
    let runs = caps
        .iter()
        .map(|cap| async { env.walrus(&["node", "sync-done", "--epoch", "1", "--node-cap", cap, "--yes"]).await });
    for (cap, output) in caps.iter().zip(futures::future::join_all(runs).await) {
        assert!(output.status.success(), "sync-done for {cap}: {}", String::from_utf8_lossy(&output.stderr));
    }
    assert_eq!(env.calls(), ["staking::epoch_sync_done"; 4]);
}
