#!/usr/bin/env bash
# Installs the system packages Strata needs.
#   scripts/install-deps.sh build   libclang (RocksDB's Rust bindings are generated with
#                                   bindgen) and a C++ toolchain for RocksDB itself
#   scripts/install-deps.sh         the above, plus redis-server and redis-tools: the reference
#                                   server for compatibility tests, redis-cli, redis-benchmark;
#                                   and awscli (the aws CLI v2, for the S3 end-to-end tests)
# (`build` alone keeps Debian's redis-server service from grabbing port 6379 before
# `strata dev` does.)
set -euo pipefail
mode="${1:-all}"
need=()
command -v c++ >/dev/null || need+=(g++)
command -v make >/dev/null || need+=(make)
ls /usr/lib/llvm-*/lib/libclang.so* >/dev/null 2>&1 || ls /usr/lib/x86_64-linux-gnu/libclang*.so* >/dev/null 2>&1 || need+=(libclang-dev)
if [ "$mode" != build ]; then
  command -v redis-server >/dev/null || need+=(redis-server)
  { command -v redis-cli >/dev/null && command -v redis-benchmark >/dev/null; } || need+=(redis-tools)
  # The e2e tests run /usr/bin/aws (Debian's v2), whatever other aws is on PATH.
  [ -x /usr/bin/aws ] || need+=(awscli)
fi
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "cargo (Rust 1.95+) is required" >&2; exit 1; }
