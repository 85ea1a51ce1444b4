#!/usr/bin/env bash
# Runs every test of the project: installs what the tests need first (the official Walrus
# encoder used as an oracle, and the Sui Move compiler and test runner, from npm), then the
# Move packages' unit tests and layout checks, then the Rust workspace's tests.
set -euo pipefail
cd "$(dirname "$0")/.."

npm ci --prefix scripts --no-audit --no-fund --loglevel=error

node scripts/gen-move-vectors.mjs --check
node scripts/move.mjs test
node scripts/move.mjs check-layouts

# The indexer's tests create (and drop) a database each on this server.
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"

if cargo nextest --version >/dev/null 2>&1; then
  run() { cargo nextest run --no-fail-fast "$@"; }
else
  run() { cargo test --no-fail-fast "$@"; }
fi

# First without our own SIMD kernels (AVX-512 Blake2b, GFNI Reed-Solomon), so the paths
# other CPUs take are checked against the vectors here too; then everything.
WALRUS_ENCODER_PORTABLE=1 run -p walrus-encoder --lib --test vectors --test recovery --test streaming
run --workspace
