#!/usr/bin/env node
// Builds and tests the Move packages under move/ with the real Sui compiler and unit-test
// runner (Sui 1.71.1 compiled to WASM), fully offline, and prints the BCS layout of every
// datatype straight from the compiled bytecode.
//
//   node scripts/move.mjs test [--timeout SECONDS] [--jobs N] [PACKAGE_DIR...]
//   node scripts/move.mjs build [--out DIR [--published NAME=ID...]] [PACKAGE_DIR...]
//   node scripts/move.mjs layout PACKAGE_DIR [--module NAME]
//   node scripts/move.mjs check-layouts [--write] [PACKAGE_DIR...]
//
// Without PACKAGE_DIR, every folder under move/ that holds a Move.toml is taken.
// See README.md ("The Move contracts") for why it is built this way.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..');
const moveRoot = path.join(repo, 'move');

const USAGE = `usage:
  node scripts/move.mjs test [--timeout SECONDS] [--jobs N] [PACKAGE_DIR...]
      compile every package and run its unit tests, each in a worker killed after the
      timeout (default 600 s); lists every test, ends with "move: N passed, N failed"
  node scripts/move.mjs build [--out DIR [--published NAME=ID...]] [PACKAGE_DIR...]
      compile with all Sui lints and print the warnings; with --out, also write DIR/NAME.json
      per package, what a publish transaction needs, as "sui move build
      --dump-bytecode-as-base64" prints it: {"modules", "dependencies", "digest"}. A package
      whose local dependencies are not published needs their IDs: --published wal=0x…
  node scripts/move.mjs layout PACKAGE_DIR [--module NAME]
      print the BCS layout (fields in declaration order, with types) of every struct and
      enum the package defines, read from its compiled bytecode, as JSON
  node scripts/move.mjs check-layouts [--write] [PACKAGE_DIR...]
      compare each package's layout with its checked-in layout.json (--write updates it),
      and the types Walrus also defines with tests/vectors/walrus/walrus-*-layouts.json

PACKAGE_DIR defaults to every folder under move/ with a Move.toml.
MOVE_FRAMEWORK_DIR may point at a folder holding move-stdlib/ and sui-framework/; by default
the Sui framework sources come from the crate pinned in scripts/move-framework/.`;

// ---------------------------------------------------------------------------------------
// Package sources

/** The folder that holds `move-stdlib/` and `sui-framework/` (Sui mainnet-v1.64.2). */
function frameworkDir() {
  if (process.env.MOVE_FRAMEWORK_DIR) return process.env.MOVE_FRAMEWORK_DIR;
  const manifest = path.join(here, 'move-framework', 'Cargo.toml');
  const out = execFileSync(
    'cargo',
    ['metadata', '--format-version', '1', '--locked', '--manifest-path', manifest],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 },
  );
  const pkg = JSON.parse(out).packages.find((p) => p.name === 'moverox-sui');
  if (!pkg) throw new Error('cargo metadata did not list moverox-sui');
  return path.join(path.dirname(pkg.manifest_path), 'move');
}

/** Every file under `dir` (recursively) as `relative path -> text`, filtered by `keep`. */
function readTree(dir, keep = () => true) {
  const out = {};
  const walk = (abs, rel) => {
    for (const entry of fs.readdirSync(abs, { withFileTypes: true })) {
      const childAbs = path.join(abs, entry.name);
      const childRel = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) walk(childAbs, childRel);
      else if (keep(childRel)) out[childRel] = fs.readFileSync(childAbs, 'utf8');
    }
  };
  walk(dir, '');
  return out;
}

/** What the compiler needs of a package: its manifest, sources and (for the root) tests. */
function packageFiles(dir, withTests) {
  return readTree(dir, (rel) => rel === 'Move.toml'
    || (rel.startsWith('sources/') && rel.endsWith('.move'))
    || (withTests && rel.startsWith('tests/') && rel.endsWith('.move')));
}

function packageName(dir) {
  const toml = fs.readFileSync(path.join(dir, 'Move.toml'), 'utf8');
  const m = toml.match(/^\s*name\s*=\s*"([^"]+)"/m);
  if (!m) throw new Error(`${dir}/Move.toml has no package name`);
  return m[1];
}

