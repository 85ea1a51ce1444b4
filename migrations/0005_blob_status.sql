-- A blob object's status, stored so that `/v1/blobs?status=` reads an index instead of
-- computing the status of every row in object order (a rare status scanned the whole table).
-- The batch transaction keeps it current (store.rs: the objects it touched, the objects of
-- blob IDs it declared invalid, and the objects whose end epoch an epoch change reached).

-- The status of a Blob object in `epoch`, first match: deleted (a deleted object stays
-- deleted when its blob ID is declared invalid later), invalid, expired, certified, registered.
CREATE FUNCTION blob_status(deleted_epoch integer, burned boolean, invalid boolean, end_epoch integer,
                            certified_epoch integer, epoch integer) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN deleted_epoch IS NOT NULL OR burned THEN 'deleted'
                WHEN invalid THEN 'invalid'
                WHEN end_epoch <= epoch THEN 'expired'
                WHEN certified_epoch IS NOT NULL THEN 'certified'
                ELSE 'registered' END
$$;

ALTER TABLE blobs ADD COLUMN status text NOT NULL DEFAULT 'registered'
    CHECK (status IN ('registered', 'certified', 'deleted', 'invalid', 'expired'));

-- The backfill changes no total: the statement trigger need not see every row.
ALTER TABLE blobs DISABLE TRIGGER blobs_updated;
UPDATE blobs b SET status = blob_status(b.deleted_epoch, b.burned,
        EXISTS (SELECT 1 FROM invalid_blob_ids i WHERE i.blob_id = b.blob_id), b.end_epoch, b.certified_epoch,
        (SELECT coalesce(max(epoch), 0) FROM epochs WHERE start_checkpoint IS NOT NULL))
WHERE status <> blob_status(b.deleted_epoch, b.burned,
        EXISTS (SELECT 1 FROM invalid_blob_ids i WHERE i.blob_id = b.blob_id), b.end_epoch, b.certified_epoch,
        (SELECT coalesce(max(epoch), 0) FROM epochs WHERE start_checkpoint IS NOT NULL));
ALTER TABLE blobs ENABLE TRIGGER blobs_updated;

-- A status page in object order, from the cursor on.
CREATE INDEX blobs_by_status ON blobs (status, object_id);
