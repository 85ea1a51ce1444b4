#!/usr/bin/env bash
# Runs every test of the project: installs what the tests need first (the official Walrus
# encoder from npm, used as an oracle), then the Rust workspace's tests.
set -euo pipefail
cd "$(dirname "$0")/.."

npm ci --prefix scripts --no-audit --no-fund --loglevel=error

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast
fi
