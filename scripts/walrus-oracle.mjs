#!/usr/bin/env node
// Command-line oracle around the official Walrus RS2 encoder (@mysten/walrus-wasm 0.3.0),
// so the Rust encoder's tests and benchmarks can compare bytes and timings against it.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  BlobEncoder, params, symbolSize, encode, computeMetadata, decode,
  hex, b64url, parseB64url, splitmix64, splitmixBytes,
} from './walrus-lib.mjs';

const USAGE = `usage: node walrus-oracle.mjs <command> [options]

commands:
  encode  --shards N --in FILE|- --out DIR
      writes DIR/slivers/<p>.primary.bcs, DIR/slivers/<p>.secondary.bcs for every
      sliver pair p (pair p holds secondary sliver n-1-p) and DIR/oracle.json
  blob-id --shards N --in FILE|-
      prints the blob id (base64url, no padding), via compute_metadata
  decode  --shards N --blob-id B64URL --size L --slivers DIR --out FILE [--verify]
      decodes from every <p>.primary.bcs in DIR (or DIR/slivers); --verify also
      recomputes the blob id of the result and fails if it differs (the WASM does not check)
  bench   --shards N --size L --op encode|metadata|decode --reps R [--seed S]
      input = SplitMix64(seed, default 42) bytes; one warm-up call, then R timed calls;
      prints one JSON line

Errors go to stderr with exit code 1.`;

const OPTIONS = {
  shards: { type: 'string' }, in: { type: 'string' }, out: { type: 'string' },
  'blob-id': { type: 'string' }, size: { type: 'string' }, slivers: { type: 'string' },
  verify: { type: 'boolean' }, op: { type: 'string' }, reps: { type: 'string' },
  seed: { type: 'string' }, help: { type: 'boolean', short: 'h' },
};

function need(opts, name) {
  if (opts[name] === undefined) throw new Error(`missing --${name}`);
  return opts[name];
}

function intArg(opts, name, min, max) {
  const s = need(opts, name);
  if (!/^\d+$/.test(s) || Number(s) < min || Number(s) > max) {
    throw new Error(`--${name} must be an integer in ${min}..${max}, got ${s}`);
  }
  return Number(s);
}

// The bindings truncate n_shards to u16, so range-check before handing it over.
const shardsArg = (opts) => intArg(opts, 'shards', 1, 65535);

async function readInput(file) {
  if (file !== '-') return new Uint8Array(fs.readFileSync(file));
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  return new Uint8Array(Buffer.concat(chunks));
}

async function cmdEncode(opts) {
  const n = shardsArg(opts);
  const data = await readInput(need(opts, 'in'));
  const outDir = need(opts, 'out');
  const r = encode(new BlobEncoder(n), n, data);

  const sliverDir = path.join(outDir, 'slivers');
  fs.mkdirSync(sliverDir, { recursive: true });
  for (let p = 0; p < n; p++) {
    fs.writeFileSync(path.join(sliverDir, `${p}.primary.bcs`), r.primary[p]);
    fs.writeFileSync(path.join(sliverDir, `${p}.secondary.bcs`), r.secondary[p]);
  }
  const oracle = {
    blob_id: b64url(r.blobId),
    blob_id_hex: hex(r.blobId),
    root_hash_hex: hex(r.root),
    unencoded_length: r.unencodedLength,
    n_shards: n,
    symbol_size: r.symbolSize,
    pair_hashes: r.pairHashes.map((h) => ({ primary: hex(h.primary), secondary: hex(h.secondary) })),
  };
  fs.writeFileSync(path.join(outDir, 'oracle.json'), JSON.stringify(oracle, null, 1) + '\n');
}

async function cmdBlobId(opts) {
  const n = shardsArg(opts);
  const data = await readInput(need(opts, 'in'));
  console.log(b64url(computeMetadata(new BlobEncoder(n), data).blobId));
}

