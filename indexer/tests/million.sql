-- A million blob objects over 100 epochs, 100 nodes with a 1000-shard committee each epoch,
-- and what the explorer reads beside them (per-epoch stake, per-node history and rewards, a
-- registration event per blob), written with SQL: the API reads the same tables whatever
-- wrote them. Shared by the home-page benchmark (tests/explorer_page.rs) and the explorer
-- API benchmark (benches/api.rs). Blob n: object sha256(int8send(n)), ID sha256(int8send(-n)).
INSERT INTO nodes (node_id, name, network_address, commission_rate, registered_epoch, staked, pool_wal, pool_shares,
                   updated_checkpoint)
SELECT decode(lpad(to_hex(n), 64, '0'), 'hex'), 'node-' || n, 'node' || n || '.example:9185', n * 10, 0,
       n * 1000000000000, n * 1001000000000, n * 1000000000000, 1
FROM generate_series(1, 100) n;
INSERT INTO epochs (epoch, start_checkpoint, start_timestamp_ms, storage_price, write_price, total_capacity,
                    used_capacity, committee)
SELECT e, e * 1000, 1700000000000 + e::int8 * 86400000, 1000 + e, 2000 - e, 1::int8 << 50, e::int8 << 40,
       (SELECT jsonb_agg(jsonb_build_object('node_id', '0x' || lpad(to_hex(n), 64, '0'),
                                            'shards', (SELECT jsonb_agg(n * 10 + s) FROM generate_series(0, 9) s)))
        FROM generate_series(1, 100) n)
FROM generate_series(1, 100) e;
INSERT INTO epoch_stake (epoch, total_stake) SELECT e, 5050 * 1000000000000 + e FROM generate_series(1, 100) e;
INSERT INTO node_epochs (node_id, epoch, stake, shards)
SELECT decode(lpad(to_hex(n), 64, '0'), 'hex'), e, n * 1000000000000,
       (SELECT jsonb_agg(n * 10 + s) FROM generate_series(0, 9) s)
FROM generate_series(1, 100) n, generate_series(1, 100) e;
INSERT INTO node_rewards (node_id, epoch, reward, commission, pool_wal, pool_shares)
SELECT decode(lpad(to_hex(n), 64, '0'), 'hex'), e, n * 1000, n * 10, n * 1001000000000, n * 1000000000000
FROM generate_series(1, 100) n, generate_series(1, 100) e;
-- The status the indexer stores with each object: none is deleted, invalid or expired (every end
-- epoch is after epoch 100, the last started).
INSERT INTO blobs (object_id, blob_id, size, encoding_type, deletable, registered_epoch, certified_epoch,
                   end_epoch, registered_checkpoint, updated_checkpoint, status)
SELECT sha256(int8send(g)), sha256(int8send(-g)), 1 + g % 100000, 1, g % 3 = 0, 1 + g % 100,
       CASE WHEN g % 4 <> 0 THEN 1 + g % 100 END, 101 + g % 50, g, g,
       CASE WHEN g % 4 <> 0 THEN 'certified' ELSE 'registered' END
FROM generate_series(1, 1000000) g;
INSERT INTO events (checkpoint, tx_index, event_index, tx_digest, timestamp_ms, package, type_name, sender, bcs, blob_id)
-- Served events are decoded from their BCS, so each is a well-formed BlobRegistered of the
-- benches' package (`walrus_chain::testing::package()`): epoch 1, the blob's ID, size 1, RS2,
-- end epoch 101, not deletable, the blob's object ID.
SELECT g, 0, 0, 'tx' || g, 1700000000000 + g, decode('ab' || repeat('00', 30) || 'ee', 'hex'), 'BlobRegistered',
       decode(repeat('00', 31) || '01', 'hex'),
       '\x01000000'::bytea || sha256(int8send(-g)) || '\x0100000000000000'::bytea || '\x01'::bytea
         || '\x65000000'::bytea || '\x00'::bytea || sha256(int8send(g)),
       sha256(int8send(-g))
FROM generate_series(1, 1000000) g;
ANALYZE;
