/// The encoded size of a blob, computed exactly as the encoder computes it, since the storage
/// a blob needs is bought in encoded bytes. RS2 (`encoding_type = 1`) is the only encoding.
module walrus::encoding;

/// The only supported encoding: Walrus's RS2 ("RedStuff" over Reed–Solomon).
const RS2: u8 = 1;
/// Hash and blob-ID sizes in the metadata every shard stores.
const DIGEST_LEN: u64 = 32;
const BLOB_ID_LEN: u64 = 32;
/// Symbols are at most this many bytes (a u16, rounded down to an even number).
const MAX_SYMBOL_SIZE: u64 = 65534;
/// The code needs at least 4 shards (so that f >= 1).
const MIN_SHARDS: u16 = 4;

#[error]
const EInvalidEncodingType: vector<u8> = b"Only encoding type 1 (RS2) is supported";
#[error]
const EBlobTooLarge: vector<u8> = b"The blob is too large for this number of shards (symbols exceed 65534 bytes)";
#[error]
const ETooFewShards: vector<u8> = b"Encoding needs at least 4 shards";

public fun rs2(): u8 { RS2 }

/// Encoded length in bytes of a blob of `unencoded_length` bytes over `n_shards` shards:
/// every shard stores a primary and a secondary sliver plus the metadata (two hashes per
/// sliver pair and the blob ID).
public fun encoded_blob_length(unencoded_length: u64, encoding_type: u8, n_shards: u16): u64 {
    assert!(encoding_type == RS2, EInvalidEncodingType);
    assert!(n_shards >= MIN_SHARDS, ETooFewShards);
    let n = n_shards as u64;
    let f = (n - 1) / 3;
    let primary = n - 2 * f;
    let secondary = n - f;
    let symbol = symbol_size(unencoded_length, primary * secondary);
    n * ((primary + secondary) * symbol + n * 2 * DIGEST_LEN + BLOB_ID_LEN)
}

/// The largest blob `n_shards` shards can encode.
public fun max_blob_length(n_shards: u16): u64 {
    assert!(n_shards >= MIN_SHARDS, ETooFewShards);
    let n = n_shards as u64;
    let f = (n - 1) / 3;
    (n - 2 * f) * (n - f) * MAX_SYMBOL_SIZE
}

fun symbol_size(unencoded_length: u64, source_symbols: u64): u64 {
    let length = unencoded_length.max(1);
    let mut symbol = length.divide_and_round_up(source_symbols);
    symbol = symbol + symbol % 2;
    assert!(symbol <= MAX_SYMBOL_SIZE, EBlobTooLarge);
    symbol
}