function allPackages() {
  if (!fs.existsSync(moveRoot)) return [];
  return fs.readdirSync(moveRoot, { withFileTypes: true })
    .filter((e) => e.isDirectory() && fs.existsSync(path.join(moveRoot, e.name, 'Move.toml')))
    .map((e) => path.join(moveRoot, e.name))
    .sort();
}

/** The folders of the `local` dependencies a package's Move.toml declares. */
function localDependencies(dir) {
  const toml = fs.readFileSync(path.join(dir, 'Move.toml'), 'utf8');
  return [...toml.matchAll(/^\s*[\w-]+\s*=\s*\{[^}]*\blocal\s*=\s*"([^"]+)"/gm)].map((m) => path.resolve(dir, m[1]));
}

/** Names of the packages `dir` depends on through local paths, transitively. */
function localDependencyNames(dir, seen = new Set()) {
  for (const dep of localDependencies(dir)) {
    const name = packageName(dep);
    if (!seen.has(name)) {
      seen.add(name);
      localDependencyNames(dep, seen);
    }
  }
  return seen;
}

/**
 * A dependency's manifest as Sui reads a published package's: its named address is the
 * package's ID and `published-at` says where to link, so the dependent package's bytecode
 * refers to the published package and its dependency list names it.
 */
function asPublished(toml, name, id) {
  const address = new RegExp(`^(\\s*${name}\\s*=\\s*)"0x0"`, 'm');
  if (!address.test(toml)) throw new Error(`the Move.toml of ${name} does not set ${name} = "0x0" under [addresses]`);
  return toml
    .replace(address, `$1"${id}"`)
    .replace(/^\[package\]\s*$/m, `[package]\npublished-at = "${id}"`);
}

// ---------------------------------------------------------------------------------------
// Worker: compiles or tests one package. The WASM test runner has no gas limit, so a
// looping test would hang the process; the parent terminates the worker on timeout.

async function workerMain({ op, dir, framework, packageDirs, published }) {
  const builder = await import('@zktx.io/sui-move-builder/full');
  await builder.initMovePackageBuilder();

  // Implicit `std`/`sui` dependencies are requested from GitHub at a pinned revision; answer
  // from the local framework sources instead. Local dependencies resolve relative to the
  // folder of the package that declares them.
  class LocalFetcher extends builder.MovePackageFetcher {
    async fetch(gitUrl, rev, subdir = '') {
      const name = ['move-stdlib', 'sui-framework'].find((n) => subdir.endsWith(n));
      if (!name) throw new Error(`no offline source for ${gitUrl} ${subdir} (only std and sui are available)`);
      return packageFiles(path.join(framework, name), false);
    }
    async fetchFile() { return null; }
    getResolvedSha(_gitUrl, rev) { return rev; }
  }
  const fetcher = new LocalFetcher();
  fetcher.fetchLocal = async (localPath, context) => {
    const parent = packageDirs[context.parentPackageName];
    if (!parent) throw new Error(`unknown package ${context.parentPackageName} (dependency ${context.dependencyName})`);
    const depDir = path.resolve(parent, localPath);
    const files = packageFiles(depDir, false);
    const id = published?.[packageName(depDir)];
    if (id) files['Move.toml'] = asPublished(files['Move.toml'], packageName(depDir), id);
    return files;
  };

  const input = { files: packageFiles(dir, op === 'test'), fetcher, ansiColor: false, network: 'mainnet' };
  if (op === 'test') return builder.testMovePackage(input);
  return builder.dumpMovePackage({ ...input, lintFlag: 'all' });
}

if (!isMainThread) {
  workerMain(workerData).then(
    (result) => parentPort.postMessage({ result }),
    (err) => parentPort.postMessage({ result: { error: String(err?.stack ?? err), category: 'harness' } }),
  );
}

function packageDirsByName() {
  return Object.fromEntries(allPackages().map((d) => [packageName(d), d]));
}

