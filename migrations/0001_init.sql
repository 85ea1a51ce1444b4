-- Schema of the Walrus indexer. Every table is written in the same transaction as the
-- watermark, so the database always reflects a whole prefix of the chain.

-- How far ingestion got: the last checkpoint whose rows are all committed.
CREATE TABLE watermark (
    pipeline      text PRIMARY KEY,
    checkpoint_hi bigint NOT NULL,
    timestamp_ms  bigint NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Addresses under which our package's event types are defined (the original package and
-- every upgrade that added types).
CREATE TABLE package_origins (
    address          bytea PRIMARY KEY,
    first_checkpoint bigint NOT NULL
);

-- Every event of our package, raw; the API decodes the BCS when it serves it (decoding is
-- cheaper than storing JSON). `decode_error` says why an event could not be decoded.
CREATE TABLE events (
    checkpoint   bigint NOT NULL,
    tx_index     integer NOT NULL,
    event_index  integer NOT NULL,
    tx_digest    text NOT NULL,
    timestamp_ms bigint NOT NULL,
    package      bytea NOT NULL,
    type_name    text NOT NULL,
    sender       bytea NOT NULL,
    bcs          bytea NOT NULL,
    decode_error text,
    blob_id      bytea,
    PRIMARY KEY (checkpoint, tx_index, event_index)
);
CREATE INDEX events_by_type ON events (type_name, checkpoint, tx_index, event_index);
CREATE INDEX events_by_blob ON events (blob_id, checkpoint, tx_index, event_index) WHERE blob_id IS NOT NULL;
CREATE INDEX events_undecoded ON events (checkpoint) WHERE decode_error IS NOT NULL;

-- Current state of every Blob object.
CREATE TABLE blobs (
    object_id             bytea PRIMARY KEY,
    blob_id               bytea NOT NULL,
    size                  bigint NOT NULL,
    encoding_type         smallint NOT NULL,
    deletable             boolean NOT NULL,
    registered_epoch      integer NOT NULL,
    certified_epoch       integer,
    end_epoch             integer NOT NULL,
    deleted_epoch         integer,
    burned                boolean NOT NULL DEFAULT false,
    attributes            jsonb NOT NULL DEFAULT '{}',
    registered_checkpoint bigint NOT NULL,
    updated_checkpoint    bigint NOT NULL
);
CREATE INDEX blobs_by_blob_id ON blobs (blob_id);
CREATE INDEX blobs_by_end_epoch ON blobs (end_epoch, object_id);

-- Blob IDs certified as inconsistently encoded.
CREATE TABLE invalid_blob_ids (
    blob_id    bytea PRIMARY KEY,
    epoch      integer NOT NULL,
    checkpoint bigint NOT NULL
);

-- One row per epoch the chain has started (or selected parameters for).
CREATE TABLE epochs (
    epoch              integer PRIMARY KEY,
    start_checkpoint   bigint,
    start_timestamp_ms bigint,
    done_checkpoint    bigint,
    storage_price      bigint,
    write_price        bigint,
    total_capacity     bigint,
    used_capacity      bigint,
    committee          jsonb
);

-- Storage nodes as their events describe them.
CREATE TABLE nodes (
    node_id              bytea PRIMARY KEY,
    name                 text NOT NULL,
    network_address      text NOT NULL,
    network_public_key   bytea,
    commission_rate      integer NOT NULL,
    storage_price_vote   bigint,
    write_price_vote     bigint,
    capacity_vote        bigint,
    registered_epoch     integer NOT NULL,
    deregistered_epoch   integer,
    staked               bigint NOT NULL DEFAULT 0,
    pool_wal             bigint,
    pool_shares          bigint,
    commission_collected bigint NOT NULL DEFAULT 0,
    updated_checkpoint   bigint NOT NULL
);

-- What each node earned per epoch.
CREATE TABLE node_rewards (
    node_id     bytea NOT NULL,
    epoch       integer NOT NULL,
    reward      bigint NOT NULL,
    commission  bigint NOT NULL,
    pool_wal    bigint NOT NULL,
    pool_shares bigint NOT NULL,
    PRIMARY KEY (node_id, epoch)
);

-- Storage resources as their events describe them (while a blob wraps one, no event tells).
CREATE TABLE storage_resources (
    storage_id         bytea PRIMARY KEY,
    start_epoch        integer,
    end_epoch          integer,
    storage_size       bigint,
    reserved_epoch     integer,
    cost               bigint,
    absorbed_into      bytea,
    released_epoch     integer,
    updated_checkpoint bigint NOT NULL
);
