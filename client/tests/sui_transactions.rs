//! The client's Sui transactions against the official TypeScript SDK (npm `@mysten/sui`, pinned
//! in scripts/package.json), run by `scripts/sui-tx-oracle.mjs`: for the same random inputs
//! (sender, gas coins, object references, shared objects, arguments) the SDK's `Transaction`
//! builds the same bytes offline and, with the same key, the same signature; each side accepts
//! the other's signatures and both refuse a signature moved to another transaction. Every
//! Move call is also checked against the function as `move/walrus` declares it: number of
//! arguments, pure values that decode as the parameter's type, shared objects taken `&mut`
//! exactly when the function mutates them.
//!
//! Needs Node.js >= 20 and `npm ci --prefix scripts`; without them the test fails, it never
//! skips.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use rand::{Rng as _, RngCore as _};
use serde_json::{json, Value};
use sui_sdk_types::{
    Address, Argument, Command as TxCommand, Digest, Input, MoveCall, ObjectReference, Transaction, TransactionKind,
};
use walrus_chain::events::{BlobId, U256};
use walrus_client::sui::keys::SuiKey;
use walrus_client::sui::package::PackageBuild;
use walrus_client::sui::signer::{SignError, SignedTransaction};
use walrus_client::sui::transactions::{
    self, BlobRegistration, BuildError, Certificate, Gas, InitParams, NodeRegistration, NodeUpdate, SharedObject,
    Votes, Walrus,
};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn oracle(command: &str, input: &Value) -> Vec<Value> {
    let mut child = Command::new("node")
        .arg(repo().join("scripts/sui-tx-oracle.mjs"))
        .arg(command)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run node ({e}): this test needs Node.js >= 20 on PATH"));
    child.stdin.take().unwrap().write_all(input.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "`node scripts/sui-tx-oracle.mjs {command}` failed ({}); run `npm ci --prefix scripts` if the SDK is missing:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the oracle prints a JSON array")
}

fn bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    rand::thread_rng().fill_bytes(&mut b);
    b
}

fn some_bytes(max: usize) -> Vec<u8> {
    let mut b = vec![0u8; rand::thread_rng().gen_range(0..=max)];
    rand::thread_rng().fill_bytes(&mut b);
    b
}

fn address() -> Address {
    Address::new(bytes())
}

fn object() -> ObjectReference {
    ObjectReference::new(address(), rand::thread_rng().gen_range(1..u64::MAX / 2), Digest::new(bytes()))
}

fn shared_object() -> SharedObject {
    SharedObject { id: address(), initial_shared_version: rand::thread_rng().gen_range(1..1 << 40) }
}

fn object_json(o: &ObjectReference) -> Value {
    json!({"objectId": o.object_id().to_string(), "version": o.version().to_string(), "digest": o.digest().to_string()})
}

fn shared_json(o: &SharedObject) -> Value {
    json!({"objectId": o.id.to_string(), "initialSharedVersion": o.initial_shared_version.to_string()})
}

fn gas_json(gas: &Gas) -> Value {
    json!({
        "sender": gas.sender.to_string(),
        "coins": gas.coins.iter().map(object_json).collect::<Vec<_>>(),
        "price": gas.price.to_string(),
        "budget": gas.budget.to_string(),
    })
}

fn walrus_json(w: &Walrus) -> Value {
    json!({"package": w.package.to_string(), "system": shared_json(&w.system), "staking": shared_json(&w.staking)})
}

fn u64_any() -> u64 {
    // Both ends of the range matter for the encoding.
    match rand::thread_rng().gen_range(0..4) {
        0 => 0,
        1 => u64::MAX,
        _ => rand::thread_rng().gen(),
    }
}

