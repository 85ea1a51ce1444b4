//! The client's settings: the tuning of its requests to nodes ([`ClientConfig`]) and the
//! `client.toml` file the CLI reads ([`FileConfig`]), which also names the chain.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::node_client::Timeouts;

/// How hard the client tries, and how much it does at once.
#[derive(Clone, Copy, Debug)]
pub struct ClientConfig {
    pub timeouts: Timeouts,
    /// Attempts per node for one blob before the node counts as failed.
    pub max_attempts: u32,
    /// The wait before the second attempt; it doubles up to `max_backoff`.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// Slivers in flight to (or from) one node at a time.
    pub requests_per_node: usize,
    /// How long a node may wait for the registration before confirming.
    pub confirmation_wait: Duration,
    /// How long a node that does not know the registration yet (it follows the chain behind
    /// the client) is given to catch up, with backoff, before it counts as failed; these
    /// retries are not attempts.
    pub registration_wait: Duration,
    /// After a quorum, how long uploads to the remaining nodes may go on, so that fewer nodes
    /// must recover the blob later.
    pub after_quorum: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            timeouts: Timeouts::default(),
            max_attempts: 5,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(4),
            requests_per_node: 8,
            confirmation_wait: Duration::from_secs(5),
            registration_wait: Duration::from_secs(30),
            after_quorum: Duration::from_secs(2),
        }
    }
}

impl ClientConfig {
    /// The wait before attempt `attempt` (counted from 0).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(16);
        self.initial_backoff.saturating_mul(factor).min(self.max_backoff)
    }
}

/// `client.toml`. Every key is optional; unknown keys are refused so typos do not pass.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Which chain to use and how to reach it; its keys besides `kind` belong to that chain.
    pub chain: Option<ChainConfig>,
    #[serde(default)]
    pub client: Tuning,
}

#[derive(Debug, Deserialize)]
pub struct ChainConfig {
    pub kind: String,
    #[serde(flatten)]
    pub settings: toml::Table,
}

/// The `[client]` table: overrides of [`ClientConfig`]'s defaults.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tuning {
    pub connect_timeout_ms: Option<u64>,
    pub request_timeout_ms: Option<u64>,
    pub timeout_per_mib_ms: Option<u64>,
    pub max_attempts: Option<u32>,
    pub initial_backoff_ms: Option<u64>,
    pub max_backoff_ms: Option<u64>,
    pub requests_per_node: Option<usize>,
    pub confirmation_wait_ms: Option<u64>,
    pub registration_wait_ms: Option<u64>,
    pub after_quorum_ms: Option<u64>,
}

impl FileConfig {
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("{} is not a valid client configuration: {e}", path.display()))
    }

    pub fn client_config(&self) -> Result<ClientConfig, String> {
        let t = &self.client;
        let mut c = ClientConfig::default();
        let ms = Duration::from_millis;
        c.timeouts.connect = t.connect_timeout_ms.map_or(c.timeouts.connect, ms);
        c.timeouts.request = t.request_timeout_ms.map_or(c.timeouts.request, ms);
        c.timeouts.per_mib = t.timeout_per_mib_ms.map_or(c.timeouts.per_mib, ms);
        c.max_attempts = t.max_attempts.unwrap_or(c.max_attempts);
        c.initial_backoff = t.initial_backoff_ms.map_or(c.initial_backoff, ms);
        c.max_backoff = t.max_backoff_ms.map_or(c.max_backoff, ms);
        c.requests_per_node = t.requests_per_node.unwrap_or(c.requests_per_node);
        c.confirmation_wait = t.confirmation_wait_ms.map_or(c.confirmation_wait, ms);
        c.registration_wait = t.registration_wait_ms.map_or(c.registration_wait, ms);
        c.after_quorum = t.after_quorum_ms.map_or(c.after_quorum, ms);
        if c.max_attempts == 0 || c.requests_per_node == 0 {
            return Err("[client] max_attempts and requests_per_node must be at least 1".to_owned());
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ClientConfig, String> {
        toml::from_str::<FileConfig>(text).map_err(|e| e.to_string())?.client_config()
    }

    #[test]
    fn every_key_overrides_its_default() {
        let c = parse(
            "[chain]\nkind = \"local\"\nurl = \"http://x\"\n[client]\nconnect_timeout_ms = 1\nrequest_timeout_ms = 2\n\
             timeout_per_mib_ms = 3\nmax_attempts = 4\ninitial_backoff_ms = 5\nmax_backoff_ms = 6\n\
             requests_per_node = 7\nconfirmation_wait_ms = 8\nafter_quorum_ms = 9\n",
        )
        .unwrap();
        let ms = Duration::from_millis;
        let t = c.timeouts;
        assert_eq!((t.connect, t.request, t.per_mib), (ms(1), ms(2), ms(3)));
        assert_eq!((c.max_attempts, c.initial_backoff, c.max_backoff), (4, ms(5), ms(6)));
        assert_eq!((c.requests_per_node, c.confirmation_wait, c.after_quorum), (7, ms(8), ms(9)));
    }

    #[test]
    fn an_empty_file_means_the_defaults_and_bad_values_are_refused() {
        let c = parse("").unwrap();
        assert_eq!((c.max_attempts, c.requests_per_node, c.after_quorum), (5, 8, Duration::from_secs(2)));
        assert!(parse("[client]\nmax_attempts = 0\n").unwrap_err().contains("at least 1"));
        assert!(parse("[client]\nrequests_per_node = 0\n").unwrap_err().contains("at least 1"));
        assert!(parse("[chain]\nurl = \"x\"\n").unwrap_err().contains("kind"));
    }

    #[test]
    fn backoff_doubles_up_to_its_limit() {
        let c = ClientConfig::default();
        let waits: Vec<u64> = (1..7).map(|a| c.backoff(a).as_millis() as u64).collect();
        assert_eq!(waits, [250, 500, 1000, 2000, 4000, 4000]);
    }
}
