#!/usr/bin/env bash
# Fault-injection runs against a real multi-process cluster (see docs/jepsen.md).
#   scripts/jepsen.sh            short runs, as CI does: register, bank and s3-register, kill + partition, 30 s each
#   scripts/jepsen.sh --long     every workload under every nemesis, 120 s each (tens of minutes)
# Each run writes a directory under jepsen-runs/ (history, nemesis timeline, verdict, plot);
# the script fails if any run's history is invalid.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/strata-target}"
cargo build --release -p strata --bin strata -p strata-jepsen --bin strata-jepsen
JEPSEN="$CARGO_TARGET_DIR/release/strata-jepsen"
OUT="${JEPSEN_OUT:-jepsen-runs}/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$OUT"

if [ "${1:-}" = "--long" ]; then
  RUNS=(
    "register kill,pause,partition,clock,split,transfer,gateway-partition 120"
    "list-append kill,pause,partition,clock,split,transfer,gateway-partition 120"
    "bank kill,pause,partition,clock,split,transfer,gateway-partition 120"
    "register partition 120"
    "list-append partition,split 120"
    "bank kill,split 120"
    "s3-register kill,pause,partition,clock,split,transfer,gateway-partition,gateway-kill 120"
    "s3-register partition,split 120"
  )
else
  RUNS=("register kill,partition 30" "bank kill,partition 30" "s3-register kill,partition 30")
fi

failed=0
for run in "${RUNS[@]}"; do
  read -r workload nemesis seconds <<<"$run"
  dir="$OUT/$workload-${nemesis//,/-}"
  echo "== $workload under $nemesis for ${seconds}s -> $dir"
  if ! "$JEPSEN" run --workload "$workload" --nemesis "$nemesis" --time "$seconds" --out "$dir" 2>"$dir.log"; then
    failed=1
    echo "   FAILED (log: $dir.log)"
  fi
done
exit $failed