/// Each transaction kind with random inputs, as built here, and as the oracle's JSON.
fn cases(sender: Address) -> Vec<(Transaction, Value)> {
    let mut rng = rand::thread_rng();
    let mut out = Vec::new();
    let walrus = Walrus { package: address(), system: shared_object(), staking: shared_object() };
    let gas = |n: usize| Gas {
        sender,
        coins: (0..n).map(|_| object()).collect(),
        price: rand::thread_rng().gen_range(1..100_000),
        budget: rand::thread_rng().gen_range(1..50_000_000_000),
    };
    let mut add = |tx: Result<Transaction, BuildError>, gas: &Gas, mut spec: Value| {
        spec["gas"] = gas_json(gas);
        spec["walrus"] = walrus_json(&walrus);
        out.push((tx.unwrap(), spec));
    };

    // Publish: packages Sui's CLI built (public test data), and a random one of several modules.
    let vectors: Value =
        serde_json::from_str(&std::fs::read_to_string(repo().join("tests/vectors/sui/package-digests.json")).unwrap())
            .unwrap();
    let mut packages: Vec<PackageBuild> = vectors["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let payload = json!({"modules": p["modules"], "dependencies": p["dependencies"], "digest": p["digest"]});
            PackageBuild::from_json(&payload.to_string()).unwrap()
        })
        .collect();
    packages.push(PackageBuild {
        modules: (0..3).map(|_| some_bytes(300)).collect(),
        dependencies: vec![Address::from_static("0x1"), Address::from_static("0x2"), address()],
        digest: [0; 32],
    });
    for package in &packages {
        let g = gas(rng.gen_range(1..4));
        let modules: Vec<String> = package.modules.iter().map(|m| base64_encode(m)).collect();
        let dependencies: Vec<String> = package.dependencies.iter().map(Address::to_string).collect();
        add(
            transactions::publish(&g, package),
            &g,
            json!({"kind": "publish", "modules": modules, "dependencies": dependencies}),
        );
    }

    let g = gas(1);
    let init_cap = object();
    let params = InitParams {
        n_shards: rng.gen(),
        epoch_zero_duration_ms: u64_any(),
        epoch_duration_ms: u64_any(),
        max_epochs_ahead: rng.gen(),
        max_committee_size: rng.gen(),
    };
    add(
        transactions::initialize_walrus(&g, walrus.package, &init_cap, &params),
        &g,
        json!({
            "kind": "initialize_walrus", "package": walrus.package.to_string(), "initCap": object_json(&init_cap),
            "nShards": params.n_shards, "epochZeroDurationMs": params.epoch_zero_duration_ms.to_string(),
            "epochDurationMs": params.epoch_duration_ms.to_string(), "maxEpochsAhead": params.max_epochs_ahead,
            "maxCommitteeSize": params.max_committee_size,
        }),
    );

    // Equal prices: every pure argument stays its own input, as the SDK builds them.
    for equal_prices in [false, true] {
        let g = gas(2);
        let storage_price = u64_any();
        let node = NodeRegistration {
            name: format!("node-{}-ünïcode", rng.gen::<u16>()),
            network_address: format!("node{}.example.org:9185", rng.gen::<u8>()),
            public_key: bytes::<48>().to_vec(),
            network_public_key: bytes::<32>().to_vec(),
            proof_of_possession: bytes::<96>().to_vec(),
            commission_rate: rng.gen_range(0..=10_000),
            storage_price,
            write_price: if equal_prices { storage_price } else { u64_any() },
            node_capacity: u64_any(),
        };
        add(
            transactions::register_node(&g, &walrus, &node),
            &g,
            json!({
                "kind": "register_node", "name": node.name, "networkAddress": node.network_address,
                "publicKey": hex::encode(&node.public_key), "networkPublicKey": hex::encode(&node.network_public_key),
                "proofOfPossession": hex::encode(&node.proof_of_possession), "commissionRate": node.commission_rate,
                "storagePrice": node.storage_price.to_string(), "writePrice": node.write_price.to_string(),
                "nodeCapacity": node.node_capacity.to_string(),
            }),
        );
    }

    // One WAL coin, and several merged into the first.
    for n_coins in [1, 3] {
        let g = gas(1);
        let wal: Vec<_> = (0..n_coins).map(|_| object()).collect();
        let (amount, node_id) = (u64_any(), address());
        add(
            transactions::stake(&g, &walrus, &wal, amount, node_id),
            &g,
            json!({
                "kind": "stake", "wal": wal.iter().map(object_json).collect::<Vec<_>>(),
                "amount": amount.to_string(), "nodeId": node_id.to_string(),
            }),
        );

        let g = gas(2);
        let blob = BlobRegistration {
            blob_id: BlobId(bytes()),
            root_hash: U256(bytes()),
            size: u64_any(),
            storage_size: u64_any(),
            epochs_ahead: rng.gen(),
            deletable: rng.gen(),
            max_storage_cost: u64_any(),
            max_write_cost: u64_any(),
        };
        add(
            transactions::reserve_and_register(&g, &walrus, &wal, &blob),
            &g,
            json!({
                "kind": "reserve_and_register", "wal": wal.iter().map(object_json).collect::<Vec<_>>(),
                "blobId": hex::encode(blob.blob_id.0), "rootHash": hex::encode(blob.root_hash.0),
                "size": blob.size.to_string(), "storageSize": blob.storage_size.to_string(),
                "epochsAhead": blob.epochs_ahead, "deletable": blob.deletable,
                "maxStorageCost": blob.max_storage_cost.to_string(), "maxWriteCost": blob.max_write_cost.to_string(),
            }),
        );

        let (g, storage) = (gas(1), object());
        add(
            transactions::register_on_storage(&g, &walrus, &storage, &wal, &blob),
            &g,
            json!({
                "kind": "register_on_storage", "storage": object_json(&storage),
                "wal": wal.iter().map(object_json).collect::<Vec<_>>(),
                "blobId": hex::encode(blob.blob_id.0), "rootHash": hex::encode(blob.root_hash.0),
                "size": blob.size.to_string(), "deletable": blob.deletable,
                "maxWriteCost": blob.max_write_cost.to_string(),
            }),
        );
    }

    let g = gas(1);
    let blob = object();
    let certificate =
        Certificate { signature: bytes::<48>().to_vec(), signers_bitmap: some_bytes(4), message: some_bytes(120) };
    add(
        transactions::certify_blob(&g, &walrus, &blob, &certificate),
        &g,
        json!({
            "kind": "certify_blob", "blob": object_json(&blob), "signature": hex::encode(&certificate.signature),
            "signersBitmap": hex::encode(&certificate.signers_bitmap), "message": hex::encode(&certificate.message),
        }),
    );

    let g = gas(1);
    let blob = object();
    add(transactions::delete_blob(&g, &walrus, &blob), &g, json!({"kind": "delete_blob", "blob": object_json(&blob)}));
    // One WAL coin and several (merged into the first), as for reserve_and_register.
    for coins in [1, 3] {
        let g = gas(1);
        let blob = object();
        let wal: Vec<ObjectReference> = (0..coins).map(|_| object()).collect();
        let epochs: u32 = rng.gen_range(1..=53);
        let max_cost = u64_any();
        add(
            transactions::extend_blob(&g, &walrus, &blob, &wal, epochs, max_cost),
            &g,
            json!({
                "kind": "extend_blob", "blob": object_json(&blob), "wal": wal.iter().map(object_json).collect::<Vec<_>>(),
                "epochs": epochs, "maxCost": max_cost.to_string(),
            }),
        );
    }

    for kind in ["request_withdraw_stake", "withdraw_stake"] {
        let g = gas(1);
        let staked = object();
        let tx = if kind == "withdraw_stake" {
            transactions::withdraw_stake(&g, &walrus, &staked)
        } else {
            transactions::request_withdraw_stake(&g, &walrus, &staked)
        };
        add(tx, &g, json!({"kind": kind, "staked": object_json(&staked)}));
    }

    // Operators: every field of an update and every vote alone, all together and none.
    let updates = [
        NodeUpdate {
            name: Some(format!("renamed-{}", rng.gen::<u16>())),
            network_address: Some(format!("node{}.example.org:443", rng.gen::<u8>())),
            network_public_key: Some(bytes::<33>().to_vec()),
            public_key: Some((bytes::<48>().to_vec(), bytes::<96>().to_vec())),
        },
        NodeUpdate { name: Some("only-the-name".into()), ..NodeUpdate::default() },
        NodeUpdate { public_key: Some((bytes::<48>().to_vec(), bytes::<96>().to_vec())), ..NodeUpdate::default() },
    ];
    for update in &updates {
        let g = gas(1);
        let cap = object();
        let (public_key, proof) = update.public_key.clone().unzip();
        add(
            transactions::update_node(&g, &walrus, &cap, update),
            &g,
            json!({
                "kind": "update_node", "cap": object_json(&cap), "name": update.name,
                "networkAddress": update.network_address,
                "networkPublicKey": update.network_public_key.as_ref().map(hex::encode),
                "publicKey": public_key.map(hex::encode), "proofOfPossession": proof.map(hex::encode),
            }),
        );
    }
    let votes = [
        Votes { storage_price: Some(u64_any()), write_price: Some(u64_any()), node_capacity: Some(u64_any()) },
        Votes { write_price: Some(u64_any()), ..Votes::default() },
        Votes { node_capacity: Some(u64_any()), ..Votes::default() },
    ];
    let string = |v: Option<u64>| v.map(|v| v.to_string());
    for votes in &votes {
        let g = gas(1);
        let cap = object();
        add(
            transactions::vote(&g, &walrus, &cap, votes),
            &g,
            json!({
                "kind": "vote", "cap": object_json(&cap), "storagePrice": string(votes.storage_price),
                "writePrice": string(votes.write_price), "nodeCapacity": string(votes.node_capacity),
            }),
        );
    }
    let g = gas(1);
    let cap = object();
    let rate = rng.gen_range(0..=10_000);
    add(
        transactions::set_commission(&g, &walrus, &cap, rate),
        &g,
        json!({"kind": "set_commission", "cap": object_json(&cap), "rate": rate}),
    );
    let g = gas(2);
    let cap = object();
    let epoch: u32 = rng.gen();
    add(
        transactions::sync_done(&g, &walrus, &cap, epoch),
        &g,
        json!({"kind": "sync_done", "cap": object_json(&cap), "epoch": epoch}),
    );
    for kind in ["collect_commission", "deregister"] {
        let g = gas(1);
        let cap = object();
        let tx = if kind == "deregister" {
            transactions::deregister(&g, &walrus, &cap)
        } else {
            transactions::collect_commission(&g, &walrus, &cap)
        };
        add(tx, &g, json!({"kind": kind, "cap": object_json(&cap)}));
    }
    for kind in ["voting_end", "initiate_epoch_change"] {
        let g = gas(1);
        let tx = if kind == "voting_end" {
            transactions::voting_end(&g, &walrus)
        } else {
            transactions::initiate_epoch_change(&g, &walrus)
        };
        add(tx, &g, json!({ "kind": kind }));
    }
    out
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn transactions_and_signatures_are_those_of_the_typescript_sdk() {
    let seed: [u8; 32] = bytes();
    let key = SuiKey::parse(&base64_encode(&[&[0u8][..], &seed].concat())).unwrap();
    let cases = cases(key.address());
    let specs: Vec<&Value> = cases.iter().map(|(_, spec)| spec).collect();
    let theirs = oracle("build", &json!({"seed": hex::encode(seed), "cases": specs}));
    assert_eq!(theirs.len(), cases.len());

    let mut ours = Vec::new();
    for ((tx, spec), sdk) in cases.iter().zip(&theirs) {
        let signed = SignedTransaction::sign(tx.clone(), &key).unwrap();
        let kind = &spec["kind"];
        assert_eq!(signed.tx_bytes(), sdk["bytes"].as_str().unwrap(), "{kind}: transaction bytes differ");
        assert_eq!(signed.signature_base64(), sdk["signature"].as_str().unwrap(), "{kind}: signatures differ");
        signed.verify().unwrap();
        // The SDK's signature, read from what a client submits, verifies with sui-crypto.
        let read = SignedTransaction::from_base64(sdk["bytes"].as_str().unwrap(), sdk["signature"].as_str().unwrap());
        assert_eq!(read.unwrap(), signed);
        ours.push(signed);
    }

    // Ours verify with the SDK; a signature moved to another transaction verifies with neither.
    let mut pairs: Vec<Value> =
        ours.iter().map(|s| json!({"bytes": s.tx_bytes(), "signature": s.signature_base64()})).collect();
    let moved = json!({"bytes": ours[1].tx_bytes(), "signature": ours[0].signature_base64()});
    pairs.push(moved.clone());
    let verdicts = oracle("verify", &Value::Array(pairs));
    for verdict in &verdicts[..ours.len()] {
        assert_eq!(verdict["signer"].as_str(), Some(key.address().to_string().as_str()), "{verdict}");
    }
    assert!(verdicts[ours.len()]["error"].is_string(), "the SDK accepted a moved signature: {}", verdicts[ours.len()]);
    let refused =
        SignedTransaction::from_base64(moved["bytes"].as_str().unwrap(), moved["signature"].as_str().unwrap());
    assert!(matches!(refused, Err(SignError::Invalid(_))), "{refused:?}");
}

