#!/usr/bin/env bash
# Installs the system packages Strata needs: libclang (RocksDB's Rust bindings are generated
# with bindgen), a C++ compiler for RocksDB itself, and redis-server/redis-tools (the
# reference server for compatibility tests, redis-cli, and redis-benchmark for the bench).
set -euo pipefail
need=()
command -v c++ >/dev/null || need+=(g++)
command -v make >/dev/null || need+=(make)
ls /usr/lib/llvm-*/lib/libclang.so* >/dev/null 2>&1 || ls /usr/lib/x86_64-linux-gnu/libclang*.so* >/dev/null 2>&1 || need+=(libclang-dev)
command -v redis-server >/dev/null || need+=(redis-server)
command -v redis-cli >/dev/null || need+=(redis-tools)
command -v redis-benchmark >/dev/null || need+=(redis-tools)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "cargo (Rust 1.95+) is required" >&2; exit 1; }
