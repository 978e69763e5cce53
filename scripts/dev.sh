#!/usr/bin/env bash
# The one command that runs Strata: installs what is missing, builds, and starts a local
# cluster (3 core replicas + 1 gateway) with data in ./strata-data. Extra flags go to
# `strata dev` (e.g. --redis-port 6380).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh build
exec cargo run --release --bin strata -- dev "$@"