#[test]
fn only_the_senders_key_signs_and_only_its_signature_verifies() {
    let key = SuiKey::generate();
    let other = SuiKey::generate();
    let (tx, _) = cases(key.address()).swap_remove(0);
    let err = SignedTransaction::sign(tx.clone(), &other).unwrap_err();
    assert!(matches!(err, SignError::NotSender { .. }), "{err}");

    // A valid signature by someone else, passed off as the sender's.
    let mut by_other = tx.clone();
    by_other.sender = other.address();
    let forged = SignedTransaction {
        transaction: tx.clone(),
        signature: SignedTransaction::sign(by_other, &other).unwrap().signature,
    };
    assert!(matches!(forged.verify(), Err(SignError::WrongSigner { .. })));

    // A changed transaction (another gas budget) no longer matches its signature.
    let mut signed = SignedTransaction::sign(tx, &key).unwrap();
    signed.transaction.gas_payment.budget ^= 1;
    assert!(matches!(signed.verify(), Err(SignError::Invalid(_))));
    assert!(matches!(SignedTransaction::from_base64("%%", &signed.signature_base64()), Err(SignError::Decode(_))));
}

#[test]
fn missing_inputs_are_refused() {
    let walrus = Walrus { package: address(), system: shared_object(), staking: shared_object() };
    let gas = Gas { sender: address(), coins: vec![object()], price: 1000, budget: 10_000_000 };
    assert!(matches!(transactions::stake(&gas, &walrus, &[], 5, address()), Err(BuildError::NoWalCoin)));
    let no_gas = Gas { coins: vec![], ..gas };
    let err = transactions::withdraw_stake(&no_gas, &walrus, &object()).unwrap_err();
    assert!(matches!(err, BuildError::Builder(_)), "{err}");
    let cap = object();
    let err = transactions::vote(&gas, &walrus, &cap, &Votes::default()).unwrap_err();
    assert!(matches!(err, BuildError::Empty(_)), "{err}");
    let err = transactions::update_node(&gas, &walrus, &cap, &NodeUpdate::default()).unwrap_err();
    assert!(err.to_string().contains("nothing to do"), "{err}");
}