function cmdDecode(opts) {
  const n = shardsArg(opts);
  const blobId = parseB64url(need(opts, 'blob-id'));
  const size = intArg(opts, 'size', 0, Number.MAX_SAFE_INTEGER);
  let dir = need(opts, 'slivers');
  // Accept the encode output directory as well as its slivers/ subdirectory.
  if (fs.existsSync(path.join(dir, 'slivers'))) dir = path.join(dir, 'slivers');
  const files = fs.readdirSync(dir).filter((f) => /^\d+\.primary\.bcs$/.test(f))
    .sort((a, b) => parseInt(a) - parseInt(b));
  if (files.length === 0) throw new Error(`no <p>.primary.bcs files in ${dir}`);
  const slivers = files.map((f) => new Uint8Array(fs.readFileSync(path.join(dir, f))));

  const encoder = new BlobEncoder(n);
  const blob = decode(encoder, blobId, size, slivers);
  if (opts.verify) {
    const got = computeMetadata(encoder, blob).blobId;
    if (hex(got) !== hex(blobId)) throw new Error(`decoded blob has blob id ${b64url(got)}, not ${b64url(blobId)}`);
  }
  fs.writeFileSync(need(opts, 'out'), blob);
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function cmdBench(opts) {
  const n = shardsArg(opts);
  const size = intArg(opts, 'size', 0, Number.MAX_SAFE_INTEGER);
  const reps = intArg(opts, 'reps', 1, 1e6);
  const seed = BigInt(opts.seed ?? '42');
  const op = need(opts, 'op');
  const data = splitmixBytes(seed, size);
  const encoder = new BlobEncoder(n);

  let run;
  if (op === 'metadata') {
    run = () => encoder.compute_metadata(data);
  } else if (op === 'encode') {
    // Reuse one set of pre-sized buffers (the WASM overwrites them) so only encode() is timed.
    const r = encode(encoder, n, data);
    run = () => encoder.encode(data, r.primary, r.secondary);
  } else if (op === 'decode') {
    const r = encode(encoder, n, data);
    // Pick kp distinct pairs with a partial Fisher-Yates shuffle driven by SplitMix64(seed+1),
    // so the subset is random but reproducible.
    const rng = splitmix64(seed + 1n);
    const idx = [...Array(n).keys()];
    const { kp } = params(n);
    for (let i = 0; i < kp; i++) {
      const j = i + Number(rng.next() % BigInt(n - i));
      [idx[i], idx[j]] = [idx[j], idx[i]];
    }
    const chosen = idx.slice(0, kp).map((p) => r.primary[p]);
    const blobId = Array.from(r.blobId);
    const out = new Uint8Array(size);
    run = () => encoder.decode(blobId, BigInt(size), chosen, out);
  } else {
    throw new Error(`--op must be encode, metadata or decode, got ${op}`);
  }

  run(); // warm-up: the first WASM call also builds lookup tables
  const all = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    run();
    all.push(+(performance.now() - t0).toFixed(3));
  }
  console.log(JSON.stringify({
    op, n_shards: n, size, reps,
    median_ms: median(all), min_ms: Math.min(...all), all_ms: all,
    peak_rss_mb: +(process.resourceUsage().maxRSS / 1024).toFixed(1), // maxRSS is in KiB
    symbol_size: symbolSize(n, size),
  }));
}

const COMMANDS = { encode: cmdEncode, 'blob-id': cmdBlobId, decode: cmdDecode, bench: cmdBench };

try {
  // A base64url blob ID may start with '-', which parseArgs would take for an option.
  const args = process.argv.slice(2).flatMap((a, i, all) =>
    all[i - 1] === '--blob-id' ? [] : a === '--blob-id' && i + 1 < all.length ? [`--blob-id=${all[i + 1]}`] : [a]);
  const { values, positionals } = parseArgs({ args, options: OPTIONS, allowPositionals: true });
  const [cmd, ...extra] = positionals;
  if (values.help || cmd === 'help') {
    console.log(USAGE);
    process.exit(0);
  }
  if (cmd === undefined) throw new Error(`missing command\n${USAGE}`);
  if (!COMMANDS[cmd]) throw new Error(`unknown command: ${cmd}\n${USAGE}`);
  if (extra.length) throw new Error(`unexpected arguments: ${extra.join(' ')}`);
  await COMMANDS[cmd](values);
} catch (e) {
  // WASM panics surface as RuntimeError("unreachable"), e.g. n_shards < 4.
  const hint = e instanceof WebAssembly.RuntimeError ? ' (the WASM encoder panicked; n_shards < 4?)' : '';
  console.error(`walrus-oracle: ${e.name === 'Error' ? '' : e.name + ': '}${e.message}${hint}`);
  process.exit(1);
}