/** Runs `op` on one package in a worker; resolves to the builder's result or a timeout error. */
function inWorker(op, dir, framework, timeoutMs, published = {}) {
  return new Promise((resolve) => {
    const worker = new Worker(fileURLToPath(import.meta.url), {
      workerData: { op, dir, framework, packageDirs: packageDirsByName(), published },
    });
    const timer = setTimeout(() => {
      worker.terminate();
      resolve({ error: `timed out after ${timeoutMs / 1000} s`, category: 'timeout' });
    }, timeoutMs);
    worker.once('message', ({ result }) => { clearTimeout(timer); worker.terminate(); resolve(result); });
    worker.once('error', (err) => { clearTimeout(timer); resolve({ error: String(err?.stack ?? err), category: 'harness' }); });
  });
}

// ---------------------------------------------------------------------------------------
// Commands

async function test(dirs, { timeoutMs, jobs }) {
  const framework = frameworkDir();
  let passed = 0;
  let failed = 0;
  let broken = 0;
  const queue = [...dirs];
  const results = new Map();
  const runOne = async () => {
    while (queue.length) {
      const dir = queue.shift();
      const started = Date.now();
      results.set(dir, { result: await inWorker('test', dir, framework, timeoutMs), ms: Date.now() - started });
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, dirs.length) }, runOne));

  for (const dir of dirs) {
    const { result, ms } = results.get(dir);
    const name = path.relative(repo, dir);
    if ('error' in result) {
      broken++;
      console.log(`${name}: ${result.category ?? 'error'}\n${result.error}`);
      continue;
    }
    const lines = result.output.split('\n');
    const pass = lines.filter((l) => l.startsWith('[ PASS'));
    const fail = lines.filter((l) => l.startsWith('[ FAIL') || l.startsWith('[ TIMEOUT'));
    const summary = lines.find((l) => l.startsWith('Test result:'));
    passed += pass.length;
    failed += fail.length;
    if (!summary) {
      // A compile error (also in test code) comes back without a summary line.
      broken++;
      console.log(`${name}: does not compile\n${result.output}`);
      continue;
    }
    console.log(`${name}: ${pass.length} passed, ${fail.length} failed in ${(ms / 1000).toFixed(1)} s`);
    console.log(result.passed ? [...pass, ...fail].join('\n') : result.output);
  }
  if (broken) console.log(`${broken} package(s) did not compile or did not finish`);
  console.log(`move: ${passed} passed, ${failed + broken} failed`);
  return failed + broken === 0 && dirs.length > 0;
}

async function build(dirs, { out, published }) {
  const framework = frameworkDir();
  let ok = true;
  for (const dir of dirs) {
    const name = path.relative(repo, dir);
    if (out) {
      // The builder drops an unpublished dependency from the list silently; Sui's CLI refuses.
      const missing = [...localDependencyNames(dir)].filter((dep) => !published[dep]);
      if (missing.length) {
        ok = false;
        console.log(`${name}: depends on unpublished ${missing.join(', ')}; publish ${missing.length > 1 ? 'them' : 'it'} first and pass ${missing.map((m) => `--published ${m}=ID`).join(' ')}`);
        continue;
      }
    }
    const result = await inWorker('build', dir, framework, 300_000, published);
    if ('error' in result) {
      ok = false;
      console.log(`${name}: ${result.category ?? 'error'}\n${result.error}`);
      continue;
    }
    console.log(`${name}: ${result.modules.length} modules${result.warnings ? `\n${result.warnings}` : ', no warnings'}`);
    if (out) {
      await checkDependencyOrder(result.modules);
      const file = path.join(out, `${packageName(dir)}.json`);
      const { modules, dependencies, digest } = result;
      fs.mkdirSync(out, { recursive: true });
      fs.writeFileSync(file, `${JSON.stringify({ modules, dependencies, digest })}\n`);
      console.log(`${name}: wrote ${file} (digest ${Buffer.from(digest).toString('hex')})`);
    }
  }
  return ok;
}

/**
 * Fails unless every module comes after the modules of its own package it uses: Sui publishes
 * modules in dependency order, and so does `sui move build --dump-bytecode-as-base64`.
 */
async function checkDependencyOrder(modules) {
  const { deserialize } = await import('@mysten/move-bytecode-template');
  const seen = new Set();
  for (const b64 of modules) {
    const m = deserialize(Buffer.from(b64, 'base64'));
    const self = m.module_handles[m.self_module_handle_idx];
    const selfName = m.identifiers[self.name];
    for (const h of m.module_handles) {
      const used = m.identifiers[h.name];
      if (h.address === self.address && used !== selfName && !seen.has(used)) {
        throw new Error(`module ${selfName} comes before ${used}, which it uses: not in dependency order`);
      }
    }
    seen.add(selfName);
  }
}

