#!/bin/bash
# Leader-only vs follower reads (docs/follower-reads.md): one 3-node cluster and two
# gateways, one linearizable and one with --redis-max-staleness-ms 500; redis-benchmark GETs
# through each, CPU of every core process, reads served per replica, closed-ts lag.
# Usage: STRATA=target/release/strata N=100000 ./scripts/bench-follower-reads.sh
set -u
BIN=${STRATA:-target/release/strata}
D=$(mktemp -d)
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
P1=$(port); P2=$(port); P3=$(port)
PEERS="1=127.0.0.1:$P1,2=127.0.0.1:$P2,3=127.0.0.1:$P3"
PIDS=()
for i in 1 2 3; do
  eval P=\$P$i
  $BIN core --node-id $i --listen 127.0.0.1:$P --peers $PEERS --data-dir $D/n$i > $D/core$i.log 2>&1 &
  PIDS+=($!); eval CPID$i=$!
done
RA=$(port); RB=$(port)
$BIN gateway --core 127.0.0.1:$P1,127.0.0.1:$P2,127.0.0.1:$P3 --redis 127.0.0.1:$RA --grpc 127.0.0.1:$(port) --metrics 127.0.0.1:$(port) > $D/gwa.log 2>&1 & PIDS+=($!)
GBM=$(port)
$BIN gateway --core 127.0.0.1:$P1,127.0.0.1:$P2,127.0.0.1:$P3 --redis 127.0.0.1:$RB --grpc 127.0.0.1:$(port) --metrics 127.0.0.1:$GBM --redis-max-staleness-ms 500 > $D/gwb.log 2>&1 & PIDS+=($!)

for i in $(seq 1 120); do
  [ "$(redis-cli -p $RA SET __ready 1 2>/dev/null)" = OK ] && [ "$(redis-cli -p $RB SET __ready 1 2>/dev/null)" = OK ] && break; sleep 0.5
done
leader=""
for i in 1 2 3; do eval P=\$P$i; if curl -s 127.0.0.1:$P/metrics | grep 'raft_state{field="is_leader"' | grep 'range="1"' | grep -q ' 1$'; then leader=$i; fi; done
echo "leader of range 1: node $leader"
cpu() { awk '{print $14+$15}' /proc/$1/stat; }
redis-benchmark -p $RA -t set -n 20000 -r 10000 -c 50 -q > /dev/null
N=${N:-100000}
for mode in A B; do
  eval R=\$R$mode
  before=(); for i in 1 2 3; do eval p=\$CPID$i; before+=($(cpu $p)); done
  out=$(redis-benchmark -p $R -t get -n $N -r 10000 -c 50 -q | tr '\r' '\n' | grep -v '^$' | tail -1)
  line="mode $mode: $out ; cpu ticks per node:"
  for i in 1 2 3; do eval p=\$CPID$i; a=$(cpu $p); line="$line n$i=$((a - ${before[$((i-1))]}))"; done
  echo "$line"
done
for i in 1 2 3; do eval P=\$P$i; echo "node $i reads:"; curl -s 127.0.0.1:$P/metrics | grep -E '^strata_core_reads_total' ; done
for i in 1 2 3; do eval P=\$P$i; [ "$i" = "$leader" ] && continue; echo "node $i closed_ts_lag_ms:"; curl -s 127.0.0.1:$P/metrics | grep -E '^strata_core_closed_ts_lag_ms' ; done
curl -s 127.0.0.1:$GBM/metrics | grep -E '^strata_gateway_stale'
kill ${PIDS[@]}; wait 2>/dev/null; rm -rf $D
