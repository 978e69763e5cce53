#!/usr/bin/env bash
# Runs every test: unit tests of each crate and the end-to-end suite against real processes.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cargo fmt --check
cargo test --release --workspace --all-targets -- --test-threads 2
