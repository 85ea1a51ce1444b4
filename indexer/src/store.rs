//! PostgreSQL: the schema (migrations at the repository root), and the writer that commits a
//! batch of checkpoints — its events, the state they change and the watermark — in one
//! transaction, with set-based statements (UNNEST) rather than a row at a time.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Connection, PgConnection, Postgres, Transaction};
use sui_sdk_types::{Address, Digest, ValidatorCommittee};

use crate::process::{attribute_ops, Batch, EpochChange, NodeEpochChange};
use walrus_chain::events::PackageOrigins;

/// The watermark row of the ingestion pipeline.
const PIPELINE: &str = "events";

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// How long the first connection may take before start-up gives up and names the server
/// (the pool's own timeout is 30 s, and then it says only "pool timed out").
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// TCP keepalive on every database connection, set on the server's end: sqlx 0.8 does not expose
/// its client socket, so the server probes an idle connection after 30 s (then every 10 s, 3
/// times) and drops a connection whose data stays unacknowledged for 60 s, freeing the backend
/// of a client behind a dead network path. Our end is covered by the client-side deadlines
/// (acquire, commit, request), which drop a stalled connection and retry on a fresh one.
const KEEPALIVE: [(&str, &str); 4] = [
    ("tcp_keepalives_idle", "30"),
    ("tcp_keepalives_interval", "10"),
    ("tcp_keepalives_count", "3"),
    ("tcp_user_timeout", "60000"),
];

/// PostgreSQL's own databases: `postgres`, which administration tools connect to, and the
/// templates new databases are copied from. The indexer's tables do not belong there.
const MAINTENANCE_DATABASES: [&str; 3] = ["postgres", "template0", "template1"];

/// The indexer's database, parsed from its URL and checked before anything connects.
#[derive(Clone, Debug)]
pub struct Database {
    options: PgConnectOptions,
}

#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    #[error("invalid database URL: {0}")]
    Url(sqlx::Error),
    #[error(
        "refusing to create the indexer's tables in `{0}`, a PostgreSQL maintenance database: create a \
         database for the indexer (`createdb walrus_indexer`) and name it in the URL, or pass \
         --allow-maintenance-db"
    )]
    Maintenance(String),
    #[error("PostgreSQL at {server} (database `{database}`) did not answer within {} s", CONNECT_TIMEOUT.as_secs())]
    TimedOut { server: String, database: String },
    #[error("cannot connect to PostgreSQL at {server} (database `{database}`): {cause}")]
    Unreachable { server: String, database: String, cause: sqlx::Error },
}

impl Database {
    /// Parses a `postgres://` URL; a maintenance database is refused unless `allow_maintenance`.
    pub fn parse(url: &str, allow_maintenance: bool) -> Result<Self, DatabaseError> {
        let database = Self { options: PgConnectOptions::from_str(url).map_err(DatabaseError::Url)? };
        if !allow_maintenance && MAINTENANCE_DATABASES.contains(&database.name()) {
            return Err(DatabaseError::Maintenance(database.name().to_owned()));
        }
        Ok(database)
    }

    /// The database's name; PostgreSQL takes the user's name when the URL has none.
    pub fn name(&self) -> &str {
        self.options.get_database().unwrap_or(self.options.get_username())
    }

    /// `host:port` (the host may be a Unix socket folder).
    pub fn server(&self) -> String {
        format!("{}:{}", self.options.get_host(), self.options.get_port())
    }

    /// A pool with `limits` that connects on first use. Without JIT compilation: it pays off
    /// for long analytical statements, and these read a few rows through an index (a statement
    /// whose estimate crossed `jit_above_cost` would be compiled on every execution).
    pub fn pool(&self, limits: PoolLimits) -> PgPool {
        let statement_timeout = format!("{}ms", limits.statement_timeout.as_millis());
        PgPoolOptions::new()
            .max_connections(limits.max_connections)
            .acquire_timeout(limits.acquire_timeout)
            .test_before_acquire(limits.ping_before_use)
            .connect_lazy_with(
                self.options.clone().options(
                    [("statement_timeout", statement_timeout), ("jit", "off".to_owned())]
                        .into_iter()
                        .chain(KEEPALIVE.map(|(k, v)| (k, v.to_owned()))),
                ),
            )
    }

    /// Connects once, so a server that is down, silent or refuses us is reported within
    /// [`CONNECT_TIMEOUT`] with its address and the cause.
    pub async fn check_reachable(&self) -> Result<(), DatabaseError> {
        let (server, database) = (self.server(), self.name().to_owned());
        match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&self.options)).await {
            Err(_) => Err(DatabaseError::TimedOut { server, database }),
            Ok(Err(cause)) => Err(DatabaseError::Unreachable { server, database, cause }),
            Ok(Ok(connection)) => {
                // Closing politely is a courtesy; the check already succeeded.
                let _ = connection.close().await;
                Ok(())
            }
        }
    }
}

#[derive(Clone)]
pub struct Store {
    pool: PgPool,
    commits: Commits,
}

/// The commits a [`Store`] makes, as the API's cache of answers that only change when a batch
/// commits sees them: a generation that moves at the start and end of every `COMMIT`, and
/// whether one is in flight or ended without a known outcome (then the committed state is not
/// known, and nothing may be cached).
#[derive(Clone, Debug, Default)]
pub struct Commits(Arc<Mutex<Gate>>);

#[derive(Debug, Default)]
struct Gate {
    generation: u64,
    in_flight: u32,
    /// A `COMMIT` failed or was abandoned: the server may still apply it. Cleared by the next
    /// successful commit, which waits for it on the watermark's row lock.
    uncertain: bool,
}

