#!/usr/bin/env bash
# Runs every test of the project: installs what the tests need first (the official Walrus
# encoder used as an oracle, the Sui Move compiler and test runner and playwright-core from npm,
# Debian's chromium for the explorer's browser test), then the
# Move packages' unit tests and layout checks, then the Rust workspace's tests. Prints how long
# each step took and the total, also when a step fails.
set -euo pipefail
cd "$(dirname "$0")/.."

started=$SECONDS
duration() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }
trap 'status=$?; echo "== test-all: $( ((status)) && echo FAILED || echo passed) in $(duration $((SECONDS - started)))"; exit $status' EXIT

# step NAME COMMAND...: runs the command and says how long it took.
step() {
  local name=$1 t0=$SECONDS
  shift
  echo "== $name"
  "$@"
  echo "== $name: $(duration $((SECONDS - t0)))"
}

if ! cargo nextest --version >/dev/null 2>&1; then
  echo "the Rust tests run with cargo-nextest: cargo install cargo-nextest --locked" >&2
  exit 1
fi
# The indexer's tests create (and drop) a database each on this server.
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"

step "npm dependencies" npm ci --prefix scripts --no-audit --no-fund --loglevel=error
# The explorer's browser test (indexer/tests/explorer_page.rs) drives Debian's Chromium.
install_chromium() {
  if [[ -x /usr/bin/chromium ]]; then return; fi
  local sudo=()
  ((EUID == 0)) || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
}
step "Chromium for the browser tests" install_chromium
step "generated Move tests are current" node scripts/gen-move-vectors.mjs --check
step "Move tests" node scripts/move.mjs test
step "Move layouts" node scripts/move.mjs check-layouts

# Every Rust test binary is built once, for the whole workspace: building a single package
# (`-p`) unifies dependency features differently and would build the encoder a second time.
# The portable pass below is a run-time switch of the same binaries.
step "Rust build" cargo nextest run --workspace --no-run
# First without our own SIMD kernels (AVX-512 Blake2b, GFNI Reed-Solomon), so the paths other
# CPUs take are checked against the vectors too; then everything.
step "Rust tests, portable encoder" env WALRUS_ENCODER_PORTABLE=1 cargo nextest run --workspace --no-fail-fast \
  -E 'package(walrus-encoder) & (kind(lib) | binary(vectors) | binary(recovery) | binary(streaming))'
step "Rust tests" cargo nextest run --workspace --no-fail-fast