const ABILITIES = [[1, 'copy'], [2, 'drop'], [4, 'store'], [8, 'key']];

/** Struct and enum layouts of every module the package defines, from its bytecode. */
async function layoutOf(dir) {
  const result = await inWorker('build', dir, frameworkDir(), 300_000);
  if ('error' in result) throw new Error(`${path.relative(repo, dir)} does not compile:\n${result.error}`);
  const { deserialize } = await import('@mysten/move-bytecode-template');
  const layout = {};
  for (const b64 of result.modules) {
    const m = deserialize(Buffer.from(b64, 'base64'));
    const ident = (i) => m.identifiers[i];
    const moduleName = ident(m.module_handles[m.self_module_handle_idx].name);
    const handle = (i) => m.datatype_handles[i];
    const qualified = (i) => {
      const h = handle(i);
      const mh = m.module_handles[h.module];
      const addr = m.address_identifiers[mh.address];
      // Framework addresses print short (0x1, 0x2) as Sui does; any other address in full.
      const short = /^0{63}[1-9a-f]$/.test(addr) ? `0x${addr.slice(63)}` : `0x${addr}`;
      return `${short}::${ident(mh.name)}::${ident(h.name)}`;
    };
    const typeParams = (i) => handle(i).type_parameters.map((_, k) => `T${k}`);
    const render = (sig, params) => {
      if (typeof sig === 'string') return sig.toLowerCase();
      if ('Vector' in sig) return `vector<${render(sig.Vector, params)}>`;
      if ('Datatype' in sig) return qualified(sig.Datatype);
      if ('DatatypeInstantiation' in sig) {
        const [i, args] = sig.DatatypeInstantiation;
        return `${qualified(i)}<${args.map((a) => render(a, params)).join(', ')}>`;
      }
      if ('TypeParameter' in sig) return params[sig.TypeParameter];
      throw new Error(`unexpected signature ${JSON.stringify(sig)}`);
    };
    const fields = (list, params) => list.map((f) => [ident(f.name), render(f.signature, params)]);
    const abilities = (i) => ABILITIES.filter(([bit]) => handle(i).abilities & bit).map(([, n]) => n);
    const nameWithParams = (i) => {
      const params = typeParams(i);
      return `${moduleName}::${ident(handle(i).name)}${params.length ? `<${params.join(', ')}>` : ''}`;
    };
    for (const s of m.struct_defs) {
      const i = s.struct_handle;
      const declared = s.field_information.Declared;
      if (!declared) continue; // native structs have no layout of their own
      layout[nameWithParams(i)] = { abilities: abilities(i), fields: fields(declared, typeParams(i)) };
    }
    for (const e of m.enum_defs) {
      const i = e.enum_handle;
      layout[nameWithParams(i)] = {
        abilities: abilities(i),
        variants: e.variants.map((v) => [ident(v.variant_name), fields(v.fields, typeParams(i))]),
      };
    }
  }
  return Object.fromEntries(Object.entries(layout).sort(([a], [b]) => a.localeCompare(b)));
}

const stringify = (value) => `${JSON.stringify(value, null, 1)}\n`;


/**
 * Checks the compiled layouts against the checked-in `layout.json` of each package, and every
 * type that Walrus also defines (same module and name) against Walrus's own layouts.
 */
