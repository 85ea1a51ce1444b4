//! [`ChainAccess`] over the HTTP API of the local chain (`walrus-localchain`, the test
//! stand-in for Sui). Every transaction is sent as the configured wallet (`sender`); the
//! chain applies the contracts' rules and answers a refusal with the Move error's name and
//! message, which [`ChainError`] carries as they are.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use walrus_encoder::BlobId;

use super::{BlobObject, ChainAccess, ChainError, Committee, Member, ObjectId, Prices, RegisterRequest, Registered};
use crate::certificate::Certificate;

/// The local chain at `url`, used by the wallet `sender`.
pub struct LocalChain {
    http: reqwest::Client,
    url: String,
    sender: ObjectId,
}

/// The keys of `[chain]` besides `kind` when `kind = "local"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    /// `http://HOST:PORT` of `walrus-localchain serve`.
    url: String,
    /// The wallet's address (`0x` + 64 hex digits), which pays and owns what it stores.
    sender: String,
}

impl LocalChain {
    pub fn new(url: &str, sender: ObjectId) -> Result<Self, String> {
        let url = url.trim_end_matches('/');
        if !url.starts_with("http://") {
            return Err(format!("[chain] url {url:?} must start with http:// (the local chain serves plain HTTP)"));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
        Ok(Self { http, url: url.to_owned(), sender })
    }

    /// From the `[chain]` table of `client.toml`: `url` and `sender`, nothing else.
    pub fn from_settings(settings: &toml::Table) -> Result<Self, String> {
        let settings = Settings::deserialize(toml::Value::Table(settings.clone()))
            .map_err(|e| format!("[chain] of kind \"local\": {e}"))?;
        let sender = settings.sender.parse().map_err(|e| format!("[chain] sender: {e}"))?;
        Self::new(&settings.url, sender)
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ChainError> {
        self.answer(path, self.http.get(format!("{}{path}", self.url))).await
    }

    async fn post<T: DeserializeOwned>(&self, path: &str, mut body: Value) -> Result<T, ChainError> {
        body["sender"] = json!(self.sender);
        let request = self
            .http
            .post(format!("{}{path}", self.url))
            .header("content-type", "application/json")
            .body(body.to_string());
        self.answer(path, request).await
    }

    /// The answer's JSON, or the chain's refusal in its own words.
    async fn answer<T: DeserializeOwned>(&self, path: &str, request: reqwest::RequestBuilder) -> Result<T, ChainError> {
        let answer = self.answer_unless_missing(path, request, false).await?;
        Ok(answer.expect("only a missing object is None"))
    }

    /// As [`Self::answer`]; with `missing_is_none`, a 404 is `None` instead of an error.
    async fn answer_unless_missing<T: DeserializeOwned>(
        &self,
        path: &str,
        request: reqwest::RequestBuilder,
        missing_is_none: bool,
    ) -> Result<Option<T>, ChainError> {
        let unreachable = |e: reqwest::Error| ChainError(format!("cannot reach the local chain at {}: {e}", self.url));
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(unreachable)?;
        let garbled = |what: &str| {
            let start: String = String::from_utf8_lossy(&bytes).chars().take(200).collect();
            ChainError(format!("the local chain at {} answered {path} with {status} and {what}: {start:?}", self.url))
        };
        if missing_is_none && status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            let refusal: Refusal = serde_json::from_slice(&bytes).map_err(|_| garbled("no error it knows"))?;
            return Err(ChainError(refusal.to_string()));
        }
        serde_json::from_slice(&bytes).map(Some).map_err(|e| garbled(&format!("an answer it cannot read ({e})")))
    }

    async fn state(&self) -> Result<StateJson, ChainError> {
        self.get("/v1/state").await
    }

    /// What the chain charges for `size` unencoded bytes over `epochs` epochs at today's prices.
    async fn quote(&self, size: u64, epochs: u32) -> Result<Quote, ChainError> {
        self.get(&format!("/v1/cost?size={size}&epochs={epochs}")).await
    }

    /// The blob object after a call, which the chain returns with it.
    fn blob_of(&self, answer: &CallAnswer) -> Result<BlobObject, ChainError> {
        let blob = answer.blob.as_ref().ok_or_else(|| ChainError("the local chain returned no blob object".into()))?;
        blob.to_object(&self.sender)
    }
}

/// `{"error": "EBlobNotDeletable", "module": "blob", "message": …}`.
#[derive(Deserialize)]
struct Refusal {
    error: String,
    module: Option<String>,
    message: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.module {
            Some(module) => write!(f, "the chain refused: {module}::{} ({})", self.error, self.message),
            None => write!(f, "the chain refused: {}: {}", self.error, self.message),
        }
    }
}

