//! The client value: a chain, the tuning of its requests and a shared HTTP connection pool.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;

use crate::chain::{ChainAccess, Member, ObjectId};
use crate::config::ClientConfig;
use crate::node_client::NodeClient;

/// Stores and reads blobs. Cloning shares it.
#[derive(Clone)]
pub struct Client {
    pub(crate) chain: Arc<dyn ChainAccess>,
    pub(crate) config: ClientConfig,
    pub(crate) http: reqwest::Client,
}

impl Client {
    pub fn new(chain: Arc<dyn ChainAccess>, config: ClientConfig) -> Self {
        let http = NodeClient::http_client(&config.timeouts);
        Self { chain, config, http }
    }

    pub fn chain(&self) -> &dyn ChainAccess {
        self.chain.as_ref()
    }

    pub(crate) fn node(&self, member: &Member) -> NodeClient {
        NodeClient::new(self.http.clone(), &member.network_address, self.config.timeouts)
    }
}

/// A node that failed the client, and how: reported so users can tell which nodes to blame.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeFault {
    pub node_id: ObjectId,
    pub address: String,
    pub shards: usize,
    pub reason: String,
}

impl NodeFault {
    pub(crate) fn new(member: &Member, reason: impl fmt::Display) -> Self {
        Self {
            node_id: member.node_id,
            address: member.network_address.clone(),
            shards: member.weight(),
            reason: reason.to_string(),
        }
    }
}

impl fmt::Display for NodeFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "node {} at {} ({} shards): {}", self.node_id, self.address, self.shards, self.reason)
    }
}

/// Faults one per line, for error messages.
pub(crate) fn list_faults(faults: &[NodeFault]) -> String {
    faults.iter().map(|f| format!("\n  {f}")).collect()
}
