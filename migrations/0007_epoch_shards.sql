-- Each epoch's shard count, derived from its committee when the row is written, so the API
-- reads the latest committee's shard count (for encoded sizes) by primary key inside the
-- statement it serves instead of parsing the committee's JSON on every request.
ALTER TABLE epochs ADD COLUMN n_shards integer
    GENERATED ALWAYS AS (jsonb_array_length(jsonb_path_query_array(committee, '$[*].shards[*]'))) STORED;
