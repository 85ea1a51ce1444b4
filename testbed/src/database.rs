//! The indexer's own PostgreSQL database, created on the server `DATABASE_URL` names and
//! dropped when the testbed stops (a testbed is not resumed, so neither is its index).

use std::time::Duration;

use anyhow::Context;
use sqlx::{Connection, Executor, PgConnection};
use url::Url;

/// How long the server gets to answer before the testbed runs without the indexer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub struct TestbedDatabase {
    /// Where it was created from (a database of the same server to connect to for dropping it).
    admin_url: String,
    name: String,
    /// The URL the indexer is given.
    pub url: String,
}

impl TestbedDatabase {
    /// Creates a database with a fresh name on the server of `admin_url`.
    pub async fn create(admin_url: &str) -> anyhow::Result<Self> {
        let name = format!("walrus_testbed_{}", hex::encode(rand::random::<[u8; 6]>()));
        let url = with_database(admin_url, &name)?;
        let mut connection = connect(admin_url).await?;
        connection.execute(format!("CREATE DATABASE \"{name}\"").as_str()).await.context("creating the database")?;
        connection.close().await.ok();
        Ok(Self { admin_url: admin_url.to_owned(), name, url })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Drops the database; its indexer must have stopped.
    pub async fn drop_database(self) -> anyhow::Result<()> {
        let mut connection = connect(&self.admin_url).await?;
        let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        connection.execute(sql.as_str()).await.with_context(|| format!("dropping database {}", self.name))?;
        connection.close().await.ok();
        Ok(())
    }
}

async fn connect(url: &str) -> anyhow::Result<PgConnection> {
    let server = Url::parse(url).ok().map(|u| format!("{}:{}", u.host_str().unwrap_or("?"), u.port().unwrap_or(5432)));
    let server = server.unwrap_or_else(|| "the server".to_owned());
    tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect(url))
        .await
        .map_err(|_| anyhow::anyhow!("PostgreSQL at {server} did not answer within {CONNECT_TIMEOUT:?}"))?
        .with_context(|| format!("connecting to PostgreSQL at {server}"))
}

/// `url` with its database replaced by `name` (the user, host, port and options kept).
fn with_database(url: &str, name: &str) -> anyhow::Result<String> {
    let mut parsed = Url::parse(url).with_context(|| "DATABASE_URL is not a URL")?;
    anyhow::ensure!(
        matches!(parsed.scheme(), "postgres" | "postgresql"),
        "DATABASE_URL must start with postgres:// or postgresql://"
    );
    parsed.set_path(&format!("/{name}"));
    Ok(parsed.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_is_replaced_and_the_rest_kept() {
        let cases = [
            ("postgres://postgres@127.0.0.1:5432/postgres", "postgres://postgres@127.0.0.1:5432/tb"),
            ("postgresql://u:p@db/x?sslmode=disable", "postgresql://u:p@db/tb?sslmode=disable"),
            ("postgres://postgres@localhost", "postgres://postgres@localhost/tb"),
        ];
        for (url, expected) in cases {
            assert_eq!(with_database(url, "tb").unwrap(), expected);
        }
        assert!(with_database("mysql://x/y", "tb").is_err());
        assert!(with_database("not a url", "tb").is_err());
    }
}
