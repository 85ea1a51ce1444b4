-- The digest of the watermark's checkpoint: after a restart the next checkpoint must name it
-- as its previous digest, so the chain is verified across restarts too.
ALTER TABLE watermark ADD COLUMN digest bytea;
