//! The `walrus-localchain serve` command: created from a genesis file, serving, stopped by
//! SIGTERM, and started again from its folder alone, where it left off.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use common::*;
use serde_json::Value;

/// Starts the server on a free port; returns it and its URL (read from its log).
fn serve(dir: &std::path::Path, genesis: Option<&std::path::Path>) -> (Child, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_walrus-localchain"));
    command.args(["serve", "--no-epoch-timer", "--listen", "127.0.0.1:0", "--dir"]).arg(dir);
    if let Some(genesis) = genesis {
        command.arg("--genesis").arg(genesis);
    }
    let mut child = command.stderr(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().expect("the server logs where it listens").unwrap();
        if let Some(url) = line.strip_prefix("walrus-localchain: listening on ") {
            break url.to_owned();
        }
    };
    (child, url)
}

fn stop(mut child: Child) {
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    assert!(child.wait().unwrap().success(), "SIGTERM ends the server cleanly");
}

#[tokio::test]
async fn serve_creates_then_resumes_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let genesis_path = dir.path().join("genesis.toml");
    std::fs::write(&genesis_path, Network::new(&[1, 2, 3, 4]).genesis.to_toml()).unwrap();
    let chain_dir = dir.path().join("chain");

    let (child, url) = serve(&chain_dir, Some(&genesis_path));
    let http = reqwest::Client::new();
    let advanced: Value = http.post(format!("{url}/v1/epoch/advance")).send().await.unwrap().json().await.unwrap();
    assert_eq!(advanced["epoch"], 2);
    stop(child);

    let (child, url) = serve(&chain_dir, None);
    let state: Value = http.get(format!("{url}/v1/state")).send().await.unwrap().json().await.unwrap();
    assert_eq!(state["epoch"], 2);
    assert_eq!(state["checkpoint"], 1);
    stop(child);

    let output = Command::new(env!("CARGO_BIN_EXE_walrus-localchain"))
        .args(["serve", "--dir"])
        .arg(dir.path().join("empty"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("pass --genesis"));
}