/// A Move function's parameters as `move/walrus/sources/MODULE.move` declares them (name,
/// type), without the trailing `TxContext`.
fn move_parameters(module: &str, function: &str) -> Vec<(String, String)> {
    let path = repo().join(format!("move/walrus/sources/{module}.move"));
    let source = std::fs::read_to_string(&path).unwrap();
    let start = source
        .find(&format!("public fun {function}("))
        .unwrap_or_else(|| panic!("{} declares no `public fun {function}`", path.display()));
    let open = start + source[start..].find('(').unwrap();
    let close = open + source[open..].find(')').unwrap();
    source[open + 1..close]
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (name, ty) = p.split_once(':').unwrap();
            (name.trim().to_string(), ty.trim().to_string())
        })
        .filter(|(_, ty)| !ty.ends_with("TxContext"))
        .collect()
}

/// Whether `bytes` are the BCS of a value of the Move type `ty`, if `ty` is a pure type.
fn decodes_as(ty: &str, bytes: &[u8]) -> bool {
    match ty {
        "u8" => bytes.len() == 1,
        "u16" => bytes.len() == 2,
        "u32" => bytes.len() == 4,
        "u64" => bytes.len() == 8,
        "u256" | "ID" | "address" => bytes.len() == 32,
        "bool" => matches!(bytes, [0] | [1]),
        "String" => bcs::from_bytes::<String>(bytes).is_ok(),
        "vector<u8>" => bcs::from_bytes::<Vec<u8>>(bytes).is_ok(),
        _ => false,
    }
}

