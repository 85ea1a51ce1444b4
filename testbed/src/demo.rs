//! `walrus-testbed demo FILE`: the README's main job. A testbed comes up, the `walrus` CLI
//! stores the file through it and reads it back, the copy is compared with the original, the
//! indexer (if running) shows the blob certified, and everything stops.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::Value;

use crate::children::Binaries;
use crate::testbed::{get_json, Options, Testbed};
use crate::StopSignals;

/// How long the indexer gets to show the certification after the store returned.
const INDEXER_WAIT: Duration = Duration::from_secs(30);

pub async fn run(
    file: &Path,
    epochs: u32,
    dir: Option<&Path>,
    options: &Options,
    stop: &mut StopSignals,
) -> anyhow::Result<()> {
    anyhow::ensure!(file.is_file(), "{} is not a file", file.display());
    let walrus = Binaries::beside_current_exe()?.get("walrus")?;
    let temporary = match dir {
        Some(_) => None,
        None => Some(tempfile::Builder::new().prefix("walrus-testbed-").tempdir()?),
    };
    let dir = dir.or(temporary.as_ref().map(|t| t.path())).context("no folder")?;
    let mut testbed = Testbed::new(&std::path::absolute(dir)?)?;
    let outcome = tokio::select! {
        done = async {
            testbed.bring_up(options).await?;
            eprintln!("walrus-testbed: ready ({} nodes, {} shards)", options.nodes, options.shards);
            store_and_read(&testbed, &walrus, file, epochs).await
        } => done,
        name = stop.wait() => Err(anyhow::anyhow!("{name}")),
    };
    testbed.shutdown().await;
    match (outcome, temporary) {
        (Ok(()), _) => Ok(()),
        (Err(error), temporary) => {
            if let Some(temporary) = temporary {
                eprintln!("walrus-testbed: the testbed's files and logs are kept in {}", temporary.keep().display());
            }
            Err(error)
        }
    }
}

async fn store_and_read(testbed: &Testbed, walrus: &Path, file: &Path, epochs: u32) -> anyhow::Result<()> {
    let config = testbed.dir.join("client.toml");
    let config_arg = config.to_string_lossy().into_owned();
    let file_arg = file.to_string_lossy().into_owned();
    let epochs = epochs.to_string();
    let stored =
        walrus_cli(walrus, &["--config", &config_arg, "--json", "store", &file_arg, "--epochs", &epochs]).await?;
    println!("{stored}");
    let result: Value = serde_json::from_str(&stored).context("`walrus store --json` did not print JSON")?;
    let blob_id = find_blob_id(&result).context("`walrus store --json` printed no blobId")?;

    let copy = testbed.dir.join("read-back");
    let copy_arg = copy.to_string_lossy().into_owned();
    walrus_cli(walrus, &["--config", &config_arg, "read", &blob_id, "--out", &copy_arg]).await?;
    let original = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let read = std::fs::read(&copy).with_context(|| format!("reading {}", copy.display()))?;
    if original != read {
        bail!(
            "the blob read back ({} bytes, {}) differs from {} ({} bytes)",
            read.len(),
            copy.display(),
            file.display(),
            original.len()
        );
    }
    println!("read back blob {blob_id}: identical to {} ({} bytes)", file.display(), original.len());

    match &testbed.indexer_url {
        Some(url) => println!("{}", serde_json::to_string_pretty(&indexed(url, &blob_id).await?)?),
        None => println!("(the indexer is not running: set DATABASE_URL to a PostgreSQL server to see its view)"),
    }
    Ok(())
}

/// Runs the `walrus` CLI and returns its standard output, or an error with its standard error.
pub(crate) async fn walrus_cli(walrus: &Path, args: &[&str]) -> anyhow::Result<String> {
    let mut command = Command::new(walrus);
    command.args(args);
    let shown = format!("walrus {}", args.join(" "));
    eprintln!("$ {shown}");
    let output =
        tokio::task::spawn_blocking(move || command.output()).await?.with_context(|| format!("running {shown}"))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        bail!("{shown} failed ({}): {}", output.status, stderr.trim());
    }
    eprint!("{stderr}");
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The first `blobId` in the store's JSON (one result per file, however it is nested).
fn find_blob_id(value: &Value) -> Option<String> {
    match value {
        Value::Object(map) => {
            map.get("blobId").and_then(Value::as_str).map(str::to_owned).or_else(|| map.values().find_map(find_blob_id))
        }
        Value::Array(items) => items.iter().find_map(find_blob_id),
        _ => None,
    }
}

/// The indexer's view of the blob, once it shows it certified.
async fn indexed(indexer: &str, blob_id: &str) -> anyhow::Result<Value> {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?;
    let url = format!("{indexer}/v1/blobs/{blob_id}");
    let deadline = Instant::now() + INDEXER_WAIT;
    loop {
        let last = get_json(&http, url.clone()).await;
        if let Ok(blob) = &last {
            if blob["status"] == "certified" {
                return Ok(blob.clone());
            }
        }
        if Instant::now() > deadline {
            bail!("the indexer did not show blob {blob_id} certified within {INDEXER_WAIT:?}; last: {last:?}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::find_blob_id;

    #[test]
    fn the_blob_id_is_found_wherever_the_result_nests_it() {
        let id = "M5Xq2v3Z4w";
        for value in [
            json!([{"blobStoreResult": {"newlyCreated": {"blobObject": {"blobId": id}}}, "path": "f"}]),
            json!({"alreadyCertified": {"blobId": id, "endEpoch": 3}}),
            json!({"blobId": id}),
        ] {
            assert_eq!(find_blob_id(&value).as_deref(), Some(id));
        }
        assert_eq!(find_blob_id(&json!([{"path": "f"}])), None);
    }
}
