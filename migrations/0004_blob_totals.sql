-- Running totals for /v1/stats, kept by statement triggers inside each batch's transaction, so
-- a request reads a few rows instead of scanning every blob. A blob is counted while it is
-- neither deleted, burned nor invalid, under its end epoch and whether it is certified (what is
-- stored in an epoch is then the sum over later end epochs).
CREATE TABLE blob_totals (
    end_epoch integer NOT NULL,
    certified boolean NOT NULL,
    blobs     bigint NOT NULL,
    bytes     numeric NOT NULL,
    PRIMARY KEY (end_epoch, certified)
);

-- Every blob object ever registered, by the epoch it was registered in.
CREATE TABLE registered_totals (
    registered_epoch integer PRIMARY KEY,
    blobs            bigint NOT NULL,
    bytes            numeric NOT NULL
);

INSERT INTO blob_totals (end_epoch, certified, blobs, bytes)
SELECT end_epoch, certified_epoch IS NOT NULL, count(*), sum(size) FROM blobs b
WHERE deleted_epoch IS NULL AND NOT burned
  AND NOT EXISTS (SELECT 1 FROM invalid_blob_ids i WHERE i.blob_id = b.blob_id)
GROUP BY 1, 2;

INSERT INTO registered_totals (registered_epoch, blobs, bytes)
SELECT registered_epoch, count(*), sum(size) FROM blobs GROUP BY 1;

CREATE FUNCTION blobs_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO blob_totals AS t (end_epoch, certified, blobs, bytes)
    SELECT end_epoch, certified_epoch IS NOT NULL, count(*), sum(size) FROM inserted b
    WHERE deleted_epoch IS NULL AND NOT burned
      AND NOT EXISTS (SELECT 1 FROM invalid_blob_ids i WHERE i.blob_id = b.blob_id)
    GROUP BY 1, 2
    ON CONFLICT (end_epoch, certified) DO UPDATE SET blobs = t.blobs + EXCLUDED.blobs, bytes = t.bytes + EXCLUDED.bytes;
    INSERT INTO registered_totals AS t (registered_epoch, blobs, bytes)
    SELECT registered_epoch, count(*), sum(size) FROM inserted GROUP BY 1
    ON CONFLICT (registered_epoch) DO UPDATE SET blobs = t.blobs + EXCLUDED.blobs, bytes = t.bytes + EXCLUDED.bytes;
    RETURN NULL;
END $$;

CREATE FUNCTION blobs_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO blob_totals AS t (end_epoch, certified, blobs, bytes)
    SELECT end_epoch, certified, sum(sign), sum(sign * size) FROM (
        SELECT end_epoch, certified_epoch IS NOT NULL AS certified, -1 AS sign, size, blob_id FROM before b
        WHERE deleted_epoch IS NULL AND NOT burned
        UNION ALL
        SELECT end_epoch, certified_epoch IS NOT NULL, 1, size, blob_id FROM after b
        WHERE deleted_epoch IS NULL AND NOT burned
    ) c
    WHERE NOT EXISTS (SELECT 1 FROM invalid_blob_ids i WHERE i.blob_id = c.blob_id)
    GROUP BY 1, 2
    ON CONFLICT (end_epoch, certified) DO UPDATE SET blobs = t.blobs + EXCLUDED.blobs, bytes = t.bytes + EXCLUDED.bytes;
    RETURN NULL;
END $$;

-- A blob ID declared invalid stops counting every object of it still counted.
CREATE FUNCTION blob_ids_invalidated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO blob_totals AS t (end_epoch, certified, blobs, bytes)
    SELECT b.end_epoch, b.certified_epoch IS NOT NULL, -count(*), -sum(b.size)
    FROM blobs b JOIN inserted n ON n.blob_id = b.blob_id
    WHERE b.deleted_epoch IS NULL AND NOT b.burned
    GROUP BY 1, 2
    ON CONFLICT (end_epoch, certified) DO UPDATE SET blobs = t.blobs + EXCLUDED.blobs, bytes = t.bytes + EXCLUDED.bytes;
    RETURN NULL;
END $$;

CREATE TRIGGER blobs_inserted AFTER INSERT ON blobs REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION blobs_inserted();
CREATE TRIGGER blobs_updated AFTER UPDATE ON blobs REFERENCING OLD TABLE AS before NEW TABLE AS after
    FOR EACH STATEMENT EXECUTE FUNCTION blobs_updated();
CREATE TRIGGER blob_ids_invalidated AFTER INSERT ON invalid_blob_ids REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION blob_ids_invalidated();