fn check_against_move(call: &MoveCall, inputs: &[Input]) {
    let (module, function) = (call.module.as_str(), call.function.as_str());
    let parameters = move_parameters(module, function);
    assert_eq!(call.arguments.len(), parameters.len(), "{module}::{function} takes {parameters:?}");
    for (argument, (name, ty)) in call.arguments.iter().zip(&parameters) {
        let what = format!("{module}::{function}({name}: {ty})");
        match argument {
            Argument::Input(i) => match &inputs[*i as usize] {
                Input::Pure(bytes) => assert!(decodes_as(ty, bytes), "{what} given pure {}", hex::encode(bytes)),
                Input::Shared(shared) => {
                    let wanted = ty.starts_with("&mut ");
                    assert_eq!(shared.mutability().is_mutable(), wanted, "{what}: mutability of the shared object");
                    assert!(ty.starts_with('&'), "{what}: a shared object passed by value");
                }
                Input::ImmutableOrOwned(_) => assert!(!is_pure(ty), "{what} given an object"),
                other => panic!("{what} given {other:?}"),
            },
            Argument::Result(_) | Argument::NestedResult(..) => assert!(!is_pure(ty), "{what} given a result"),
            Argument::Gas => panic!("{what} given the gas coin"),
        }
    }
}

fn is_pure(ty: &str) -> bool {
    ["u8", "u16", "u32", "u64", "u256", "bool", "ID", "address", "String", "vector<u8>"].contains(&ty)
}

