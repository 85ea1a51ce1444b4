// Shared helpers for the Walrus RS2 oracle: thin wrappers around the official
// WASM encoder (@mysten/walrus-wasm 0.3.0) plus the input generators of
// tests/vectors/walrus/redstuff-rs2.json.

// The package's Node entry loads the .wasm synchronously on import (fs.readFileSync +
// new WebAssembly.Instance); its default export init() is a no-op, so nothing to await.
import { BlobEncoder } from '@mysten/walrus-wasm';

export { BlobEncoder };

export const MAX_SYMBOL_SIZE = 65534;

/** Code parameters derived from n_shards (spec §2). */
export function params(n) {
  const f = Math.floor((n - 1) / 3);
  const kp = n - 2 * f;
  const ks = n - f;
  return { f, kp, ks, K: kp * ks };
}

/** Symbol size for an unencoded length L (spec §3); may exceed MAX_SYMBOL_SIZE. */
export function symbolSize(n, L) {
  const { K } = params(n);
  const s0 = Math.ceil(Math.max(L, 1) / K);
  return s0 + (s0 % 2);
}

function ulebLen(x) {
  let len = 1;
  while (x >= 128) { x = Math.floor(x / 128); len++; }
  return len;
}

/** BCS length of a serialized sliver with D data bytes: uleb(D) || data || u16 S || u16 index. */
export const bcsLen = (D) => ulebLen(D) + D + 4;

/**
 * Encode `data` with the WASM encoder. The WASM writes into caller-allocated buffers and
 * rejects any size other than the exact BCS length, so they are pre-sized here.
 * Returns { primary[], secondary[] } (index = sliver pair p), metadata and root.
 */
export function encode(encoder, n, data) {
  const { kp, ks } = params(n);
  const S = symbolSize(n, data.length);
  // A too-large blob fails inside the WASM before it looks at the buffers; avoid
  // allocating gigabytes only to be told so.
  const ok = S <= MAX_SYMBOL_SIZE;
  const pLen = ok ? bcsLen(ks * S) : 0;
  const sLen = ok ? bcsLen(kp * S) : 0;
  const primary = Array.from({ length: n }, () => new Uint8Array(pLen));
  const secondary = Array.from({ length: n }, () => new Uint8Array(sLen));
  const [meta, root] = encoder.encode(data, primary, secondary);
  const v1 = meta.metadata.V1;
  return {
    primary,
    secondary,
    symbolSize: S,
    blobId: Uint8Array.from(meta.blob_id),
    root: Uint8Array.from(root.Digest),
    unencodedLength: v1.unencoded_length,
    encodingType: v1.encoding_type,
    pairHashes: v1.hashes.map((h) => ({
      primary: Uint8Array.from(h.primary_hash.Digest),
      secondary: Uint8Array.from(h.secondary_hash.Digest),
    })),
  };
}

/** Blob id and root without producing slivers (compute_metadata). */
export function computeMetadata(encoder, data) {
  const [blobId, root, unencodedLength, encodingType] = encoder.compute_metadata(data);
  return { blobId: Uint8Array.from(blobId), root: Uint8Array.from(root.Digest), unencodedLength, encodingType };
}

/**
 * Decode from primary sliver BCS buffers (any subset; the WASM needs kp distinct ones).
 * Note: the WASM only parses blob_id, it does not check it against the result.
 */
export function decode(encoder, blobId, size, primaryBcs) {
  const out = new Uint8Array(size);
  encoder.decode(Array.from(blobId), BigInt(size), primaryBcs, out);
  return out;
}

export const hex = (u8) => Buffer.from(u8).toString('hex');
export const b64url = (u8) => Buffer.from(u8).toString('base64url'); // Node emits no padding

export function parseB64url(s) {
  if (!/^[A-Za-z0-9_-]{43}$/.test(s)) throw new Error(`invalid blob id (want 43 base64url chars): ${s}`);
  const bytes = new Uint8Array(Buffer.from(s, 'base64url'));
  // Node's decoder ignores stray trailing bits; insist on the canonical form.
  if (b64url(bytes) !== s) throw new Error(`non-canonical base64url blob id: ${s}`);
  return bytes;
}

// ---- input generators (tests/vectors/walrus/redstuff-rs2.json "generators") ----

const M64 = (1n << 64n) - 1n;

/** SplitMix64 stream; next() returns the next u64 as a BigInt. */
export function splitmix64(seed) {
  let state = BigInt.asUintN(64, BigInt(seed));
  return {
    next() {
      state = (state + 0x9e3779b97f4a7c15n) & M64;
      let z = state;
      z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M64;
      z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M64;
      return z ^ (z >> 31n);
    },
  };
}

/** L bytes from SplitMix64(seed): output k gives bytes 8k..8k+7 little-endian, last truncated. */
export function splitmixBytes(seed, L) {
  const rng = splitmix64(seed);
  const buf = Buffer.alloc(Math.ceil(L / 8) * 8);
  for (let off = 0; off < buf.length; off += 8) buf.writeBigUInt64LE(rng.next(), off);
  return new Uint8Array(buf.buffer, buf.byteOffset, L);
}

/** Input bytes for a vector-file generator spec ("affine31", "splitmix64:SEED", "utf8:TEXT"). */
export function generate(spec, L) {
  if (spec === 'affine31') {
    const out = new Uint8Array(L);
    for (let i = 0; i < L; i++) out[i] = (31 * i + 7) & 0xff;
    return out;
  }
  if (spec.startsWith('splitmix64:')) return splitmixBytes(BigInt(spec.slice(11)), L);
  if (spec.startsWith('utf8:')) return new TextEncoder().encode(spec.slice(5));
  throw new Error(`unknown generator: ${spec}`);
}
