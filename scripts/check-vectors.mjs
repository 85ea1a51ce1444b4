#!/usr/bin/env node
// Re-run the official WASM encoder on cases from tests/vectors/walrus/redstuff-rs2.json and compare
// with the recorded results: proves the oracle (sizing, generators, hex/base64 handling) is
// wired correctly. Default: a handful of cases; --all: every case (about 3 minutes).
// Usage: node check-vectors.mjs [--all] [--vectors PATH]
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { BlobEncoder, params, encode, computeMetadata, decode, generate, splitmix64, hex, b64url } from './walrus-lib.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const { values: opts } = parseArgs({
  options: { all: { type: 'boolean' }, vectors: { type: 'string' } },
});
const vectorsPath = opts.vectors ?? path.join(here, '../tests/vectors/walrus/redstuff-rs2.json');
const V = JSON.parse(fs.readFileSync(vectorsPath, 'utf8'));

const sha256 = (...parts) => {
  const h = createHash('sha256');
  for (const p of parts.flat()) h.update(p);
  return h.digest('hex');
};

// Guard the generators themselves with the file's self-check values first.
{
  const sc = V.generators.self_check;
  const s0 = splitmix64(0n), s42 = splitmix64(42n);
  const outs = (rng) => [0, 1, 2].map(() => rng.next().toString(16).padStart(16, '0'));
  const ok = hex(generate('affine31', 16)) === sc.affine31_first_16_hex
    && JSON.stringify(outs(s0)) === JSON.stringify(sc.splitmix64_seed0_first_3_outputs_hex)
    && JSON.stringify(outs(s42)) === JSON.stringify(sc.splitmix64_42_first_3_outputs_hex)
    && hex(generate('splitmix64:42', 16)) === sc.splitmix64_42_first_16_bytes_hex;
  console.log(`${ok ? 'ok  ' : 'FAIL'} generator self-check`);
  if (!ok) process.exit(1);
}

const all = [...V.known_vectors, ...V.cases, ...V.boundary_cases];
const pick = (n, size, gen) => all.find((c) => c.n_shards === n && c.size === size && c.generator === gen);
const selected = opts.all ? all : [
  V.known_vectors[0],
  pick(4, 0, 'affine31'),
  pick(7, 4096, 'splitmix64:42'),
  pick(10, 1048576, 'affine31'),
  pick(13, 2949030, 'affine31'), // largest blob for n=13: symbol size 65534
  pick(13, 2949031, 'affine31'), // one byte more: must be rejected
  pick(100, 65535, 'splitmix64:42'),
  pick(1000, 0, 'affine31'),
  pick(1000, 1048576, 'affine31'),
  pick(1000, 10000019, 'splitmix64:42'),
];

function checkCase(c) {
  const data = generate(c.generator, c.size);
  if (sha256(data) !== c.data_sha256) return ['input data_sha256'];
  const encoder = new BlobEncoder(c.n_shards);

  if (c.status !== 'ok') {
    try {
      encode(encoder, c.n_shards, data);
      return ['expected an error, encode succeeded'];
    } catch (e) {
      return e.message === c.error ? [] : [`error "${e.message}" != "${c.error}"`];
    }
  }

  const r = encode(encoder, c.n_shards, data);
  const md = computeMetadata(encoder, data);
  const pairHashes = r.pairHashes.flatMap((h) => [h.primary, h.secondary]);
  const kp = params(c.n_shards).kp;
  const decoded = decode(encoder, r.blobId, c.size, r.primary.slice(-kp)); // last kp, as in the file
  const checks = {
    blob_id_b64url: b64url(r.blobId) === c.blob_id_b64url,
    blob_id_hex: hex(r.blobId) === c.blob_id_hex,
    root_hash_hex: hex(r.root) === c.root_hash_hex,
    compute_metadata_agrees: hex(md.blobId) === c.blob_id_hex && hex(md.root) === c.root_hash_hex,
    unencoded_length: r.unencodedLength === c.unencoded_length && md.unencodedLength === c.unencoded_length,
    symbol_size: r.symbolSize === c.symbol_size,
    pair_hashes_concat_sha256: sha256(pairHashes) === c.pair_hashes_concat_sha256,
    primary_bcs_concat_sha256: sha256(r.primary) === c.primary_bcs_concat_sha256,
    secondary_bcs_concat_sha256: sha256(r.secondary) === c.secondary_bcs_concat_sha256,
    // Full sliver dumps are only recorded for small cases.
    slivers_hex: !c.slivers_hex || (hex(r.primary[0]) === c.slivers_hex.primary_pair_0
      && hex(r.primary.at(-1)) === c.slivers_hex.primary_pair_last
      && hex(r.secondary[0]) === c.slivers_hex.secondary_pair_0
      && hex(r.secondary.at(-1)) === c.slivers_hex.secondary_pair_last),
    decode_roundtrip: Buffer.compare(decoded, data) === 0,
  };
  return Object.entries(checks).filter(([, ok]) => !ok).map(([k]) => k);
}

let failed = 0;
for (const c of selected) {
  const label = `n=${c.n_shards} size=${c.size} gen=${c.generator}${c.status === 'ok' ? '' : ' (expect error)'}`;
  const t0 = performance.now();
  let bad;
  try {
    bad = checkCase(c);
  } catch (e) {
    bad = [`threw ${e.name}: ${e.message}`];
  }
  const ms = (performance.now() - t0).toFixed(0);
  if (bad.length) failed++;
  console.log(`${bad.length ? 'FAIL' : 'ok  '} ${label} (${ms} ms)${bad.length ? ': ' + bad.join(', ') : ''}`);
}
console.log(`${selected.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