impl Commits {
    /// The generation of the committed state, if no commit is under way or in doubt: an answer
    /// read while it stays the same reflects exactly the commits before it.
    pub fn generation(&self) -> Option<u64> {
        let gate = self.0.lock().expect("the gate is never poisoned");
        (gate.in_flight == 0 && !gate.uncertain).then_some(gate.generation)
    }

    pub(crate) fn begin(&self) -> CommitGuard<'_> {
        let mut gate = self.0.lock().expect("the gate is never poisoned");
        gate.generation += 1;
        gate.in_flight += 1;
        CommitGuard { commits: self, committed: false }
    }
}

/// A `COMMIT` in flight; dropped before [`CommitGuard::committed`] (an error, or the caller's
/// timeout), it leaves the outcome in doubt.
pub(crate) struct CommitGuard<'a> {
    commits: &'a Commits,
    committed: bool,
}

impl CommitGuard<'_> {
    pub(crate) fn committed(mut self) {
        self.committed = true;
    }
}

impl Drop for CommitGuard<'_> {
    fn drop(&mut self) {
        let mut gate = self.commits.0.lock().expect("the gate is never poisoned");
        gate.generation += 1;
        gate.in_flight -= 1;
        gate.uncertain = !self.committed;
    }
}

/// The limits of one pool. Ingestion and the API have a pool each, so neither can take the
/// other's connections; every wait is bounded, so a stalled server or network path shows up as
/// an error (and a retry on a fresh connection) instead of a silent freeze.
#[derive(Clone, Copy, Debug)]
pub struct PoolLimits {
    pub max_connections: u32,
    /// Waiting for a connection, including connecting.
    pub acquire_timeout: Duration,
    /// PostgreSQL's `statement_timeout` for the pool's sessions.
    pub statement_timeout: Duration,
    /// Whether a connection is pinged (a round trip) each time it is taken from the pool; it is
    /// pinged when given back in any case, so a broken one is dropped then.
    pub ping_before_use: bool,
}

impl PoolLimits {
    /// Large batches in one transaction; the loop also bounds each commit on the client side.
    pub const INGESTION: Self = Self {
        max_connections: 4,
        acquire_timeout: Duration::from_secs(30),
        statement_timeout: Duration::from_secs(120),
        ping_before_use: true,
    };
    /// Reads that take milliseconds; the HTTP layer bounds each request on the client side.
    pub const API: Self = Self {
        max_connections: 16,
        acquire_timeout: Duration::from_secs(5),
        statement_timeout: Duration::from_secs(10),
        // A request is a statement or two: a ping before each was a third of its round trips.
        ping_before_use: false,
    };
}

/// The last committed checkpoint, its timestamp and its digest (absent if written by a
/// version that did not store it), and the validator committee that signs the next one if
/// certificates are checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Watermark {
    pub checkpoint: u64,
    pub timestamp_ms: u64,
    pub digest: Option<Digest>,
    pub validator_committee: Option<ValidatorCommittee>,
}

impl Store {
    /// Ingestion's store on a pool that connects on first use, so the API can listen before the
    /// database answers.
    pub fn lazy(database: &Database) -> Self {
        Self::from_pool(database.pool(PoolLimits::INGESTION))
    }

    pub fn from_pool(pool: PgPool) -> Self {
        Self { pool, commits: Commits::default() }
    }

    /// What the API's cache watches to drop answers older than the latest commit.
    pub fn commits(&self) -> Commits {
        self.commits.clone()
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        MIGRATOR.run(&self.pool).await
    }

    pub async fn watermark(&self) -> Result<Option<Watermark>, sqlx::Error> {
        // The checkpoint, its time, its digest and the committee's BCS.
        type Row = (i64, i64, Option<Vec<u8>>, Option<Vec<u8>>);
        let row: Option<Row> = sqlx::query_as(
            "SELECT checkpoint_hi, timestamp_ms, digest, validator_committee FROM watermark WHERE pipeline = $1",
        )
        .bind(PIPELINE)
        .fetch_optional(&self.pool)
        .await?;
        let Some((checkpoint, timestamp_ms, digest, committee)) = row else { return Ok(None) };
        let digest = digest
            .map(|bytes| {
                <[u8; 32]>::try_from(bytes.as_slice()).map(Digest::new).map_err(|_| {
                    sqlx::Error::Decode(format!("the watermark's digest has {} bytes, not 32", bytes.len()).into())
                })
            })
            .transpose()?;
        let validator_committee = committee
            .map(|bytes| {
                bcs::from_bytes(&bytes)
                    .map_err(|e| sqlx::Error::Decode(format!("the watermark's validator committee: {e}").into()))
            })
            .transpose()?;
        Ok(Some(Watermark {
            checkpoint: checkpoint as u64,
            timestamp_ms: timestamp_ms as u64,
            digest,
            validator_committee,
        }))
    }

    /// The configured package plus every origin learned from its upgrades so far.
    pub async fn origins(&self, package: Address) -> Result<PackageOrigins, sqlx::Error> {
        let rows: Vec<(Vec<u8>,)> = sqlx::query_as("SELECT address FROM package_origins").fetch_all(&self.pool).await?;
        let learned = rows.into_iter().filter_map(|(bytes,)| <[u8; 32]>::try_from(bytes).ok().map(Address::new));
        Ok(PackageOrigins::from_addresses(std::iter::once(package).chain(learned)))
    }

