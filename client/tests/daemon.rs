//! `walrus daemon` over a committee of seven real nodes: the publisher's `PUT /v1/blobs` and
//! the aggregator's reads, their headers, ranges and error shapes, and the daemon's limits.

mod common;

use std::time::Duration;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use walrus_client::daemon::{self, DaemonConfig};
use walrus_client::{ChainAccess, RegisterRequest};
use walrus_encoder::BlobId;

struct Daemon {
    addr: std::net::SocketAddr,
    http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    server: JoinHandle<std::io::Result<()>>,
}

impl Daemon {
    async fn start(cluster: &Cluster, config: DaemonConfig) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let router = daemon::router(cluster.client(), config);
        let server = tokio::spawn(daemon::serve(listener, router, async move {
            let _ = stopped.await;
        }));
        Self { addr, http: reqwest::Client::new(), stop: Some(stop), server }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn put(&self, query: &str, body: Vec<u8>) -> (StatusCode, Value) {
        let answer = self.http.put(self.url(&format!("/v1/blobs{query}"))).body(body).send().await.unwrap();
        let status = answer.status();
        (status, serde_json::from_slice(&answer.bytes().await.unwrap()).unwrap())
    }

    async fn get(&self, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        self.request(Method::GET, path, headers).await
    }

    async fn request(&self, method: Method, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut request = self.http.request(method, self.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.unwrap()
    }
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response.headers().get(name).map_or("", |v| v.to_str().unwrap())
}

/// Asserts an AIP-193 error answer with this status and reason; returns its body.
async fn assert_error(response: reqwest::Response, code: u16, status: &str, reason: &str) -> Value {
    assert_eq!(response.status().as_u16(), code);
    assert_eq!(header(&response, "cache-control"), "no-store", "errors must not be cached");
    let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    let error = &body["error"];
    assert_eq!((error["code"].as_u64(), error["status"].as_str()), (Some(code as u64), Some(status)), "{body}");
    let detail = &error["details"][0];
    assert_eq!(detail["@type"], "ErrorInfo");
    assert_eq!(detail["reason"], reason, "{body}");
    let domain = if status == "INTERNAL" { "global" } else { "daemon.walrus.space" };
    assert_eq!(detail["domain"], domain);
    assert!(!error["message"].as_str().unwrap().is_empty());
    body
}

async fn assert_put_error(daemon: &Daemon, query: &str, body: Vec<u8>, code: u16, reason: &str) -> Value {
    let response = daemon.http.put(daemon.url(&format!("/v1/blobs{query}"))).body(body).send().await.unwrap();
    let status = if code == 413 {
        "PAYLOAD_TOO_LARGE"
    } else if code == 504 {
        "DEADLINE_EXCEEDED"
    } else {
        "INVALID_ARGUMENT"
    };
    assert_error(response, code, status, reason).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_blob_reads_back_with_the_aggregator_headers() {
    let cluster = Cluster::start().await;
    let daemon = Daemon::start(&cluster, DaemonConfig::default()).await;
    let data = blob(100_000, 3);
    let expected_id = walrus_encoder::compute_metadata(N_SHARDS, &data).unwrap().blob_id();

    let (status, json) = daemon.put("?epochs=2", data.clone()).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    let created = &json["newlyCreated"];
    let object = &created["blobObject"];
    assert_eq!(object["blobId"], expected_id.to_string());
    assert_eq!(
        (object["size"].as_u64(), object["deletable"].as_bool()),
        (Some(100_000), Some(true)),
        "deletable by default"
    );
    assert_eq!((object["certifiedEpoch"].as_u64(), object["storage"]["endEpoch"].as_u64()), (Some(1), Some(3)));
    assert_eq!(created["resourceOperation"]["registerFromScratch"]["epochsAhead"], 2);
    assert!(created["cost"].as_u64().unwrap() > 0);
    let object_id = object["id"].as_str().unwrap().to_owned();

    // A permanent copy, then the same again: already certified, nothing new registered.
    let (_, json) = daemon.put("?epochs=2&permanent=true", data.clone()).await;
    assert_eq!(json["newlyCreated"]["blobObject"]["deletable"], false);
    let (status, json) = daemon.put("?epochs=1&permanent=true", data.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json["alreadyCertified"]["blobId"], expected_id.to_string(), "{json}");
    assert_eq!(json["alreadyCertified"]["endEpoch"], 3);
    // Unless forced.
    let (_, json) = daemon.put("?epochs=1&permanent=true&force=true&deletable=false", data.clone()).await;
    assert!(json["newlyCreated"].is_object(), "{json}");
    assert_eq!(cluster.chain.blob_objects_now(&expected_id).len(), 3);

    let path = format!("/v1/blobs/{expected_id}");
    let response = daemon.get(&path, &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "etag"), expected_id.to_string());
    assert_eq!(header(&response, "cache-control"), "public, max-age=86400, stale-while-revalidate=3600");
    assert_eq!(header(&response, "x-content-type-options"), "nosniff");
    assert_eq!(header(&response, "content-type"), "application/octet-stream");
    assert_eq!(header(&response, "accept-ranges"), "bytes");
    assert_eq!(header(&response, "content-length"), "100000");
    assert!(response.bytes().await.unwrap() == data, "the bytes read back are the bytes stored");

    // The caller names the type it wants (Walrus mirrors `Accept`, then a GET's `Content-Type`).
    let typed = daemon.get(&path, &[("accept", "image/png")]).await;
    assert_eq!(header(&typed, "content-type"), "image/png");
    let typed = daemon.get(&path, &[("accept", "*/*"), ("content-type", "text/plain")]).await;
    assert_eq!(header(&typed, "content-type"), "text/plain");

    // HEAD: the same headers, no body.
    let head = daemon.request(Method::HEAD, &path, &[]).await;
    assert_eq!((head.status(), header(&head, "content-length")), (StatusCode::OK, "100000"));
    assert_eq!(header(&head, "etag"), expected_id.to_string());
    assert!(head.bytes().await.unwrap().is_empty());

    // A cache that holds the blob is told it is current.
    let cached = daemon.get(&path, &[("if-none-match", &format!("\"{expected_id}\""))]).await;
    assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);
    assert!(cached.bytes().await.unwrap().is_empty());
    let other = daemon.get(&path, &[("if-none-match", "\"something-else\"")]).await;
    assert_eq!(other.status(), StatusCode::OK);