#[test]
fn move_calls_match_the_functions_move_walrus_declares() {
    let mut called = Vec::new();
    for (tx, _) in cases(address()) {
        let TransactionKind::ProgrammableTransaction(ptb) = &tx.kind else { panic!("not a programmable transaction") };
        for command in &ptb.commands {
            if let TxCommand::MoveCall(call) = command {
                check_against_move(call, &ptb.inputs);
                called.push(format!("{}::{}", call.module, call.function));
            }
        }
    }
    called.sort();
    called.dedup();
    assert_eq!(
        called,
        [
            "init::initialize_walrus",
            "staking::collect_commission",
            "staking::deregister",
            "staking::epoch_sync_done",
            "staking::initiate_epoch_change",
            "staking::register_candidate",
            "staking::request_withdraw_stake",
            "staking::set_name",
            "staking::set_network_address",
            "staking::set_network_public_key",
            "staking::set_next_commission",
            "staking::set_node_capacity_vote",
            "staking::set_public_key",
            "staking::set_storage_price_vote",
            "staking::set_write_price_vote",
            "staking::stake_with_pool",
            "staking::voting_end",
            "staking::withdraw_stake",
            "system::certify_blob",
            "system::delete_blob",
            "system::extend_blob_bounded",
            "system::register_blob_bounded",
            "system::reserve_space_bounded",
        ]
    );
}