    /// Writes the batch and moves the watermark to its last checkpoint, atomically: after a
    /// crash the database holds either all of it or none of it. Rows are keyed by their chain
    /// position, so writing a batch twice changes nothing.
    pub async fn commit(&self, batch: &Batch) -> Result<(), CommitError> {
        let (Some(first), Some((last, timestamp_ms))) = (batch.first_checkpoint, batch.last_checkpoint) else {
            return Ok(());
        };
        let mut tx = self.pool.begin().await?;
        // Derived state is updated by increments, so a batch must follow the watermark exactly.
        let committed: Option<(i64,)> =
            sqlx::query_as("SELECT checkpoint_hi FROM watermark WHERE pipeline = $1 FOR UPDATE")
                .bind(PIPELINE)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some((hi,)) = committed {
            let hi = hi as u64;
            // Committed already: an earlier attempt whose answer was lost (a timeout) succeeded.
            if first <= hi && last <= hi {
                return Ok(());
            }
            if first != hi + 1 {
                return Err(CommitError::NotNext { first, watermark: hi });
            }
        }
        let epoch_before = current_epoch(&mut tx).await?;
        insert_events(&mut tx, batch).await?;
        write_origins(&mut tx, batch).await?;
        write_blobs(&mut tx, batch, epoch_before).await?;
        write_storage(&mut tx, batch).await?;
        write_epochs(&mut tx, batch).await?;
        let stake_before = total_stake(&mut tx, batch).await?;
        write_nodes(&mut tx, batch).await?;
        refresh_status(&mut tx, batch, epoch_before).await?;
        write_explorer(&mut tx, batch, stake_before).await?;
        sqlx::query(
            "INSERT INTO watermark (pipeline, checkpoint_hi, timestamp_ms, digest, validator_committee)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (pipeline) DO UPDATE SET checkpoint_hi = EXCLUDED.checkpoint_hi,
                 timestamp_ms = EXCLUDED.timestamp_ms, digest = EXCLUDED.digest,
                 validator_committee = COALESCE(EXCLUDED.validator_committee, watermark.validator_committee),
                 updated_at = now()
             WHERE watermark.checkpoint_hi < EXCLUDED.checkpoint_hi",
        )
        .bind(PIPELINE)
        .bind(last as i64)
        .bind(timestamp_ms as i64)
        .bind(batch.last_digest.map(|d| d.as_bytes().to_vec()))
        .bind(batch.validator_committee.as_ref().map(|c| bcs::to_bytes(c).expect("BCS of a committee")))
        .execute(&mut *tx)
        .await?;
        let guard = self.commits.begin();
        tx.commit().await?;
        guard.committed();
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("batch starting at checkpoint {first} does not follow the watermark {watermark}")]
    NotNext { first: u64, watermark: u64 },
}

fn bytes(address: &Address) -> Vec<u8> {
    address.as_bytes().to_vec()
}

async fn insert_events(tx: &mut Transaction<'_, Postgres>, batch: &Batch) -> Result<(), sqlx::Error> {
    // Postgres binds at most 65535 parameters but arrays count as one: batches of any size fit.
    let events = &batch.events;
    if events.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO events (checkpoint, tx_index, event_index, tx_digest, timestamp_ms, package, type_name,
                             sender, bcs, decode_error, blob_id)
         SELECT * FROM UNNEST($1::int8[], $2::int4[], $3::int4[], $4::text[], $5::int8[], $6::bytea[], $7::text[],
                              $8::bytea[], $9::bytea[], $10::text[], $11::bytea[])
         ON CONFLICT DO NOTHING",
    )
    .bind(events.iter().map(|e| e.checkpoint as i64).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.tx_index as i32).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.event_index as i32).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.tx_digest.clone()).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.timestamp_ms as i64).collect::<Vec<_>>())
    .bind(events.iter().map(|e| bytes(&e.package)).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.type_name.clone()).collect::<Vec<_>>())
    .bind(events.iter().map(|e| bytes(&e.sender)).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.bcs.clone()).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.decode_error.clone()).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.blob_id.map(|b| b.0.to_vec())).collect::<Vec<_>>())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn write_origins(tx: &mut Transaction<'_, Postgres>, batch: &Batch) -> Result<(), sqlx::Error> {
    let origins = &batch.new_origins;
    if origins.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO package_origins (address, first_checkpoint) SELECT * FROM UNNEST($1::bytea[], $2::int8[])
         ON CONFLICT DO NOTHING",
    )
    .bind(origins.iter().map(|(address, _)| bytes(address)).collect::<Vec<_>>())
    .bind(origins.iter().map(|(_, checkpoint)| *checkpoint as i64).collect::<Vec<_>>())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// `epoch` is the latest epoch started before the batch: new objects are written with their status
