//! The HTTP service over a real socket: state, a blob registered and certified, a refused call
//! answered with the Move error's name, blob objects by blob ID, an epoch change.

mod common;

use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use common::*;
use serde_json::{json, Value};
use walrus_chain::messages::{blob_certification, Persistence};
use walrus_localchain::{service, LocalChain};

#[tokio::test]
async fn routes_run_calls_and_answer_errors_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let network = Network::new(&[1, 1, 1, 1]);
    let (chain, _) = LocalChain::create(dir.path(), &network.genesis, service::now_ms()).unwrap();
    let chain = Arc::new(Mutex::new(chain));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = service::router(chain.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let http = reqwest::Client::new();
    let post = |path: &str, body: Value| http.post(format!("{url}{path}")).json(&body).send();

    let state: Value = http.get(format!("{url}/v1/state")).send().await.unwrap().json().await.unwrap();
    assert_eq!(state["epoch"], 1);
    assert_eq!(state["n_shards"], 10);
    assert_eq!(state["committee"].as_array().unwrap().len(), 4);
    assert_eq!(state["package_id"], json!(network.genesis.package_id.unwrap()));

    let quote: Value =
        http.get(format!("{url}/v1/cost?size=1234&epochs=2")).send().await.unwrap().json().await.unwrap();
    let too_large = http.get(format!("{url}/v1/cost?size=99999999&epochs=2")).send().await.unwrap();
    assert_eq!(too_large.json::<Value>().await.unwrap()["error"], "EBlobTooLarge");

    let (root_hash, blob_id) = blob(1, 1234);
    let register = json!({
        "sender": client(), "blob_id": URL_SAFE_NO_PAD.encode(blob_id), "root_hash": URL_SAFE_NO_PAD.encode(root_hash),
        "size": 1234, "deletable": true, "epochs_ahead": 2,
    });
    let response = post("/v1/blobs/register", register.clone()).await.unwrap();
    assert_eq!(response.status(), 200);
    let registered: Value = response.json().await.unwrap();
    assert_eq!(registered["events"][1]["type"], "BlobRegistered");
    // The quote was the price paid.
    assert_eq!(registered["events"][0]["data"]["cost"], quote["storage_cost"]);
    assert_eq!(registered["blob"]["storage"]["storage_size"], quote["encoded_size"]);
    let object_id: sui_sdk_types::Address = serde_json::from_value(registered["blob"]["object_id"].clone()).unwrap();

    let message = blob_certification(1, &blob_id, Persistence::Deletable(object_id.into()));
    let (signature, bitmap) = network.certify_all(chain.lock().unwrap().state(), &message);
    let certify = |message: &[u8]| {
        json!({
            "sender": client(), "object_id": object_id, "signature": STANDARD.encode(&signature),
            "signers_bitmap": STANDARD.encode(&bitmap), "message": STANDARD.encode(message),
        })
    };
    let mut wrong_epoch = message.clone();
    wrong_epoch[3] = 9;
    let refused = post("/v1/blobs/certify", certify(&wrong_epoch)).await.unwrap();
    assert_eq!(refused.status(), 400);
    let error: Value = refused.json().await.unwrap();
    assert_eq!(error["error"], "ESigVerification");
    assert_eq!(error["module"], "bls_aggregate");

    let certified: Value = post("/v1/blobs/certify", certify(&message)).await.unwrap().json().await.unwrap();
    assert_eq!(certified["blob"]["certified_epoch"], 1);

    let by_id: Value = http
        .get(format!("{url}/v1/blobs/{}", URL_SAFE_NO_PAD.encode(blob_id)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(by_id["objects"][0]["object_id"], json!(object_id));
    let owned: Value =
        http.get(format!("{url}/v1/owners/{}/blobs", client())).send().await.unwrap().json().await.unwrap();
    assert_eq!(owned["objects"][0]["object_id"], json!(object_id));
    let others: Value =
        http.get(format!("{url}/v1/owners/{}/blobs", address(0x55, 5))).send().await.unwrap().json().await.unwrap();
    assert_eq!(others["objects"], json!([]));

    let garbage = http.post(format!("{url}/v1/blobs/delete")).body("{not json").send().await.unwrap();
    assert_eq!(garbage.status(), 400);
    assert_eq!(garbage.json::<Value>().await.unwrap()["error"], "BadInput");
    let missing = post("/v1/blobs/delete", json!({"sender": client(), "object_id": address(0x55, 5)})).await.unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.json::<Value>().await.unwrap()["error"], "ObjectNotFound");

    let advanced: Value = post("/v1/epoch/advance", json!({})).await.unwrap().json().await.unwrap();
    assert_eq!(advanced["epoch"], 2);
    let deleted: Value = post("/v1/blobs/delete", json!({"sender": client(), "object_id": object_id}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(deleted["events"][0]["type"], "BlobDeleted");
    assert_eq!(deleted["events"][0]["data"]["was_certified"], true);
}
