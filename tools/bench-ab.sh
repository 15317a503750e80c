#!/usr/bin/env bash
# bench-ab.sh — two capstan builds, one workload set, alternating on fresh 3-member clusters.
#
# For a before/after check of a change (bench-compare.sh races Capstan against etcd instead):
# each round starts a fresh cluster of build A on loopback, runs the workloads, stops it, then
# the same with build B; it prints ops/s and the members' CPU-µs per operation per workload.
#
# Usage: tools/bench-ab.sh A_BINARY B_BINARY [ROUNDS]
# Environment: WORKLOADS (one `capstan bench` argument list per line; default: P1 puts, txn-put
#   and lease-keepalive as bench-compare.sh runs them), ETCDCTL (default: etcdctl on PATH),
#   BASE_PORT (default 19000, below the test ports: clients on BASE+1..3, peers on BASE+11..13).
set -euo pipefail
A=$1 B=$2 ROUNDS=${3:-2}
ETCDCTL="${ETCDCTL:-$(command -v etcdctl)}"
BASE=${BASE_PORT:-19000}
WORKLOADS="${WORKLOADS:-put --conns 100 --clients 1000 --total 50000 --val-size 256 --key-space-size 100000
txn-put --conns 10 --clients 100 --total 20000 --val-size 256 --key-space-size 100000
lease-keepalive --conns 10 --clients 100 --total 20000}"
WORK=$(mktemp -d /tmp/bench-ab.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

run() { # LABEL BINARY
  local label=$1 bin=$2 d="$WORK/$1-$RANDOM" cluster="" i eps
  mkdir -p "$d"
  for i in 1 2 3; do cluster="${cluster:+$cluster,}m$i=http://127.0.0.1:$((BASE + 10 + i))"; done
  PIDS=()
  for i in 1 2 3; do
    "$bin" store --name "m$i" --data-dir "$d/m$i" --listen-client-urls "http://127.0.0.1:$((BASE + i))" \
      --advertise-client-urls "http://127.0.0.1:$((BASE + i))" --listen-peer-urls "http://127.0.0.1:$((BASE + 10 + i))" \
      --initial-advertise-peer-urls "http://127.0.0.1:$((BASE + 10 + i))" --initial-cluster "$cluster" \
      --initial-cluster-token ab --initial-cluster-state new >"$d/m$i.log" 2>&1 </dev/null &
    PIDS+=($!)
  done
  eps="127.0.0.1:$((BASE + 1)),127.0.0.1:$((BASE + 2)),127.0.0.1:$((BASE + 3))"
  for _ in $(seq 1 60); do ETCDCTL_API=3 "$ETCDCTL" --endpoints "$eps" endpoint health >/dev/null 2>&1 && break; sleep 1; done
  while IFS= read -r w; do
    [ -n "$w" ] || continue
    # shellcheck disable=SC2086
    line=$("$bin" bench $w --endpoints "$eps" --server-pids "$(IFS=,; echo "${PIDS[*]}")" --json 2>/dev/null | tail -1)
    python3 -c 'import json,sys; j=json.loads(sys.argv[3]); print("%s %s: %.0f ops/s, %.1f server CPU-us/op, %d errors" % (sys.argv[1], sys.argv[2], j["throughput"], j["server_cpu_us_per_op"], j["errors"]))' \
      "$label" "${w%% *}" "$line"
  done <<<"$WORKLOADS"
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  PIDS=()
}

for r in $(seq 1 "$ROUNDS"); do
  echo "round $r"
  run A "$A"
  run B "$B"
done
