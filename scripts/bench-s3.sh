#!/usr/bin/env bash
# S3 PUT/GET throughput and latency of 4 KiB, 1 MiB and 64 MiB objects: `strata dev` (3 core
# replicas, each write on a Raft quorum) beside s3s-fs (one process writing files to local disk:
# the no-replication ceiling), with the same load from strata-s3-bench (bench/). Prints a table
# for docs/benchmarks.md.
#
#   scripts/bench-s3.sh [options]
#
# Options:
#   --strata BIN         the strata binary (default: $STRATA_BIN, else built into $CARGO_TARGET_DIR);
#                        skipped, with a message, when it has no S3 API yet
#   --no-strata          benchmark s3s-fs only
#   --bench BIN          the strata-s3-bench binary (default: built into $CARGO_TARGET_DIR)
#   --endpoint URL --access-key K --secret-key S
#                        also benchmark an S3 server that is already running (row "endpoint")
#   --sizes "A B C"      object sizes (default "4KiB 1MiB 64MiB")
#   --concurrency N      requests in flight (default 8)
#   --duration SECS      per phase (PUT, then GET) and size (default 10)
#   --out DIR            raw TSV results and server logs (default: a temporary dir, removed)
#
# Each size writes at most `keys` distinct objects (PUTs cycle over them): 1024 x 4 KiB,
# 256 x 1 MiB, 16 x 64 MiB, so a run fills about 1.3 GiB per server (x3 for Strata's replicas).
# Servers get an empty temporary data directory and free ports, and are stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
repo_root=$PWD

strata_bin=${STRATA_BIN:-}
bench_bin=
with_strata=yes
extra_endpoint=
extra_access_key=
extra_secret_key=
sizes="4KiB 1MiB 64MiB"
concurrency=8
duration=10
out=

usage() { sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
    case $1 in
    --strata) strata_bin=$2; shift 2 ;;
    --no-strata) with_strata=no; shift ;;
    --bench) bench_bin=$2; shift 2 ;;
    --endpoint) extra_endpoint=$2; shift 2 ;;
    --access-key) extra_access_key=$2; shift 2 ;;
    --secret-key) extra_secret_key=$2; shift 2 ;;
    --sizes) sizes=$2; shift 2 ;;
    --concurrency) concurrency=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "unknown argument $1" >&2; usage >&2; exit 2 ;;
    esac
done
if [[ -n $extra_endpoint && (-z $extra_access_key || -z $extra_secret_key) ]]; then
    echo "--endpoint needs --access-key and --secret-key" >&2
    exit 2
fi

# shellcheck source=scripts/s3-common.sh
source "$repo_root/scripts/s3-common.sh"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/strata-target}"
build=()
if [[ -z $bench_bin ]]; then
    build+=(--bin strata-s3-bench)
    bench_bin=$CARGO_TARGET_DIR/release/strata-s3-bench
fi
if [[ $with_strata == yes && -z $strata_bin ]]; then
    ./scripts/install-deps.sh build
    build+=(--bin strata)
    strata_bin=$CARGO_TARGET_DIR/release/strata
