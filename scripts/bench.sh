#!/usr/bin/env bash
# Benchmarks Strata against redis-server in one run, with the same redis-benchmark load:
#   redis-server with appendonly + appendfsync always (every write fsynced, like Strata),
#   and a `strata dev` cluster (3 core replicas, each write fsynced on a quorum).
# Then Strata again after splitting its keyspace into RANGES ranges (default 64), so the
# cost of many Raft groups shows next to one.
# Usage: scripts/bench.sh [requests] [clients] [ranges]
set -euo pipefail
cd "$(dirname "$0")/.."
REQUESTS="${1:-100000}"
CLIENTS="${2:-50}"
RANGES="${3:-64}"
./scripts/install-deps.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/strata-target}"
cargo build --release --bin strata
STRATA="$CARGO_TARGET_DIR/release/strata"

WORK="$(mktemp -d)"
cleanup() {
  [ -n "${STRATA_PID:-}" ] && kill -INT "$STRATA_PID" 2>/dev/null && wait "$STRATA_PID" 2>/dev/null || true
  [ -n "${REDIS_PID:-}" ] && kill "$REDIS_PID" 2>/dev/null && wait "$REDIS_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
REDIS_PORT=$(free_port)
STRATA_PORT=$(free_port)
CORE_PORT=$((20000 + RANDOM % 20000))

redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$WORK" --save "" \
  --appendonly yes --appendfsync always >"$WORK/redis.log" 2>&1 &
REDIS_PID=$!
"$STRATA" dev --data-dir "$WORK/strata-data" --redis-port "$STRATA_PORT" --core-port "$CORE_PORT" \
  --grpc-port "$(free_port)" --metrics-port "$(free_port)" >"$WORK/strata.log" 2>&1 &
STRATA_PID=$!
for _ in $(seq 1 300); do
  grep -q '^ready' "$WORK/strata.log" 2>/dev/null && redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
  sleep 0.2
done
grep -q '^ready' "$WORK/strata.log" || { cat "$WORK/strata.log"; echo "strata dev did not become ready" >&2; exit 1; }

run() { # port -> CSV lines "test,rps,avg,min,p50,p95,p99,max"
  redis-benchmark -h 127.0.0.1 -p "$1" -t set,get -c "$CLIENTS" -n "$REQUESTS" -r 100000 --csv 2>/dev/null | tr -d '"' | grep -E '^(SET|GET),'
}
echo "running redis-benchmark -t set,get -c $CLIENTS -n $REQUESTS -r 100000 ..." >&2
REDIS_CSV=$(run "$REDIS_PORT")
STRATA_CSV=$(run "$STRATA_PORT")

# Split the benchmark's keys (`key:` + 12 digits, under Strata's Redis prefix `R`) evenly.
CORE_ADDRS="127.0.0.1:$CORE_PORT,127.0.0.1:$((CORE_PORT + 1)),127.0.0.1:$((CORE_PORT + 2))"
echo "splitting into $RANGES ranges ..." >&2
for i in $(seq 1 $((RANGES - 1))); do
  "$STRATA" ctl --core "$CORE_ADDRS" split --key "$(printf 'Rkey:%012d' $((i * 100000 / RANGES)))" >/dev/null
done
for _ in $(seq 1 150); do
  "$STRATA" ctl --core "$CORE_ADDRS" ranges 2>/dev/null | grep -q "^catalog version [0-9]*, $RANGES ranges" && break
  sleep 0.2
done
SPLIT_CSV=$(run "$STRATA_PORT")

# Transactions: a two-key MSET whose keys share a range commits in one phase; one whose keys
# are in different ranges (a `key:` range and the last range, which holds `txn:`) commits in
# two phases. Same command shape for both, and for redis-server.
TXN_REQUESTS=$((REQUESTS / 5))
txn() { # port, label, args... -> CSV line "label,rps,avg,min,p50,p95,p99,max"
  local port=$1 label=$2; shift 2
  redis-benchmark -h 127.0.0.1 -p "$port" -c "$CLIENTS" -n "$TXN_REQUESTS" -r 100000 --csv "$@" 2>/dev/null \
    | tr -d '"' | grep -E '^MSET' | sed "s/^[^,]*,/$label,/"
}
ONE_RANGE=(MSET txn:a:__rand_int__ v txn:b:__rand_int__ v)
TWO_RANGES=(MSET key:__rand_int__ v txn:c:__rand_int__ v)
echo "running 2-key MSET, same range vs two ranges ..." >&2
TXN_CSV=$(txn "$REDIS_PORT" redis "${ONE_RANGE[@]}"; txn "$STRATA_PORT" 1pc "${ONE_RANGE[@]}"; txn "$STRATA_PORT" 2pc "${TWO_RANGES[@]}")

# Collections: redis-benchmark's own tests. Each targets ONE key (mylist, myset, myhash,
# myzset, counter) with random members, so on Strata they measure a hot key's group commit.
COLL_TESTS=incr,lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,zpopmin,lrange_100
coll() { # port -> CSV lines
  redis-benchmark -h 127.0.0.1 -p "$1" -t "$COLL_TESTS" -c "$CLIENTS" -n "$TXN_REQUESTS" -r 100000 --csv 2>/dev/null \
    | tr -d '"' | grep -vE '^(test|)$' | grep ','
}
echo "running collection tests ($COLL_TESTS) ..." >&2
COLL_REDIS=$(coll "$REDIS_PORT")
COLL_STRATA=$(coll "$STRATA_PORT")

CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
echo
echo "Date: $(date -u +%Y-%m-%d)  Machine: $(nproc) vCPU ($CPU), $(free -g | awk '/Mem:/{print $2}') GiB RAM"
echo "Load: redis-benchmark -t set,get -c $CLIENTS -n $REQUESTS -r 100000 (loopback)"
echo "redis-server $(redis-server --version | grep -o 'v=[0-9.]*' | cut -d= -f2): appendonly yes, appendfsync always"
echo "Strata: strata dev (3 core replicas + 1 gateway, each write fsynced on a Raft quorum)"
echo
printf '| %-16s | %-4s | %10s | %7s | %8s | %8s |\n' server test "ops/s" "vs redis" "p50 ms" "p99 ms"
printf '|------------------|------|------------|----------|----------|----------|\n'
for t in SET GET; do
  rr=$(echo "$REDIS_CSV" | grep "^$t," | cut -d, -f2)
  for pair in "redis-server:$REDIS_CSV" "strata 1 range:$STRATA_CSV" "strata $RANGES ranges:$SPLIT_CSV"; do
    name="${pair%%:*}"; csv="${pair#*:}"
    row=$(echo "$csv" | grep "^$t,")
    ops=$(echo "$row" | cut -d, -f2); p50=$(echo "$row" | cut -d, -f5); p99=$(echo "$row" | cut -d, -f7)
    ratio=$(awk -v s="$ops" -v r="$rr" 'BEGIN { printf "%.0f%%", 100 * s / r }')
    printf '| %-16s | %-4s | %10s | %8s | %8s | %8s |\n' "$name" "$t" "$ops" "$ratio" "$p50" "$p99"
  done
done
echo
echo "Transactions: 2-key MSET, -c $CLIENTS -n $TXN_REQUESTS, on the $RANGES-range cluster"
echo
printf '| %-34s | %10s | %8s | %8s |\n' "commit path" "ops/s" "p50 ms" "p99 ms"
printf '|------------------------------------|------------|----------|----------|\n'
for pair in "redis:redis-server" "1pc:strata, keys in one range (1PC)" "2pc:strata, keys in two ranges (2PC)"; do
  label="${pair%%:*}"; name="${pair#*:}"
  row=$(echo "$TXN_CSV" | grep "^$label,")
  printf '| %-34s | %10s | %8s | %8s |\n' "$name" "$(echo "$row" | cut -d, -f2)" "$(echo "$row" | cut -d, -f5)" \
    "$(echo "$row" | cut -d, -f7)"
done
echo
echo "Hot-key collection commands: redis-benchmark -t $COLL_TESTS -c $CLIENTS -n $TXN_REQUESTS -r 100000"
echo "(every test hits one key; on Strata that key's writes are group-committed)"
echo
printf '| %-28s | %10s | %10s | %8s | %8s | %8s |\n' test "redis ops/s" "strata ops/s" "vs redis" "p50 ms" "p99 ms"
printf '|------------------------------|------------|------------|----------|----------|----------|\n'
while IFS=, read -r t rps _; do
  row=$(echo "$COLL_STRATA" | grep -F "$t," | head -1)
  ops=$(echo "$row" | cut -d, -f2)
  [ -z "$ops" ] && ops=0
  ratio=$(awk -v s="$ops" -v r="$rps" 'BEGIN { printf "%.0f%%", 100 * s / r }')
  printf '| %-28s | %10s | %10s | %8s | %8s | %8s |\n' "$t" "$rps" "$ops" "$ratio" "$(echo "$row" | cut -d, -f5)" \
    "$(echo "$row" | cut -d, -f7)"
done <<<"$COLL_REDIS"
