#!/usr/bin/env bash
# Runs units of Redis's own Tcl test suite (tests/unit/*.tcl of a redis 7.0 source tree)
# against a fresh `strata dev` cluster per unit, or against a plain redis-server for a
# baseline (--against-redis), and prints passed / failed per unit and in total.
#
#   scripts/redis-tcl-suite.sh [options] <redis-7.0-source-tree> [unit ...]
#
# Options:
#   --against-redis        run against `redis-server` (fresh, on a free port) instead of Strata
#   --strata BIN           the strata binary (default: $STRATA_BIN, else target/release/strata)
#   --redis-server BIN     the redis-server binary for --against-redis (default: redis-server)
#   --log-dir DIR          where logs and the summary go (default: ./redis-tcl-logs/<target>)
#   --baseline FILE        summary.tsv of an --against-redis run: the tests an aborted unit did
#                          not reach are then counted as failed ("not run")
#   --unit-timeout SECS    wall-clock cap per unit (default 1800); a unit killed by it is an abort
#   --runtest-arg ARG      extra argument for ./runtest (repeatable), e.g. --runtest-arg --skiptest
#                          --runtest-arg 'some test name'
#
# Units default to: type/string type/incr type/hash type/list type/set type/zset expire
# keyspace multi scan pubsub info-command.
#
# Nothing is fetched at run time; the source tree must already be there (e.g. `apt-get source
# redis` with deb-src enabled, or a release tarball). tclsh is needed (apt-get install tcl).
#
# Each unit runs against a fresh server with an empty temporary data directory, because units
# change configuration (CONFIG SET) and leave it changed. ./runtest runs in external-server
# mode (--host/--port) with --singledb --ignore-encoding --ignore-digest --tags -needs:debug
# --durable (a Tcl exception inside one test is reported as that test's [err] and the unit goes
# on). Per unit, <log-dir>/<unit>.log has the whole runtest output, <unit>.results only its
# [ok] / [err] / [exception] lines, and <log-dir>/summary.tsv the counts.
set -uo pipefail

default_units=(type/string type/incr type/hash type/list type/set type/zset expire keyspace multi scan pubsub
    info-command)
target=strata
strata_bin=${STRATA_BIN:-}
redis_server_bin=redis-server
log_dir=
baseline=
unit_timeout=1800
runtest_extra=()

usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
    case $1 in
    --against-redis) target=redis; shift ;;
    --strata) strata_bin=$2; shift 2 ;;
    --redis-server) redis_server_bin=$2; shift 2 ;;
    --log-dir) log_dir=$2; shift 2 ;;
    --baseline) baseline=$2; shift 2 ;;
    --unit-timeout) unit_timeout=$2; shift 2 ;;
    --runtest-arg) runtest_extra+=("$2"); shift 2 ;;
    -h | --help) usage; exit 0 ;;
    --*) echo "unknown option $1" >&2; usage >&2; exit 2 ;;
    *) break ;;
    esac