fi
[[ ${#build[@]} -eq 0 ]] || cargo build --release --workspace "${build[@]}" >&2

if [[ -n $out ]]; then
    mkdir -p "$out"
    work=$(cd "$out" && pwd)
    keep_work=yes
else
    work=$(mktemp -d)
    keep_work=no
fi
cleanup() {
    s3_server_stop
    [[ $keep_work == yes ]] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Distinct objects per size: bounds what one size leaves on disk (see above).
keys_for() {
    case $1 in
    *GiB | *G | *MiB | *M)
        local n=${1%%[!0-9]*}
        if [[ $1 == *G* ]] || ((n >= 16)); then echo 16; else echo 256; fi
        ;;
    *) echo 1024 ;;
    esac
}

results=$work/results.tsv
printf 'server\tphase\tsize\tsize_bytes\tconcurrency\tops\terrors\tseconds\tops_per_s\tmib_per_s\tp50_ms\tp99_ms\tmax_ms\n' >"$results"

# Runs every size against the server in S3_ENDPOINT / S3_ACCESS_KEY / S3_SECRET_KEY.
bench_server() {
    local name=$1 size status
    for size in $sizes; do
        echo "$name: $size x$concurrency, ${duration}s PUT then ${duration}s GET ..." >&2
        status=0
        "$bench_bin" --endpoint "$S3_ENDPOINT" --region "$S3_REGION" --access-key "$S3_ACCESS_KEY" --secret-key "$S3_SECRET_KEY" \
            --bucket strata-s3-bench --size "$size" --concurrency "$concurrency" --duration "$duration" \
            --keys "$(keys_for "$size")" --tsv >"$work/$name-$size.tsv" 2>"$work/$name-$size.err" || status=$?
        if [[ $status -ne 0 ]]; then
            echo "  $name $size: strata-s3-bench exited $status: $(tail -n 3 "$work/$name-$size.err")" >&2
        fi
        tail -n +2 "$work/$name-$size.tsv" | sed "s/^/$name\t/" >>"$results"
    done
}

# Other work on the machine skews the numbers: say how busy it was.
load_at_start=$(cut -d' ' -f1-3 /proc/loadavg)
servers=()
s3s_fs_start "$work/s3s-fs.log"
servers+=(s3s-fs)
bench_server s3s-fs
s3_server_stop

strata_note=
if [[ $with_strata == yes ]]; then
    if [[ -z $(strata_s3_flag "$strata_bin") ]]; then
        strata_note="strata: skipped, $strata_bin has no S3 API yet (no --s3-port in 'strata dev --help')"
        echo "$strata_note" >&2
    elif strata_dev_start "$strata_bin" "$work/strata-dev.log"; then
        servers+=(strata)
        bench_server strata
        s3_server_stop
    else
        strata_note="strata: skipped, strata dev did not start (log: $work/strata-dev.log)"
        echo "$strata_note" >&2
    fi
fi

if [[ -n $extra_endpoint ]]; then
    S3_ENDPOINT=$extra_endpoint
    S3_REGION=us-east-1
    S3_ACCESS_KEY=$extra_access_key
    S3_SECRET_KEY=$extra_secret_key
    servers+=(endpoint)
    bench_server endpoint
fi

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
echo
echo "Date: $(date -u +%Y-%m-%d)  Machine: $(nproc) vCPU ($cpu), $(free -g | awk '/Mem:/{print $2}') GiB RAM," \
    "load average $load_at_start at start"
echo "Load: strata-s3-bench (aws-sdk-s3, path-style, checksums only where required), $concurrency requests in"
echo "flight, ${duration}s of PUT then ${duration}s of GET per size, random bytes, loopback"
echo "s3s-fs 0.14.1: one process, objects as files on local disk (no replication)"
[[ " ${servers[*]} " == *" strata "* ]] &&
    echo "strata: strata dev (3 core replicas + 1 gateway, each write fsynced on a Raft quorum)"
[[ -n $strata_note ]] && echo "$strata_note"
echo
# One row per size and operation, the servers side by side (the docs/benchmarks.md layout);
# "x/s3s-fs" is a server's MiB/s over s3s-fs's.
python3 - "$results" "$sizes" "${servers[@]}" <<'EOF'
import csv, sys
results, sizes, servers = sys.argv[1], sys.argv[2].split(), sys.argv[3:]
rows = {(r["server"], r["size"], r["phase"]): r for r in csv.DictReader(open(results), delimiter="\t")}
others = [s for s in servers if s != "s3s-fs"]
head = ["size", "op"] + [f"{s} MiB/s" for s in servers] + [f"{s}/s3s-fs" for s in others]
head += [f"{s} ops/s" for s in servers] + [f"{s} p50 ms" for s in servers] + [f"{s} p99 ms" for s in servers]
print("| " + " | ".join(head) + " |")
print("|" + "|".join(["---"] * 2 + ["---:"] * (len(head) - 2)) + "|")
def cell(server, size, phase, column):
    r = rows.get((server, size, phase))
    if r is None:
        return "failed"
    value = r[column]
    if column == "mib_per_s" and int(r["errors"]) > 0:
        value += f" ({r['errors']} errors)"
    return value
for size in sizes:
    for phase in ("PUT", "GET"):
        line = [size, phase] + [cell(s, size, phase, "mib_per_s") for s in servers]
        ceiling = rows.get(("s3s-fs", size, phase))
        for s in others:
            r = rows.get((s, size, phase))
            ok = r and ceiling and float(ceiling["mib_per_s"]) > 0
            line.append(f"{100 * float(r['mib_per_s']) / float(ceiling['mib_per_s']):.0f}%" if ok else "-")
        for column in ("ops_per_s", "p50_ms", "p99_ms"):
            line += [cell(s, size, phase, column) for s in servers]
        print("| " + " | ".join(line) + " |")
EOF
[[ $keep_work == yes ]] && echo && echo "raw results: $results"
exit 0
