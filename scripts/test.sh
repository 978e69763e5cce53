#!/usr/bin/env bash
# Runs every test: unit tests of each crate and the end-to-end suite against real processes.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
if cargo fmt --version >/dev/null 2>&1; then
  cargo fmt --check
else
  echo "rustfmt not installed: skipping the formatting check" >&2
fi
cargo test --release --workspace --all-targets -- --test-threads 2