#[derive(Deserialize)]
struct StateJson {
    epoch: u32,
    n_shards: u16,
    storage_price_per_unit_size: u64,
    write_price_per_unit_size: u64,
    max_epochs_ahead: u32,
    committee: Vec<MemberJson>,
}

#[derive(Deserialize)]
struct MemberJson {
    node_id: ObjectId,
    network_address: String,
    /// Base64.
    public_key: String,
    shards: Vec<u16>,
}

#[derive(Deserialize)]
struct BlobJson {
    object_id: ObjectId,
    owner: ObjectId,
    /// Base64url, as blob IDs are written.
    blob_id: String,
    size: u64,
    registered_epoch: u32,
    certified_epoch: Option<u32>,
    deletable: bool,
    storage: StorageJson,
}

#[derive(Deserialize)]
struct StorageJson {
    id: ObjectId,
    start_epoch: u32,
    end_epoch: u32,
    storage_size: u64,
}

#[derive(Deserialize)]
struct BlobsJson {
    objects: Vec<BlobJson>,
}

#[derive(Deserialize)]
struct Quote {
    storage_cost: u64,
    write_cost: u64,
}

#[derive(Deserialize)]
struct CallAnswer {
    blob: Option<BlobJson>,
    events: Vec<EventJson>,
}

#[derive(Deserialize)]
struct EventJson {
    #[serde(rename = "type")]
    kind: String,
    data: Value,
}

impl BlobJson {
    fn to_object(&self, wallet: &ObjectId) -> Result<BlobObject, ChainError> {
        let blob_id = self.blob_id.parse().map_err(|e| ChainError(format!("blob object {}: {e}", self.object_id)))?;
        Ok(BlobObject {
            object_id: self.object_id,
            blob_id,
            registered_epoch: self.registered_epoch,
            certified_epoch: self.certified_epoch,
            size: self.size,
            storage_id: self.storage.id,
            start_epoch: self.storage.start_epoch,
            end_epoch: self.storage.end_epoch,
            storage_size: self.storage.storage_size,
            deletable: self.deletable,
            owned: self.owner == *wallet,
        })
    }
}

impl MemberJson {
    fn to_member(&self) -> Result<Member, ChainError> {
        let public_key = STANDARD
            .decode(&self.public_key)
            .map_err(|e| ChainError(format!("node {}: the public key is not base64: {e}", self.node_id)))?;
        Ok(Member {
            node_id: self.node_id,
            public_key,
            shards: self.shards.clone(),
            network_address: self.network_address.clone(),
        })
    }
}

#[async_trait::async_trait]
impl ChainAccess for LocalChain {
    async fn current_epoch(&self) -> Result<u32, ChainError> {
        Ok(self.state().await?.epoch)
    }

    async fn committee(&self) -> Result<Committee, ChainError> {
        let state = self.state().await?;
        let members = state.committee.iter().map(MemberJson::to_member).collect::<Result<_, _>>()?;
        Ok(Committee { epoch: state.epoch, members })
    }

    async fn n_shards(&self) -> Result<u16, ChainError> {
        Ok(self.state().await?.n_shards)
    }

    async fn prices(&self) -> Result<Prices, ChainError> {
        let state = self.state().await?;
        Ok(Prices {
            storage_per_unit_epoch: state.storage_price_per_unit_size,
            write_per_unit: state.write_price_per_unit_size,
        })
    }

    async fn max_epochs_ahead(&self) -> Result<u32, ChainError> {
        Ok(self.state().await?.max_epochs_ahead)
    }

    async fn owned_blobs(&self) -> Result<Vec<BlobObject>, ChainError> {
        let blobs: BlobsJson = self.get(&format!("/v1/owners/{}/blobs", self.sender)).await?;
        blobs.objects.iter().map(|b| b.to_object(&self.sender)).collect()
    }

    /// The chain keeps expired objects until they are deleted: only those still covering
    /// the current epoch are live.
    async fn blob_objects(&self, blob_id: &BlobId) -> Result<Vec<BlobObject>, ChainError> {
        let epoch = self.current_epoch().await?;
        let blobs: BlobsJson = self.get(&format!("/v1/blobs/{blob_id}")).await?;
        let objects = blobs.objects.iter().map(|b| b.to_object(&self.sender)).collect::<Result<Vec<_>, _>>()?;
        Ok(objects.into_iter().filter(|o| o.blob_id == *blob_id && o.end_epoch > epoch).collect())
    }

