-- What the explorer reads, kept up to date inside each batch's transaction so every page is a
-- few index lookups, never a scan of the blobs.

-- Blob attributes as rows, so `/v1/blobs?attribute=KEY[:VALUE]` walks an index in object order
-- (the page order) instead of scanning the JSON of every blob.
CREATE TABLE blob_attributes (
    object_id bytea NOT NULL,
    key       text NOT NULL,
    value     text NOT NULL,
    PRIMARY KEY (object_id, key)
);
CREATE INDEX blob_attributes_by_key ON blob_attributes (key, object_id);
CREATE INDEX blob_attributes_by_value ON blob_attributes (key, value, object_id);

INSERT INTO blob_attributes (object_id, key, value)
SELECT b.object_id, a.key, a.value FROM blobs b, jsonb_each_text(b.attributes) a;

-- Blob IDs whose data the storage nodes deleted because f+1 of them deny-listed it
-- (DenyListBlobDeleted); every object of the ID is marked deleted in that epoch.
CREATE TABLE deny_listed_blob_ids (
    blob_id    bytea PRIMARY KEY,
    epoch      integer NOT NULL,
    checkpoint bigint NOT NULL
);

-- Per epoch: the total staked principal after the epoch's last stake event (or at its start).
-- Apart from `epochs` so stake events do not list an epoch that has not been announced.
CREATE TABLE epoch_stake (
    epoch       integer PRIMARY KEY,
    total_stake bigint NOT NULL
);

-- ProtocolVersionUpdated: the version that takes effect from `start_epoch`.
CREATE TABLE protocol_versions (
    start_epoch integer PRIMARY KEY,
    version     bigint NOT NULL,
    checkpoint  bigint NOT NULL
);

-- Per node and epoch: its staked principal, its shards in that epoch's committee. Rewards
-- stay in node_rewards (same key).
CREATE TABLE node_epochs (
    node_id bytea NOT NULL,
    epoch   integer NOT NULL,
    stake   bigint,
    shards  jsonb,
    PRIMARY KEY (node_id, epoch)
);

-- Every blob object ever certified, by the epoch it was first certified in (the twin of
-- registered_totals), kept by statement triggers.
CREATE TABLE certified_totals (
    certified_epoch integer PRIMARY KEY,
    blobs           bigint NOT NULL,
    bytes           numeric NOT NULL
);

INSERT INTO certified_totals (certified_epoch, blobs, bytes)
SELECT certified_epoch, count(*), sum(size) FROM blobs WHERE certified_epoch IS NOT NULL GROUP BY 1;

CREATE FUNCTION blobs_certified_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO certified_totals AS t (certified_epoch, blobs, bytes)
    SELECT certified_epoch, count(*), sum(size) FROM inserted WHERE certified_epoch IS NOT NULL GROUP BY 1
    ON CONFLICT (certified_epoch) DO UPDATE SET blobs = t.blobs + EXCLUDED.blobs, bytes = t.bytes + EXCLUDED.bytes;
    RETURN NULL;
END $$;

-- A certified epoch is set once (COALESCE in the writer), so only the first certification counts.
CREATE FUNCTION blobs_certified_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO certified_totals AS t (certified_epoch, blobs, bytes)
    SELECT a.certified_epoch, count(*), sum(a.size) FROM after a JOIN before b ON b.object_id = a.object_id
    WHERE b.certified_epoch IS NULL AND a.certified_epoch IS NOT NULL GROUP BY 1
    ON CONFLICT (certified_epoch) DO UPDATE SET blobs = t.blobs + EXCLUDED.blobs, bytes = t.bytes + EXCLUDED.bytes;
    RETURN NULL;
END $$;

CREATE TRIGGER blobs_certified_inserted AFTER INSERT ON blobs REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION blobs_certified_inserted();
CREATE TRIGGER blobs_certified_updated AFTER UPDATE ON blobs REFERENCING OLD TABLE AS before NEW TABLE AS after
    FOR EACH STATEMENT EXECUTE FUNCTION blobs_certified_updated();