/// as of it, so only the few that an epoch change or an invalid ID of the same batch affects are
/// written again by [`refresh_status`] (a second version of the row, in every index).
async fn write_blobs(tx: &mut Transaction<'_, Postgres>, batch: &Batch, epoch: i32) -> Result<(), sqlx::Error> {
    let new = &batch.new_blobs;
    if !new.is_empty() {
        // Changes made later in the same batch are already folded into each row.
        sqlx::query(
            "INSERT INTO blobs (object_id, blob_id, size, encoding_type, deletable, registered_epoch, certified_epoch,
                                end_epoch, deleted_epoch, burned, attributes, registered_checkpoint, updated_checkpoint,
                                status)
             SELECT o, b, s, t, d, r, c, e, x, u, COALESCE(a, '{}'), rc, uc,
                    blob_status(x, u, EXISTS (SELECT 1 FROM invalid_blob_ids i WHERE i.blob_id = b), e, c, $14)
             FROM UNNEST($1::bytea[], $2::bytea[], $3::int8[], $4::int2[], $5::bool[], $6::int4[], $7::int4[],
                         $8::int4[], $9::int4[], $10::bool[], $11::jsonb[], $12::int8[], $13::int8[])
                  AS n(o, b, s, t, d, r, c, e, x, u, a, rc, uc)
             ON CONFLICT DO NOTHING",
        )
        .bind(new.iter().map(|b| bytes(&b.object_id)).collect::<Vec<_>>())
        .bind(new.iter().map(|b| b.blob_id.0.to_vec()).collect::<Vec<_>>())
        .bind(new.iter().map(|b| b.size as i64).collect::<Vec<_>>())
        .bind(new.iter().map(|b| i16::from(b.encoding_type)).collect::<Vec<_>>())
        .bind(new.iter().map(|b| b.deletable).collect::<Vec<_>>())
        .bind(new.iter().map(|b| b.registered_epoch as i32).collect::<Vec<_>>())
        .bind(new.iter().map(|b| b.change.certified_epoch.map(|e| e as i32)).collect::<Vec<_>>())
        .bind(
            new.iter()
                .map(|b| b.change.end_epoch.map_or(b.end_epoch, |e| e.max(b.end_epoch)) as i32)
                .collect::<Vec<_>>(),
        )
        .bind(new.iter().map(|b| b.change.deleted_epoch.map(|e| e as i32)).collect::<Vec<_>>())
        .bind(new.iter().map(|b| b.change.burned).collect::<Vec<_>>())
        // Most blobs have no attributes: NULL spares the server a JSON parse per row.
        .bind(
            new.iter()
                .map(|b| (!b.change.attributes.is_empty()).then(|| attribute_ops(&b.change.attributes).0))
                .collect::<Vec<_>>(),
        )
        .bind(new.iter().map(|b| b.checkpoint as i64).collect::<Vec<_>>())
        .bind(new.iter().map(|b| b.change.checkpoint.max(b.checkpoint) as i64).collect::<Vec<_>>())
        .bind(epoch)
        .execute(&mut **tx)
        .await?;
    }
    let changes = &batch.blob_changes;
    if !changes.is_empty() {
        let (sets, removes): (Vec<_>, Vec<_>) = changes.values().map(|c| attribute_ops(&c.attributes)).unzip();
        sqlx::query(
            "UPDATE blobs b SET
                 certified_epoch = COALESCE(b.certified_epoch, u.certified),
                 end_epoch = GREATEST(b.end_epoch, COALESCE(u.end_epoch, b.end_epoch)),
                 deleted_epoch = COALESCE(u.deleted, b.deleted_epoch),
                 burned = b.burned OR u.burned,
                 attributes = (b.attributes - ARRAY(SELECT jsonb_array_elements_text(u.removes))) || u.sets,
                 updated_checkpoint = u.checkpoint
             FROM UNNEST($1::bytea[], $2::int4[], $3::int4[], $4::int4[], $5::bool[], $6::jsonb[], $7::jsonb[], $8::int8[])
                  AS u(object_id, certified, end_epoch, deleted, burned, sets, removes, checkpoint)
             WHERE b.object_id = u.object_id",
        )
        .bind(changes.keys().map(bytes).collect::<Vec<_>>())
        .bind(changes.values().map(|c| c.certified_epoch.map(|e| e as i32)).collect::<Vec<_>>())
        .bind(changes.values().map(|c| c.end_epoch.map(|e| e as i32)).collect::<Vec<_>>())
        .bind(changes.values().map(|c| c.deleted_epoch.map(|e| e as i32)).collect::<Vec<_>>())
        .bind(changes.values().map(|c| c.burned).collect::<Vec<_>>())
        .bind(sets)
        .bind(removes)
        .bind(changes.values().map(|c| c.checkpoint as i64).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;
    }
    let invalid = &batch.invalid_blob_ids;
    if !invalid.is_empty() {
        sqlx::query(
            "INSERT INTO invalid_blob_ids (blob_id, epoch, checkpoint)
             SELECT * FROM UNNEST($1::bytea[], $2::int4[], $3::int8[]) ON CONFLICT DO NOTHING",
        )
        .bind(invalid.iter().map(|(blob_id, _, _)| blob_id.0.to_vec()).collect::<Vec<_>>())
        .bind(invalid.iter().map(|(_, epoch, _)| *epoch as i32).collect::<Vec<_>>())
        .bind(invalid.iter().map(|(_, _, checkpoint)| *checkpoint as i64).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// The latest epoch that has started (0 before any), as the API computes it.
async fn current_epoch(tx: &mut Transaction<'_, Postgres>) -> Result<i32, sqlx::Error> {
    let (epoch,): (i32,) =
        sqlx::query_as("SELECT coalesce(max(epoch), 0) FROM epochs WHERE start_checkpoint IS NOT NULL")
            .fetch_one(&mut **tx)
            .await?;
    Ok(epoch)
}

/// Brings the stored status (migrations/0005) of every blob object the batch may have changed
/// up to date: the objects it wrote, the objects of the blob IDs it declared invalid, and, if
/// an epoch started, the objects whose end epoch it reached. Each set is found through an
/// index; rows whose status did not change are not written.
async fn refresh_status(
    tx: &mut Transaction<'_, Postgres>,
    batch: &Batch,
    epoch_before: i32,
) -> Result<(), sqlx::Error> {
    let epoch = current_epoch(tx).await?;
    let update = |rows: &str| {
        format!(
            "UPDATE blobs b SET status = s.status
             FROM (SELECT o.object_id, blob_status(o.deleted_epoch, o.burned,
                          EXISTS (SELECT 1 FROM invalid_blob_ids i WHERE i.blob_id = o.blob_id),
                          o.end_epoch, o.certified_epoch, $1) AS status
                   FROM blobs o WHERE {rows}) s
             WHERE b.object_id = s.object_id AND b.status <> s.status"
        )
    };
    let touched: Vec<Vec<u8>> =
        batch.new_blobs.iter().map(|b| bytes(&b.object_id)).chain(batch.blob_changes.keys().map(bytes)).collect();
    if !touched.is_empty() {
        sqlx::query(&update("o.object_id = ANY($2)")).bind(epoch).bind(touched).execute(&mut **tx).await?;
    }
    if !batch.invalid_blob_ids.is_empty() {
        let invalid: Vec<Vec<u8>> = batch.invalid_blob_ids.iter().map(|(blob_id, _, _)| blob_id.0.to_vec()).collect();
        sqlx::query(&update("o.blob_id = ANY($2)")).bind(epoch).bind(invalid).execute(&mut **tx).await?;
    }
    if epoch > epoch_before {
        sqlx::query(&update("o.end_epoch > $2 AND o.end_epoch <= $1"))
            .bind(epoch)
            .bind(epoch_before)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

async fn write_storage(tx: &mut Transaction<'_, Postgres>, batch: &Batch) -> Result<(), sqlx::Error> {
    let changes = &batch.storage;
    if changes.is_empty() {
        return Ok(());
    }
    let shape =
        |f: fn(&(u32, u32, u64)) -> i64| changes.values().map(move |c| c.shape.as_ref().map(f)).collect::<Vec<_>>();
    sqlx::query(
        "INSERT INTO storage_resources (storage_id, start_epoch, end_epoch, storage_size, reserved_epoch, cost,
                                       absorbed_into, released_epoch, updated_checkpoint)
         SELECT * FROM UNNEST($1::bytea[], $2::int4[], $3::int4[], $4::int8[], $5::int4[], $6::int8[], $7::bytea[],
                              $8::int4[], $9::int8[])
         ON CONFLICT (storage_id) DO UPDATE SET
             start_epoch = COALESCE(EXCLUDED.start_epoch, storage_resources.start_epoch),
             end_epoch = COALESCE(EXCLUDED.end_epoch, storage_resources.end_epoch),
             storage_size = COALESCE(EXCLUDED.storage_size, storage_resources.storage_size),
             reserved_epoch = COALESCE(EXCLUDED.reserved_epoch, storage_resources.reserved_epoch),
             cost = COALESCE(EXCLUDED.cost, storage_resources.cost),
             absorbed_into = COALESCE(EXCLUDED.absorbed_into, storage_resources.absorbed_into),
             released_epoch = COALESCE(EXCLUDED.released_epoch, storage_resources.released_epoch),
             updated_checkpoint = EXCLUDED.updated_checkpoint",
    )
    .bind(changes.keys().map(bytes).collect::<Vec<_>>())
    .bind(shape(|s| s.0 as i64).into_iter().map(|v| v.map(|v| v as i32)).collect::<Vec<_>>())
    .bind(shape(|s| s.1 as i64).into_iter().map(|v| v.map(|v| v as i32)).collect::<Vec<_>>())
    .bind(shape(|s| s.2 as i64))
    .bind(changes.values().map(|c| c.reserved.map(|(e, _)| e as i32)).collect::<Vec<_>>())
    .bind(changes.values().map(|c| c.reserved.map(|(_, cost)| cost as i64)).collect::<Vec<_>>())
    .bind(changes.values().map(|c| c.absorbed_into.as_ref().map(bytes)).collect::<Vec<_>>())
    .bind(changes.values().map(|c| c.released_epoch.map(|e| e as i32)).collect::<Vec<_>>())
    .bind(changes.values().map(|c| c.checkpoint as i64).collect::<Vec<_>>())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn write_epochs(tx: &mut Transaction<'_, Postgres>, batch: &Batch) -> Result<(), sqlx::Error> {
    let epochs = &batch.epochs;
    if epochs.is_empty() {
        return Ok(());
    }
    let column = |f: fn(&EpochChange) -> Option<i64>| epochs.values().map(f).collect::<Vec<_>>();
    sqlx::query(
        "INSERT INTO epochs (epoch, start_checkpoint, start_timestamp_ms, done_checkpoint, storage_price, write_price,
                             total_capacity, used_capacity, committee)
         SELECT * FROM UNNEST($1::int4[], $2::int8[], $3::int8[], $4::int8[], $5::int8[], $6::int8[], $7::int8[],
                              $8::int8[], $9::jsonb[])
         ON CONFLICT (epoch) DO UPDATE SET
             start_checkpoint = COALESCE(EXCLUDED.start_checkpoint, epochs.start_checkpoint),
             start_timestamp_ms = COALESCE(EXCLUDED.start_timestamp_ms, epochs.start_timestamp_ms),
             done_checkpoint = COALESCE(EXCLUDED.done_checkpoint, epochs.done_checkpoint),
             storage_price = COALESCE(EXCLUDED.storage_price, epochs.storage_price),
             write_price = COALESCE(EXCLUDED.write_price, epochs.write_price),
             total_capacity = COALESCE(EXCLUDED.total_capacity, epochs.total_capacity),
             used_capacity = COALESCE(EXCLUDED.used_capacity, epochs.used_capacity),
             committee = COALESCE(EXCLUDED.committee, epochs.committee)",
    )
    .bind(epochs.keys().map(|e| *e as i32).collect::<Vec<_>>())
    .bind(column(|c| c.start.map(|(checkpoint, _)| checkpoint as i64)))
    .bind(column(|c| c.start.map(|(_, timestamp)| timestamp as i64)))
    .bind(column(|c| c.done_checkpoint.map(|c| c as i64)))
    .bind(column(|c| c.prices.map(|(storage, _)| storage as i64)))
    .bind(column(|c| c.prices.map(|(_, write)| write as i64)))
    .bind(column(|c| c.capacity.map(|(total, _)| total as i64)))
    .bind(column(|c| c.capacity.map(|(_, used)| used as i64)))
    .bind(epochs.values().map(|c| c.committee.clone()).collect::<Vec<_>>())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Registrations first, then updates, then the increments (stake, commission) and the latest
/// pool, deregistration and checkpoint of every node the batch touched.
async fn write_nodes(tx: &mut Transaction<'_, Postgres>, batch: &Batch) -> Result<(), sqlx::Error> {
    let nodes = &batch.nodes;
    let registered: Vec<_> = nodes.values().filter_map(|c| c.registered.as_ref().map(|r| (r, c.checkpoint))).collect();
    if !registered.is_empty() {
        sqlx::query(
            "INSERT INTO nodes (node_id, name, network_address, public_key, network_public_key, commission_rate,
                                registered_epoch, updated_checkpoint)
             SELECT * FROM UNNEST($1::bytea[], $2::text[], $3::text[], $4::bytea[], $5::bytea[], $6::int4[],
                                  $7::int4[], $8::int8[])
             ON CONFLICT DO NOTHING",
        )
        .bind(registered.iter().map(|(r, _)| bytes(&r.node_id)).collect::<Vec<_>>())
        .bind(registered.iter().map(|(r, _)| r.name.clone()).collect::<Vec<_>>())
        .bind(registered.iter().map(|(r, _)| r.network_address.clone()).collect::<Vec<_>>())
        .bind(registered.iter().map(|(r, _)| r.public_key.clone()).collect::<Vec<_>>())
        .bind(registered.iter().map(|(r, _)| r.network_public_key.clone()).collect::<Vec<_>>())
        .bind(registered.iter().map(|(r, _)| i32::from(r.commission_rate)).collect::<Vec<_>>())
        .bind(registered.iter().map(|(r, _)| r.epoch as i32).collect::<Vec<_>>())
        .bind(registered.iter().map(|(_, checkpoint)| *checkpoint as i64).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;
    }
    let updated: Vec<_> = nodes.values().filter_map(|c| c.updated.as_ref()).collect();
    if !updated.is_empty() {
        sqlx::query(
            "UPDATE nodes n SET name = u.name, network_address = u.network_address, public_key = u.public_key,
                 network_public_key = u.network_public_key, commission_rate = u.commission_rate,
                 storage_price_vote = u.storage_price_vote, write_price_vote = u.write_price_vote,
                 capacity_vote = u.capacity_vote
             FROM UNNEST($1::bytea[], $2::text[], $3::text[], $4::bytea[], $5::bytea[], $6::int4[], $7::int8[],
                         $8::int8[], $9::int8[])
                  AS u(node_id, name, network_address, public_key, network_public_key, commission_rate,
                       storage_price_vote, write_price_vote, capacity_vote)
             WHERE n.node_id = u.node_id",
        )
        .bind(updated.iter().map(|u| bytes(&u.node_id)).collect::<Vec<_>>())
        .bind(updated.iter().map(|u| u.name.clone()).collect::<Vec<_>>())
        .bind(updated.iter().map(|u| u.network_address.clone()).collect::<Vec<_>>())
        .bind(updated.iter().map(|u| u.public_key.clone()).collect::<Vec<_>>())
        .bind(updated.iter().map(|u| u.network_public_key.clone()).collect::<Vec<_>>())
        .bind(updated.iter().map(|u| i32::from(u.commission_rate)).collect::<Vec<_>>())
        .bind(updated.iter().map(|u| u.storage_price_vote as i64).collect::<Vec<_>>())
        .bind(updated.iter().map(|u| u.write_price_vote as i64).collect::<Vec<_>>())
        .bind(updated.iter().map(|u| u.node_capacity_vote as i64).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;
    }
    if !nodes.is_empty() {
        sqlx::query(
            "UPDATE nodes n SET deregistered_epoch = COALESCE(u.deregistered, n.deregistered_epoch),
                 staked = n.staked + u.staked_delta, commission_collected = n.commission_collected + u.commission,
                 pool_wal = COALESCE(u.pool_wal, n.pool_wal), pool_shares = COALESCE(u.pool_shares, n.pool_shares),
                 updated_checkpoint = u.checkpoint
             FROM UNNEST($1::bytea[], $2::int4[], $3::int8[], $4::int8[], $5::int8[], $6::int8[], $7::int8[])
                  AS u(node_id, deregistered, staked_delta, commission, pool_wal, pool_shares, checkpoint)
             WHERE n.node_id = u.node_id",
        )
        .bind(nodes.keys().map(bytes).collect::<Vec<_>>())
        .bind(nodes.values().map(|c| c.deregistered_epoch.map(|e| e as i32)).collect::<Vec<_>>())
        .bind(nodes.values().map(|c| c.staked_delta).collect::<Vec<_>>())
        .bind(nodes.values().map(|c| c.commission_collected as i64).collect::<Vec<_>>())
        .bind(nodes.values().map(|c| c.pool.map(|(wal, _)| wal as i64)).collect::<Vec<_>>())
        .bind(nodes.values().map(|c| c.pool.map(|(_, shares)| shares as i64)).collect::<Vec<_>>())
        .bind(nodes.values().map(|c| c.checkpoint as i64).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;
    }
    let rewards = &batch.rewards;
    if !rewards.is_empty() {
        sqlx::query(
            "INSERT INTO node_rewards (node_id, epoch, reward, commission, pool_wal, pool_shares)
             SELECT * FROM UNNEST($1::bytea[], $2::int4[], $3::int8[], $4::int8[], $5::int8[], $6::int8[])
             ON CONFLICT DO NOTHING",
        )
        .bind(rewards.iter().map(|r| bytes(&r.node_id)).collect::<Vec<_>>())
        .bind(rewards.iter().map(|r| r.epoch as i32).collect::<Vec<_>>())
        .bind(rewards.iter().map(|r| r.reward as i64).collect::<Vec<_>>())
        .bind(rewards.iter().map(|r| r.commission as i64).collect::<Vec<_>>())
        .bind(rewards.iter().map(|r| r.pool_wal as i64).collect::<Vec<_>>())
        .bind(rewards.iter().map(|r| r.pool_shares as i64).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// The total staked principal before the batch, when the batch needs it (see [`Batch::epoch_stake`]).
async fn total_stake(tx: &mut Transaction<'_, Postgres>, batch: &Batch) -> Result<i64, sqlx::Error> {
    if batch.epoch_stake.is_empty() {
        return Ok(0);
    }
    // One row per storage node: a few hundred at most.
    let (total,): (i64,) =
        sqlx::query_as("SELECT coalesce(sum(staked), 0)::int8 FROM nodes").fetch_one(&mut **tx).await?;
    Ok(total)
}

/// What the explorer reads besides the state above: attributes as rows, deny-listed blob
/// IDs, the total stake and protocol version per epoch, stake and shards per node and epoch.
async fn write_explorer(
    tx: &mut Transaction<'_, Postgres>,
    batch: &Batch,
    stake_before: i64,
) -> Result<(), sqlx::Error> {
    // Attributes: the final value of every key a batch touched (None: removed).
    let touched: Vec<(&Address, &String, &Option<String>)> = batch
        .new_blobs
        .iter()
        .map(|b| (&b.object_id, &b.change))
        .chain(batch.blob_changes.iter())
        .flat_map(|(object_id, change)| change.attributes.iter().map(move |(k, v)| (object_id, k, v)))
        .collect();
    if !touched.is_empty() {
        let (set, removed): (Vec<_>, Vec<_>) = touched.into_iter().partition(|(_, _, v)| v.is_some());
        sqlx::query(
            "INSERT INTO blob_attributes (object_id, key, value)
             SELECT u.o, u.k, u.v FROM UNNEST($1::bytea[], $2::text[], $3::text[]) AS u(o, k, v)
             WHERE EXISTS (SELECT 1 FROM blobs b WHERE b.object_id = u.o)
             ON CONFLICT (object_id, key) DO UPDATE SET value = EXCLUDED.value",
        )
        .bind(set.iter().map(|(o, _, _)| bytes(o)).collect::<Vec<_>>())
        .bind(set.iter().map(|(_, k, _)| (*k).clone()).collect::<Vec<_>>())
        .bind(set.iter().map(|(_, _, v)| (*v).clone().unwrap_or_default()).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;
        sqlx::query(
            "DELETE FROM blob_attributes a USING UNNEST($1::bytea[], $2::text[]) AS u(o, k)
             WHERE a.object_id = u.o AND a.key = u.k",
        )
        .bind(removed.iter().map(|(o, _, _)| bytes(o)).collect::<Vec<_>>())
        .bind(removed.iter().map(|(_, k, _)| (*k).clone()).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;
    }
    let denied = &batch.deny_listed;
    if !denied.is_empty() {
        sqlx::query(
            "INSERT INTO deny_listed_blob_ids (blob_id, epoch, checkpoint)
             SELECT * FROM UNNEST($1::bytea[], $2::int4[], $3::int8[]) ON CONFLICT DO NOTHING",
        )
        .bind(denied.iter().map(|(blob_id, _, _)| blob_id.0.to_vec()).collect::<Vec<_>>())
        .bind(denied.iter().map(|(_, epoch, _)| *epoch as i32).collect::<Vec<_>>())
        .bind(denied.iter().map(|(_, _, checkpoint)| *checkpoint as i64).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;
    }
    // Every object of a deny-listed blob ID is deleted (and its stored status with it: deleted
    // outranks every other status): one registered by the (first) certificate's checkpoint as
    // of the certificate's epoch, one registered later as of its own registration, since the
    // f+1 nodes that deny-list the ID refuse it and it can never be stored. The objects the
    // batch registered and the IDs it deny-listed are the ones to look at, whichever came first.
    let ids: Vec<Vec<u8>> = denied
        .iter()
        .map(|(blob_id, _, _)| blob_id.0.to_vec())
        .chain(batch.new_blobs.iter().map(|b| b.blob_id.0.to_vec()))
        .collect();
    if !ids.is_empty() {
        sqlx::query(
            "UPDATE blobs b SET status = 'deleted',
                 deleted_epoch = CASE WHEN b.registered_checkpoint <= d.checkpoint THEN d.epoch
                                      ELSE b.registered_epoch END,
                 updated_checkpoint = GREATEST(b.updated_checkpoint, d.checkpoint)
             FROM deny_listed_blob_ids d
             WHERE d.blob_id = ANY($1) AND b.blob_id = d.blob_id AND b.deleted_epoch IS NULL AND NOT b.burned",
        )
        .bind(ids)
        .execute(&mut **tx)
        .await?;
    }
    let stake = &batch.epoch_stake;
    if !stake.is_empty() {
        sqlx::query(
            "INSERT INTO epoch_stake (epoch, total_stake) SELECT * FROM UNNEST($1::int4[], $2::int8[])
             ON CONFLICT (epoch) DO UPDATE SET total_stake = EXCLUDED.total_stake",
        )
        .bind(stake.keys().map(|e| *e as i32).collect::<Vec<_>>())
        .bind(stake.values().map(|offset| stake_before + offset).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;
    }
    let versions = &batch.protocol_versions;
    if !versions.is_empty() {
        // A later certificate for the same start epoch replaces the earlier one.
        sqlx::query(
            "INSERT INTO protocol_versions (start_epoch, version, checkpoint)
             SELECT DISTINCT ON (e) e, v, c FROM UNNEST($1::int4[], $2::int8[], $3::int8[]) AS u(e, v, c)
             ORDER BY e, c DESC
             ON CONFLICT (start_epoch) DO UPDATE SET version = EXCLUDED.version, checkpoint = EXCLUDED.checkpoint",
        )
        .bind(versions.iter().map(|(e, _, _)| *e as i32).collect::<Vec<_>>())
        .bind(versions.iter().map(|(_, v, _)| *v as i64).collect::<Vec<_>>())
        .bind(versions.iter().map(|(_, _, c)| *c as i64).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;
    }
    let node_epochs = &batch.node_epochs;
    if !node_epochs.is_empty() {
        let mut ids: Vec<Vec<u8>> = node_epochs.keys().map(|(id, _)| bytes(id)).collect();
        ids.dedup();
        // Stake now, minus what the batch changed after each row's event.
        let staked: HashMap<Vec<u8>, i64> = sqlx::query_as("SELECT node_id, staked FROM nodes WHERE node_id = ANY($1)")
            .bind(&ids)
            .fetch_all(&mut **tx)
            .await?
            .into_iter()
            .collect();
        let stake = |(id, _): &(Address, u32), change: &NodeEpochChange| {
            let total = batch.nodes.get(id).map_or(0, |c| c.staked_delta);
            staked.get(&bytes(id)).map(|now| now - total + change.stake_offset)
        };
        sqlx::query(
            "INSERT INTO node_epochs (node_id, epoch, stake, shards)
             SELECT * FROM UNNEST($1::bytea[], $2::int4[], $3::int8[], $4::jsonb[])
             ON CONFLICT (node_id, epoch) DO UPDATE SET stake = COALESCE(EXCLUDED.stake, node_epochs.stake),
                 shards = COALESCE(EXCLUDED.shards, node_epochs.shards)",
        )
        .bind(node_epochs.keys().map(|(id, _)| bytes(id)).collect::<Vec<_>>())
        .bind(node_epochs.keys().map(|(_, epoch)| *epoch as i32).collect::<Vec<_>>())
        .bind(node_epochs.iter().map(|(k, c)| stake(k, c)).collect::<Vec<_>>())
        .bind(node_epochs.values().map(|c| c.shards.as_ref().map(|s| serde_json::json!(s))).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every session of a pool runs with its statement timeout, without JIT, and with the
    /// keepalive settings.
    #[sqlx::test(migrations = false)]
    async fn sessions_have_the_timeouts_and_keepalives(pool: PgPool) {
        let database = Database { options: (*pool.connect_options()).clone() };
        let sessions = database.pool(PoolLimits::API);
        let mut expected =
            vec![("statement_timeout".to_owned(), "10s".to_owned()), ("jit".to_owned(), "off".to_owned())];
        // Unix sockets have no TCP settings (PostgreSQL shows 0).
        if database.options.get_socket().is_none() {
            expected.extend(
                [
                    ("tcp_keepalives_idle", "30"),
                    ("tcp_keepalives_interval", "10"),
                    ("tcp_keepalives_count", "3"),
                    ("tcp_user_timeout", "60000"),
                ]
                .map(|(k, v)| (k.to_owned(), v.to_owned())),
            );
        }
        for (setting, value) in expected {
            let (shown,): (String,) = sqlx::query_as(&format!("SHOW {setting}")).fetch_one(&sessions).await.unwrap();
            assert_eq!(shown, value, "{setting}");
        }
    }

    /// Mutation it catches: a generation that does not move with a commit, or that is given
    /// while a commit is in flight or after one was abandoned.
    #[test]
    fn the_generation_is_unknown_while_a_commit_is_in_flight_or_in_doubt() {
        let commits = Commits::default();
        let start = commits.generation().expect("nothing in flight");
        let first = commits.begin();
        assert_eq!(commits.generation(), None);
        first.committed();
        let after_first = commits.generation().expect("committed");
        assert!(after_first > start);
        let abandoned = commits.begin();
        drop(abandoned);
        assert_eq!(commits.generation(), None, "an abandoned COMMIT may still land");
        commits.begin().committed();
        assert!(commits.generation().expect("the next commit settles it") > after_first);
    }

    #[test]
    fn maintenance_databases_are_refused_unless_allowed() {
        for url in [
            "postgres://postgres@127.0.0.1:5432/postgres",
            "postgres://me@db.example/template1",
            "postgres://me@db.example/template0",
            // No database in the URL: PostgreSQL uses the user's name.
            "postgres://postgres@127.0.0.1:5432",
        ] {
            let err = Database::parse(url, false).unwrap_err();
            assert!(matches!(err, DatabaseError::Maintenance(_)), "{url}: {err}");
            assert!(err.to_string().contains("--allow-maintenance-db"), "{err}");
            assert!(Database::parse(url, true).is_ok(), "{url} with the flag");
        }
        let database = Database::parse("postgres://postgres@10.1.2.3:6543/walrus", false).unwrap();
        assert_eq!((database.name(), database.server().as_str()), ("walrus", "10.1.2.3:6543"));
        assert!(matches!(Database::parse("not a URL", false), Err(DatabaseError::Url(_))));
    }
}