async function checkLayouts(dirs, { write }) {
  const walrus = {};
  const vectors = path.join(repo, 'tests', 'vectors', 'walrus');
  for (const [file, prefix] of [['walrus-event-layouts.json', 'events::'], ['walrus-object-layouts.json', '']]) {
    for (const [name, value] of Object.entries(JSON.parse(fs.readFileSync(path.join(vectors, file), 'utf8')))) {
      walrus[prefix + name] = value.fields ?? value;
    }
  }
  let ok = true;
  for (const dir of dirs) {
    const name = path.relative(repo, dir);
    const actual = await layoutOf(dir);
    const file = path.join(dir, 'layout.json');
    if (write) {
      fs.writeFileSync(file, stringify(actual));
      console.log(`${name}: wrote ${path.relative(repo, file)}`);
    } else if (!fs.existsSync(file)) {
      ok = false;
      console.log(`${name}: no layout.json; run with --write to create it`);
    } else if (fs.readFileSync(file, 'utf8') !== stringify(actual)) {
      ok = false;
      const expected = JSON.parse(fs.readFileSync(file, 'utf8'));
      const changed = [...new Set([...Object.keys(expected), ...Object.keys(actual)])]
        .filter((k) => JSON.stringify(expected[k]) !== JSON.stringify(actual[k]));
      console.log(`${name}: layout changed without layout.json changing: ${changed.join(', ')}`);
    }
    let shared = 0;
    for (const [type, value] of Object.entries(actual)) {
      const theirs = walrus[type];
      if (!theirs) continue;
      shared++;
      const ours = value.fields ?? value.variants;
      if (JSON.stringify(ours) !== JSON.stringify(theirs)) {
        ok = false;
        console.log(`${name}: ${type} differs from Walrus\n  ours:   ${JSON.stringify(ours)}\n  Walrus: ${JSON.stringify(theirs)}`);
      }
    }
    console.log(`${name}: ${Object.keys(actual).length} types, ${shared} shared with Walrus, checked`);
  }
  console.log(ok ? 'layouts: ok' : 'layouts: FAILED');
  return ok;
}

// ---------------------------------------------------------------------------------------

async function main(argv) {
  const [command, ...rest] = argv;
  const flags = { published: {} };
  const dirs = [];
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i];
    if (arg === '--write') flags.write = true;
    else if (['--timeout', '--jobs', '--module', '--out'].includes(arg)) {
      if (i + 1 >= rest.length) throw new UsageError(`${arg} needs a value`);
      flags[arg.slice(2)] = rest[++i];
    } else if (arg === '--published') {
      const m = /^([A-Za-z_][\w]*)=(0x[0-9a-fA-F]{1,64})$/.exec(rest[++i] ?? '');
      if (!m) throw new UsageError('--published takes NAME=ID, the ID a 0x-prefixed hex address');
      flags.published[m[1]] = `0x${m[2].slice(2).toLowerCase().padStart(64, '0')}`;
    } else if (arg.startsWith('-')) throw new UsageError(`unknown option ${arg}`);
    else {
      const dir = path.resolve(arg);
      if (!fs.existsSync(path.join(dir, 'Move.toml'))) throw new UsageError(`${arg} is not a Move package (no Move.toml)`);
      dirs.push(dir);
    }
  }
  const packages = dirs.length ? dirs : allPackages();
  const positive = (value, what) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${what} must be a positive integer, got ${value}`);
    return n;
  };
  switch (command) {
    case 'test':
      return test(packages, {
        timeoutMs: positive(flags.timeout ?? 600, '--timeout') * 1000,
        jobs: positive(flags.jobs ?? 1, '--jobs'),
      });
    case 'build':
      if (Object.keys(flags.published).length && !flags.out) throw new UsageError('--published goes with --out');
      return build(packages, { out: flags.out && path.resolve(flags.out), published: flags.published });
    case 'layout': {
      if (dirs.length !== 1) throw new UsageError('layout takes exactly one PACKAGE_DIR');
      let layout = await layoutOf(dirs[0]);
      if (flags.module) layout = Object.fromEntries(Object.entries(layout).filter(([k]) => k.startsWith(`${flags.module}::`)));
      process.stdout.write(stringify(layout));
      return true;
    }
    case 'check-layouts':
      return checkLayouts(packages, flags);
    case undefined: case '-h': case '--help': case 'help':
      console.log(USAGE);
      return command !== undefined;
    default:
      throw new UsageError(`unknown command ${command}`);
  }
}

class UsageError extends Error {}

if (isMainThread) {
  main(process.argv.slice(2)).then(
    (ok) => process.exit(ok ? 0 : 1),
    (err) => {
      console.error(err instanceof UsageError ? `error: ${err.message}\n\n${USAGE}` : err.stack ?? String(err));
      process.exit(2);
    },
  );
}