    async fn blob_object(&self, object_id: &ObjectId) -> Result<Option<BlobObject>, ChainError> {
        let path = format!("/v1/objects/{object_id}");
        let request = self.http.get(format!("{}{path}", self.url));
        let Some(blob) = self.answer_unless_missing::<BlobJson>(&path, request, true).await? else {
            return Ok(None);
        };
        let epoch = self.current_epoch().await?;
        Ok(Some(blob.to_object(&self.sender)?).filter(|o| o.end_epoch > epoch))
    }

    /// The cost is the storage the chain charged (its `StorageReserved` event) plus the write
    /// fee at the price quoted just before.
    async fn register(&self, request: &RegisterRequest) -> Result<Registered, ChainError> {
        let quote = self.quote(request.unencoded_size, request.epochs_ahead).await?;
        let body = json!({
            "blob_id": request.blob_id.to_string(),
            "root_hash": BlobId(request.root_hash).to_string(),
            "size": request.unencoded_size,
            "encoding_type": request.encoding_type,
            "deletable": request.deletable,
            "epochs_ahead": request.epochs_ahead,
        });
        let answer: CallAnswer = self.post("/v1/blobs/register", body).await?;
        let storage_cost = answer
            .events
            .iter()
            .find(|e| e.kind == "StorageReserved")
            .and_then(|e| e.data["cost"].as_u64())
            .ok_or_else(|| ChainError("the registration emitted no StorageReserved event with its cost".into()))?;
        Ok(Registered { blob: self.blob_of(&answer)?, cost: storage_cost + quote.write_cost, reused_storage: false })
    }

    async fn certify(&self, object_id: &ObjectId, certificate: &Certificate) -> Result<BlobObject, ChainError> {
        let body = json!({
            "object_id": object_id,
            "signature": STANDARD.encode(certificate.signature),
            "signers_bitmap": STANDARD.encode(certificate.signers_bitmap()),
            "message": STANDARD.encode(&certificate.message),
        });
        let answer: CallAnswer = self.post("/v1/blobs/certify", body).await?;
        self.blob_of(&answer)
    }

    async fn delete(&self, object_id: &ObjectId) -> Result<(), ChainError> {
        let _: CallAnswer = self.post("/v1/blobs/delete", json!({ "object_id": object_id })).await?;
        Ok(())
    }

    /// The cost is the storage for the added epochs at the price quoted just before.
    async fn extend(&self, object_id: &ObjectId, epochs: u32) -> Result<Registered, ChainError> {
        let blob: BlobJson = self.get(&format!("/v1/objects/{object_id}")).await?;
        let quote = self.quote(blob.size, epochs).await?;
        let answer: CallAnswer =
            self.post("/v1/blobs/extend", json!({ "object_id": object_id, "epochs": epochs })).await?;
        Ok(Registered { blob: self.blob_of(&answer)?, cost: quote.storage_cost, reused_storage: false })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(text: &str) -> Result<LocalChain, String> {
        LocalChain::from_settings(&toml::from_str(text).unwrap())
    }

    #[test]
    fn settings_need_an_http_url_and_a_full_sender_address() {
        let sender = format!("0x{}", "ab".repeat(32));
        let chain = settings(&format!("url = \"http://127.0.0.1:9185/\"\nsender = \"{sender}\"")).unwrap();
        assert_eq!((chain.url.as_str(), chain.sender.to_string()), ("http://127.0.0.1:9185", sender.clone()));
        let err = settings(&format!("url = \"https://x\"\nsender = \"{sender}\"")).err().unwrap();
        assert!(err.contains("must start with http://"), "{err}");
        assert!(settings("url = \"http://x\"\nsender = \"0x12\"").err().unwrap().contains("[chain] sender"));
        assert!(settings("url = \"http://x\"").err().unwrap().contains("missing field `sender`"));
        let typo = settings(&format!("url = \"http://x\"\nsender = \"{sender}\"\nsendr = 1")).err().unwrap();
        assert!(typo.contains("unknown field `sendr`"), "{typo}");
    }

    #[test]
    fn refusals_show_the_move_error_name_and_message() {
        let refusal: Refusal = serde_json::from_str(
            r#"{"error":"EBlobNotDeletable","module":"blob","message":"The blob is not deletable"}"#,
        )
        .unwrap();
        assert_eq!(refusal.to_string(), "the chain refused: blob::EBlobNotDeletable (The blob is not deletable)");
        let refusal: Refusal =
            serde_json::from_str(r#"{"error":"NotOwner","message":"object 0x1 is owned by 0x2"}"#).unwrap();
        assert_eq!(refusal.to_string(), "the chain refused: NotOwner: object 0x1 is owned by 0x2");
    }
}