done
if [[ $# -lt 1 ]]; then
    usage >&2
    exit 2
fi
redis_src=$(cd "$1" && pwd) || { echo "no such directory: $1" >&2; exit 2; }
shift
units=("$@")
[[ ${#units[@]} -gt 0 ]] || units=("${default_units[@]}")

[[ -x $redis_src/runtest && -d $redis_src/tests/unit ]] || {
    echo "$redis_src does not look like a redis source tree (no runtest / tests/unit)" >&2
    exit 2
}
command -v tclsh >/dev/null || { echo "tclsh not found (apt-get install tcl)" >&2; exit 2; }
repo_root=$(cd "$(dirname "$0")/.." && pwd)
if [[ $target == strata ]]; then
    [[ -n $strata_bin ]] || strata_bin=$repo_root/target/release/strata
    [[ -x $strata_bin ]] || { echo "strata binary not found at $strata_bin (use --strata)" >&2; exit 2; }
else
    command -v "$redis_server_bin" >/dev/null || { echo "$redis_server_bin not found" >&2; exit 2; }
fi
[[ -n $log_dir ]] || log_dir=$PWD/redis-tcl-logs/$target
mkdir -p "$log_dir"
log_dir=$(cd "$log_dir" && pwd)
summary=$log_dir/summary.tsv
printf 'unit\tpassed\tfailed\tnot_run\taborted\n' >"$summary"

# Prints the first port P such that P .. P+count-1 are all free on 127.0.0.1.
free_ports() {
    python3 - "$1" <<'EOF'
import random, socket, sys
count = int(sys.argv[1])
for _ in range(1000):
    base = random.randrange(20000, 45000 - count)  # runtest also binds port + 10000
    socks = []
    try:
        for p in range(base, base + count):
            s = socket.socket()
            s.bind(("127.0.0.1", p))
            socks.append(s)
    except OSError:
        continue
    finally:
        for s in socks:
            s.close()
    print(base)
    sys.exit(0)
sys.exit("no free port range found")
EOF
}

server_pid=
server_dir=
stop_server() {
    if [[ -n $server_pid ]]; then
        # Strata dev stops its core processes on SIGINT/SIGTERM; redis-server on SIGTERM.
        kill -TERM "$server_pid" 2>/dev/null
        for _ in $(seq 1 100); do
            kill -0 "$server_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$server_pid" 2>/dev/null
        wait "$server_pid" 2>/dev/null
        server_pid=
    fi
    if [[ -n $server_dir ]]; then
        rm -rf "$server_dir"
        server_dir=
    fi
}
trap 'stop_server; exit 130' INT TERM
trap stop_server EXIT

# Starts a fresh server; sets $port. Returns non-zero if it did not come up.
start_server() {
    local server_log=$1
    server_dir=$(mktemp -d "${TMPDIR:-/tmp}/redis-tcl-suite.XXXXXX")
    if [[ $target == strata ]]; then
        local base
        base=$(free_ports 6) || return 1
        port=$base
        "$strata_bin" dev --data-dir "$server_dir" --redis-port "$base" --grpc-port $((base + 1)) \
            --metrics-port $((base + 2)) --core-port $((base + 3)) >"$server_log" 2>&1 &
        server_pid=$!
        for _ in $(seq 1 1200); do
            grep -q '^ready:' "$server_log" && return 0
            kill -0 "$server_pid" 2>/dev/null || return 1
            sleep 0.1
        done
        return 1
    else
        port=$(free_ports 1) || return 1
        "$redis_server_bin" --port "$port" --bind 127.0.0.1 --dir "$server_dir" --save '' --appendonly no \
            >"$server_log" 2>&1 &
        server_pid=$!
        for _ in $(seq 1 300); do
            redis-cli -p "$port" ping 2>/dev/null | grep -q PONG && return 0
            kill -0 "$server_pid" 2>/dev/null || return 1
            sleep 0.1
        done
        return 1
    fi
}

# Tests the baseline saw for a unit (empty if unknown).
baseline_total() {
    [[ -n $baseline && -f $baseline ]] || return 0
    awk -F'\t' -v u="$1" '$1 == u && $5 == "no" { print $2 + $3 }' "$baseline"
}

total_passed=0
total_failed=0
aborted_units=()
printf '%-16s %7s %7s %8s  %s\n' unit passed failed "not run" note
for unit in "${units[@]}"; do
    name=${unit//\//_}
    log=$log_dir/$name.log
    results=$log_dir/$name.results
    note=
    if ! start_server "$log_dir/$name.server.log"; then
        echo "could not start the $target server for $unit; see $log_dir/$name.server.log" >&2
        stop_server
        printf '%-16s %7s %7s %8s  %s\n' "$unit" - - - "server did not start"
        printf '%s\t0\t0\t0\tyes\n' "$unit" >>"$summary"
        aborted_units+=("$unit")
        continue
    fi
    # The test server listens on a port below --baseport; pick a free range so that several
    # runs (or other programs) on the machine do not collide.
    test_base=$(free_ports 64) || test_base=21111
    (
        cd "$redis_src" &&
            timeout --kill-after=10 "$unit_timeout" ./runtest --host 127.0.0.1 --port "$port" --singledb \
                --ignore-encoding --ignore-digest --tags -needs:debug --durable --timeout 600 \
                --baseport $((test_base + 32)) --portcount 32 \
                "${runtest_extra[@]}" --single "unit/$unit"
    ) >"$log" 2>&1
    status=$?
    stop_server
    # Test result lines look like `[ok]: name (12 ms)` / `[err]: name in tests/unit/x.tcl`;
    # strip the colour codes runtest adds on a terminal.
    sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -E '^\[(ok|err|exception|timeout)\]' >"$results"
    passed=$(grep -c '^\[ok\]' "$results")
    failed=$(grep -c '^\[err\]' "$results")
    not_run=0
    aborted=no
    # A unit that ran to the end prints "All tests passed" or "[err]" summary lines; anything
    # else (exception, crash, timeout, killed server) is an abort.
    # With --durable an exception outside any test (in a start_server body) is printed as an
    # `[err]:` line without ` in tests/...`; the rest of that server block is skipped.
    block_errors=$(grep '^\[err\]' "$results" | grep -vc ' in tests/')
    # runtest's own --timeout (no progress for that long) prints `[TIMEOUT]`, kills the test
    # and still prints the failed-tests summary: the tests after it never ran.
    timed_out=$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -c '^\[TIMEOUT\]')
    if ! grep -qE 'All tests passed|following tests failed' "$log" || [[ $status -ne 0 && $failed -eq 0 ]] ||
        ((block_errors > 0 || timed_out > 0)); then
        aborted=yes
        aborted_units+=("$unit")
        if ((timed_out > 0)); then
            note="aborted: a test hung past runtest's --timeout (see $name.log)"
        elif grep -q '^\[exception\]' "$results"; then
            note="aborted: exception (see $name.log)"
        elif ((block_errors > 0)); then
            note="aborted: $block_errors exception(s) outside a test skipped the rest of their block"
        elif [[ $status -eq 124 || $status -eq 137 ]]; then
            note="aborted: unit timeout after ${unit_timeout}s"
        else
            note="aborted: runtest exit $status (see $name.log)"
        fi
        expected=$(baseline_total "$unit")
        if [[ -n $expected ]] && ((expected > passed + failed)); then
            not_run=$((expected - passed - failed))
            note+="; $not_run tests not reached counted as failed"
        else
            note+="; tests not reached are unknown (no --baseline) and not counted"
        fi
    fi
    failed=$((failed + not_run))
    total_passed=$((total_passed + passed))
    total_failed=$((total_failed + failed))
    printf '%-16s %7d %7d %8d  %s\n' "$unit" "$passed" "$failed" "$not_run" "$note"
    printf '%s\t%d\t%d\t%d\t%s\n' "$unit" "$passed" "$((failed - not_run))" "$not_run" "$aborted" >>"$summary"
done
total=$((total_passed + total_failed))
if ((total > 0)); then
    percent=$(awk -v p="$total_passed" -v t="$total" 'BEGIN { printf "%.1f", 100 * p / t }')
else
    percent=0.0
fi
printf '%-16s %7d %7d %8s  %s%% passed (%s)\n' total "$total_passed" "$total_failed" "" "$percent" "$target"
if [[ ${#aborted_units[@]} -gt 0 ]]; then
    echo "aborted units: ${aborted_units[*]}"
fi
echo "logs: $log_dir"