    // By object ID: the deletable object stored first.
    let response = daemon.get(&format!("/v1/blobs/by-object-id/{object_id}"), &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "etag"), expected_id.to_string());
    assert!(response.bytes().await.unwrap() == data);

    // The empty blob, and a blob ID given in decimal as Sui explorers show it.
    let (_, json) = daemon.put("", Vec::new()).await;
    let empty_id: BlobId = json["newlyCreated"]["blobObject"]["blobId"].as_str().unwrap().parse().unwrap();
    assert_eq!(json["newlyCreated"]["blobObject"]["storage"]["endEpoch"], EPOCH + 1, "one epoch by default");
    let response = daemon.get(&format!("/v1/blobs/{}", empty_id.to_u256_decimal()), &[]).await;
    assert_eq!((response.status(), header(&response, "etag")), (StatusCode::OK, empty_id.to_string().as_str()));
    assert!(response.bytes().await.unwrap().is_empty());

    let status = daemon.get("/status", &[]).await;
    assert_eq!(status.text().await.unwrap(), "OK");

    // HEAD answers from the chain alone: it reads nothing from the nodes.
    for node in &cluster.nodes {
        node.take_down().await;
    }
    let head = daemon.request(Method::HEAD, &path, &[]).await;
    assert_eq!((head.status(), header(&head, "content-length")), (StatusCode::OK, "100000"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranges_give_206_or_416() {
    let cluster = Cluster::start().await;
    let daemon = Daemon::start(&cluster, DaemonConfig::default()).await;
    let data = blob(5000, 9);
    let (_, json) = daemon.put("?epochs=1", data.clone()).await;
    let id = json["newlyCreated"]["blobObject"]["blobId"].as_str().unwrap().to_owned();
    let path = format!("/v1/blobs/{id}");

    for (range, start, end) in [
        ("bytes=0-99", 0, 100),
        ("bytes=4990-", 4990, 5000),
        ("bytes=-10", 4990, 5000),
        ("bytes=4000-9999", 4000, 5000),
    ] {
        let response = daemon.get(&path, &[("range", range)]).await;
        assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(header(&response, "content-range"), format!("bytes {start}-{}/5000", end - 1), "{range}");
        assert_eq!(header(&response, "content-length"), (end - start).to_string());
        assert_eq!(header(&response, "etag"), id);
        assert!(response.bytes().await.unwrap() == data[start..end], "{range}: the right bytes");
    }
    let head = daemon.request(Method::HEAD, &path, &[("range", "bytes=10-19")]).await;
    assert_eq!((head.status(), header(&head, "content-length")), (StatusCode::PARTIAL_CONTENT, "10"));
    assert_eq!(header(&head, "content-range"), "bytes 10-19/5000");

    for range in ["bytes=5000-5001", "bytes=7000-", "bytes=-0", "bytes=0-1,3-4", "bytes=9-3", "pages=1-2", "bytes=x-"] {
        let response = daemon.get(&path, &[("range", range)]).await;
        assert_eq!(header(&response, "content-range"), "bytes */5000", "{range}");
        assert_error(response, 416, "RANGE_NOT_SATISFIABLE", "INVALID_BYTE_RANGE").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_errors() {
    let cluster = Cluster::start().await;
    let config = DaemonConfig { max_body_size: 4096, ..DaemonConfig::default() };
    let daemon = Daemon::start(&cluster, config).await;

    let unknown = BlobId([7; 32]);
    let body =
        assert_error(daemon.get(&format!("/v1/blobs/{unknown}"), &[]).await, 404, "NOT_FOUND", "BLOB_NOT_FOUND").await;
    assert!(body["error"]["message"].as_str().unwrap().contains("does not exist"), "{body}");
    let head = daemon.request(Method::HEAD, &format!("/v1/blobs/{unknown}"), &[]).await;
    assert_eq!(head.status(), StatusCode::NOT_FOUND);
    assert_error(daemon.get("/v1/blobs/not-a-blob-id", &[]).await, 400, "INVALID_ARGUMENT", "INVALID_BLOB_ID").await;
    let missing_object = format!("/v1/blobs/by-object-id/0x{}", "ab".repeat(32));
    assert_error(daemon.get(&missing_object, &[]).await, 404, "NOT_FOUND", "BLOB_NOT_FOUND").await;
    assert_error(daemon.get("/v1/blobs/by-object-id/0x12", &[]).await, 400, "INVALID_ARGUMENT", "INVALID_OBJECT_ID")
        .await;
    assert_error(daemon.get("/v2/nothing", &[]).await, 404, "NOT_FOUND", "NOT_FOUND").await;

    // Registered but never certified: not readable yet, whichever way it is asked for.
    let data = blob(300, 1);
    let metadata = walrus_encoder::compute_metadata(N_SHARDS, &data).unwrap();
    let request = RegisterRequest {
        blob_id: metadata.blob_id(),
        root_hash: metadata.metadata().root_hash().bytes(),
        unencoded_size: 300,
        encoded_size: metadata.layout().encoded_length(),
        encoding_type: 1,
        epochs_ahead: 1,
        deletable: true,
    };
    let registered = cluster.chain.register(&request).await.unwrap();
    let body = assert_error(
        daemon.get(&format!("/v1/blobs/{}", metadata.blob_id()), &[]).await,
        404,
        "NOT_FOUND",
        "BLOB_NOT_FOUND",
    )
    .await;
    assert!(body["error"]["message"].as_str().unwrap().contains("not certified"), "{body}");
    let by_object = format!("/v1/blobs/by-object-id/{}", registered.blob.object_id);
    assert_error(daemon.get(&by_object, &[]).await, 404, "NOT_FOUND", "BLOB_NOT_FOUND").await;

    // The publisher refuses what it cannot do as asked, before storing anything.
    let small = blob(10, 2);
    assert_put_error(&daemon, "?deletable=true&permanent=true", small.clone(), 400, "INVALID_BLOB_PERSISTENCE").await;
    assert_put_error(&daemon, "?epochs=0", small.clone(), 400, "INVALID_EPOCHS").await;
    assert_put_error(&daemon, "?epochs=-1", small.clone(), 400, "MALFORMED_REQUEST").await;
    assert_put_error(&daemon, "?epoch=3", small.clone(), 400, "MALFORMED_REQUEST").await;
    assert_put_error(&daemon, "?encoding_type=RS", small.clone(), 400, "UNSUPPORTED_ENCODING_TYPE").await;
    let to = format!("?send_object_to=0x{}", "01".repeat(32));
    assert_put_error(&daemon, &to, small.clone(), 400, "UNSUPPORTED_PARAMETER").await;
    let body = assert_put_error(&daemon, "", blob(4097, 3), 413, "BLOB_TOO_LARGE").await;
    assert_eq!(body["error"]["details"][0]["metadata"]["maxBodySize"], "4096");
    let certificates = cluster.chain.certificates().len();
    assert_eq!(certificates, 0, "nothing was stored");
    // Exactly the limit is fine.
    let (status, json) = daemon.put("?encoding_type=RS2", blob(4096, 3)).await;
    assert_eq!(status, StatusCode::OK, "{json}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_few_nodes_give_504_on_store_and_503_on_read() {
    let cluster = Cluster::start().await;
    let daemon = Daemon::start(&cluster, DaemonConfig::default()).await;
    let data = blob(2000, 5);
    let (_, json) = daemon.put("", data.clone()).await;
    let id = json["newlyCreated"]["blobObject"]["blobId"].as_str().unwrap().to_owned();

    for node in &cluster.nodes[..F_NODES + 1] {
        node.take_down().await;
    }
    let body = assert_put_error(&daemon, "", blob(2000, 6), 504, "INSUFFICIENT_CONFIRMATIONS").await;
    let error = &body["error"];
    let metadata = &error["details"][0]["metadata"];
    assert_eq!(
        (metadata["confirmedShards"].as_str(), metadata["neededShards"].as_str()),
        (Some("8"), Some("10")),
        "{body}"
    );
    assert_eq!(metadata["failedNodes"], "3");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains(&cluster.nodes[0].address()), "the failed nodes are named: {message}");

    // Reads still work with f + 1 nodes down (primary slivers need only n - 2f shards) ...
    let response = daemon.get(&format!("/v1/blobs/{id}"), &[]).await;
    assert!(response.bytes().await.unwrap() == data);
    // ... but not with five of seven.
    for node in &cluster.nodes[F_NODES + 1..5] {
        node.take_down().await;
    }
    let response = daemon.get(&format!("/v1/blobs/{id}"), &[]).await;
    assert_error(response, 503, "UNAVAILABLE", "BLOB_UNAVAILABLE").await;
}

/// Sends the head of a PUT whose body of `len` bytes is still to come.
async fn start_slow_put(daemon: &Daemon, len: usize) -> TcpStream {
    let mut stream = TcpStream::connect(daemon.addr).await.unwrap();
    let head = format!("PUT /v1/blobs HTTP/1.1\r\nhost: x\r\ncontent-length: {len}\r\nconnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

/// Whether the daemon has answered on `stream` (or closed it) already.
async fn has_answer(stream: &TcpStream) -> bool {
    tokio::time::timeout(Duration::from_millis(20), stream.peek(&mut [0])).await.is_ok()
}

async fn read_answer(mut stream: TcpStream) -> String {
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_turns_away_surplus_requests_and_times_out_slow_ones() {
    let cluster = Cluster::start().await;
    let config = DaemonConfig {
        max_concurrent_requests: 1,
        max_waiting_requests: 0,
        request_timeout: Duration::from_secs(1),
        ..DaemonConfig::default()
    };
    let daemon = Daemon::start(&cluster, config).await;
    let mut slow = start_slow_put(&daemon, 100).await;
    // Until the slow request holds the one slot, others are served; then they are turned away.
    // A quick request the daemon took first turns the slow one away: it is then sent again.
    let mut tries = 0;
    let refused = loop {
        tries += 1;
        assert!(tries <= 100, "the slow request never held the slot");
        if has_answer(&slow).await {
            slow = start_slow_put(&daemon, 100).await;
        }
        let response = daemon.http.put(daemon.url("/v1/blobs")).body(blob(10, 1)).send().await.unwrap();
        if response.status() != StatusCode::OK {
            break response;
        }
    };
    assert_error(refused, 429, "RESOURCE_EXHAUSTED", "TOO_MANY_REQUESTS").await;
    // The aggregator has its own limit: reads go on while the publisher is busy.
    let unknown = daemon.get(&format!("/v1/blobs/{}", BlobId([1; 32])), &[]).await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let answer = read_answer(slow).await;
    assert!(answer.starts_with("HTTP/1.1 504"), "{answer}");
    assert!(answer.contains("REQUEST_TIMEOUT"), "{answer}");
    // The slot is free again.
    let (status, _) = daemon.put("", blob(10, 1)).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_a_store_in_flight_finish() {
    let cluster = Cluster::start().await;
    let mut daemon = Daemon::start(&cluster, DaemonConfig::default()).await;
    let data = blob(1000, 4);
    let mut slow = start_slow_put(&daemon, data.len()).await;
    slow.write_all(&data[..500]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    daemon.stop.take().unwrap().send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(TcpStream::connect(daemon.addr).await.is_err(), "no new connections once stopping");
    assert!(!daemon.server.is_finished(), "a request is in flight");
    slow.write_all(&data[500..]).await.unwrap();
    let answer = read_answer(slow).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("newlyCreated"), "{answer}");
    tokio::time::timeout(Duration::from_secs(5), &mut daemon.server).await.unwrap().unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_origin_may_use_the_daemon() {
    let cluster = Cluster::start().await;
    let daemon = Daemon::start(&cluster, DaemonConfig::default()).await;
    let preflight = daemon
        .request(
            Method::OPTIONS,
            "/v1/blobs",
            &[("origin", "https://example.org"), ("access-control-request-method", "PUT")],
        )
        .await;
    assert!(preflight.status().is_success());
    assert_eq!(header(&preflight, "access-control-allow-origin"), "*");
    assert!(
        header(&preflight, "access-control-allow-methods").contains('*')
            || header(&preflight, "access-control-allow-methods").contains("PUT")
    );
    assert_eq!(header(&preflight, "access-control-max-age"), "86400");
    let read = daemon.get(&format!("/v1/blobs/{}", BlobId([1; 32])), &[("origin", "https://example.org")]).await;
    assert_eq!(header(&read, "access-control-allow-origin"), "*");
    assert_eq!(header(&read, "access-control-expose-headers"), "*");
}

#[test]
fn the_daemon_command_needs_a_chain_and_a_valid_address() {
    let walrus = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_walrus"))
            .args(args)
            .env_remove("WALRUS_CONFIG")
            .output()
            .unwrap()
    };
    let output = walrus(&["daemon", "--listen", "127.0.0.1:0"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no chain is configured"));
    let output = walrus(&["daemon", "--listen", "not-an-address"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("invalid socket address"));
}
