#!/usr/bin/env bash
# bench-compare.sh — races Capstan against a real etcd 3.4 on this machine, side by side.
#
# Starts a 3-member etcd (Debian's etcd-server) and a 3-member Capstan on loopback, runs each
# workload of `capstan bench` against one and then the other, back to back, and prints a table:
# workload, figure, etcd, Capstan, ratio, and the servers' CPU-µs per operation. Then runs
# `etcdctl check perf` at increasing loads against both.
#
# Usage: tools/bench-compare.sh [--quick] [--no-check-perf] [--loads "s m l"] [--out FILE]
#   --quick          smaller totals (a minute or two; for trying the script, not for figures)
#   --no-check-perf  skip `etcdctl check perf` (60 s per load per side)
#   --out FILE       also append the table (markdown) to FILE
#   --keys N         then load N keys of 256 B into each (P6: RSS holding them, after compaction;
#                    P7: seconds until a restarted member serves a read). PERFORMANCE.md: 1000000
# Environment: CAPSTAN (a capstan binary; default: builds .build/release/capstan),
#   ETCD (default: etcd on PATH), ETCDCTL (default: etcdctl on PATH), WORK (default: a temp dir).
# Needs: apt-get install -y etcd-server etcd-client liblz4-dev pkg-config python3
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
QUICK=0 CHECK_PERF=1 LOADS="s m l" OUT="" KEYS=0
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --no-check-perf) CHECK_PERF=0 ;;
    --loads) LOADS="$2"; shift ;;
    --out) OUT="$2"; shift ;;
    --keys) KEYS="$2"; shift ;;
    *) echo "unknown argument: $1 (see the header of $0)" >&2; exit 2 ;;
  esac
  shift
done

ETCD="${ETCD:-$(command -v etcd || true)}"
ETCDCTL="${ETCDCTL:-$(command -v etcdctl || true)}"
[ -x "$ETCD" ] && [ -x "$ETCDCTL" ] || { echo "etcd and etcdctl are needed: apt-get install -y etcd-server etcd-client" >&2; exit 2; }
command -v python3 >/dev/null || { echo "python3 is needed (it prints the table)" >&2; exit 2; }
if [ -z "${CAPSTAN:-}" ]; then
  echo "building capstan (release; about 17 minutes cold on 2 cores)..." >&2
  (cd "$ROOT" && swift build -c release --product capstan >&2)
  CAPSTAN="$ROOT/.build/release/capstan"
fi
WORK="${WORK:-$(mktemp -d /tmp/bench-compare.XXXXXX)}"
mkdir -p "$WORK"
RESULTS="$WORK/results.jsonl"
: > "$RESULTS"

# start_member NAME BASEPORT I STATE CMD... — member I of cluster NAME on 127.0.0.1: client port
# BASEPORT+I, peer port BASEPORT+10+I, data and log in $WORK/NAME; its pid goes to $WORK/NAME/pid.I.
start_member() {
  local name=$1 base=$2 i=$3 state=$4; shift 4
  local dir="$WORK/$name" cluster="" j
  for j in 1 2 3; do cluster="${cluster:+$cluster,}m$j=http://127.0.0.1:$((base + 10 + j))"; done
  "$@" --name "m$i" --data-dir "$dir/m$i.etcd" \
    --listen-client-urls "http://127.0.0.1:$((base + i))" --advertise-client-urls "http://127.0.0.1:$((base + i))" \
    --listen-peer-urls "http://127.0.0.1:$((base + 10 + i))" --initial-advertise-peer-urls "http://127.0.0.1:$((base + 10 + i))" \
    --initial-cluster "$cluster" --initial-cluster-token "bench-$name" --initial-cluster-state "$state" \
    >>"$dir/m$i.log" 2>&1 </dev/null &
  echo $! > "$dir/pid.$i"
}

# start_cluster NAME BASEPORT CMD... — three members; waits until the cluster is healthy.
start_cluster() {
  local name=$1 base=$2; shift 2
  mkdir -p "$WORK/$name"
  for i in 1 2 3; do start_member "$name" "$base" "$i" new "$@"; done
  local eps="127.0.0.1:$((base + 1)),127.0.0.1:$((base + 2)),127.0.0.1:$((base + 3))" t
  for t in $(seq 1 60); do
    if ETCDCTL_API=3 "$ETCDCTL" --endpoints "$eps" --command-timeout=3s endpoint health >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  echo "$name did not become healthy; logs in $WORK/$name" >&2
  return 1
}

pids() { cat "$WORK/$1"/pid.? 2>/dev/null; }

stop_pid() {
  kill -TERM "$1" 2>/dev/null || return 0
  for _ in $(seq 1 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
}

stop_clusters() {
  local f
  for f in "$WORK"/*/pid.?; do
    [ -f "$f" ] || continue
    stop_pid "$(cat "$f")"
    rm -f "$f"
  done
}
# On exit: the members stop and their data goes (about 5 GB a run with --keys 1000000: runs
# left in /tmp filled this machine's disk); the results and logs stay. KEEP_DATA=1 keeps it.
finish() {
  stop_clusters
  [ "${KEEP_DATA:-0}" = 1 ] || rm -rf "$WORK"/*/m?.etcd
}
trap finish EXIT

ETCD_EPS="127.0.0.1:24001,127.0.0.1:24002,127.0.0.1:24003"
CAPSTAN_EPS="127.0.0.1:25001,127.0.0.1:25002,127.0.0.1:25003"
echo "starting etcd ($("$ETCD" --version | head -1)) and capstan, 3 members each, in $WORK" >&2
ETCD_CMD=("$ETCD" --logger zap --log-outputs stderr)
CAPSTAN_CMD=("$CAPSTAN" store)
start_cluster etcd 24000 "${ETCD_CMD[@]}"
start_cluster capstan 25000 "${CAPSTAN_CMD[@]}"

eps_of() { if [ "$1" = etcd ]; then echo "$ETCD_EPS"; else echo "$CAPSTAN_EPS"; fi; }

# run_bench LABEL SIDE ARGS... — one workload against one side; records its JSON line, labelled.
run_bench() {
  local label=$1 side=$2; shift 2
  local eps line
  eps=$(eps_of "$side")
  echo "== $label on $side: capstan bench $* --endpoints $eps" >&2
  line=$("$CAPSTAN" bench "$@" --endpoints "$eps" --server-pids "$(pids "$side" | paste -sd,)" --json | tee -a "$WORK/bench.log" | tail -1)
  echo "$line" >&2
  python3 -c 'import json,sys; d=json.loads(sys.argv[3]); d["label"]=sys.argv[1]; d["side"]=sys.argv[2]; print(json.dumps(d))' \
    "$label" "$side" "$line" >> "$RESULTS"
}

# bench LABEL ARGS... — runs one workload against etcd, then Capstan.
bench() {
  local label=$1 side; shift
  for side in etcd capstan; do run_bench "$label" "$side" "$@"; done
}

# rss_of SIDE — the three members' resident memory in bytes, summed.
rss_of() {
  local rss=0 pid
  for pid in $(pids "$1"); do rss=$((rss + $(awk '/VmRSS/{print $2}' "/proc/$pid/status") * 1024)); done
  echo "$rss"
}

record() {  # record LABEL SIDE WORKLOAD KEY VALUE
  echo "{\"label\": \"$1\", \"side\": \"$2\", \"workload\": \"$3\", \"$4\": $5}" >> "$RESULTS"
}

if [ "$QUICK" = 1 ]; then N=1; else N=10; fi
bench "put, 1 client (P2)"            put --conns 1 --clients 1 --total $((300 * N)) --val-size 256 --key-space-size 100000
bench "put, 1000 clients (P1)"        put --conns 100 --clients 1000 --total $((5000 * N)) --val-size 256 --key-space-size 100000
bench "range l, 1000 clients (P3)"    range 00000001 --conns 100 --clients 1000 --total $((5000 * N)) --consistency l
bench "range s, 1000 clients (P3)"    range 00000001 --conns 100 --clients 1000 --total $((5000 * N)) --consistency s
bench "txn-put, 100 clients"          txn-put --conns 10 --clients 100 --total $((2000 * N)) --val-size 256 --key-space-size 100000
bench "lease-keepalive, 100 clients"  lease-keepalive --conns 10 --clients 100 --total $((2000 * N))
# etcd's fan-out CPU for this burst spreads over a factor of five between runs on one machine
# (docs/benchmarks.md): five runs per side, alternating, and the table shows the medians.
for _ in 1 2 3 4 5; do
  bench "watch 10k/100 streams (P4)"  watch --conns 10 --clients 10 --watchers 10000 --streams 100 --put-total $((10 * N))
done
bench "watch-latency 10k, 10 puts/s (P4)" watch-latency --conns 10 --clients 10 --watchers 10000 --streams 100 --put-total $((5 * N)) --put-rate 10

# RSS after the workloads (P6 needs 1M keys: see docs/benchmarks.md for that run).
for side in etcd capstan; do record "RSS of 3 members after the workloads" "$side" rss server_rss_bytes "$(rss_of "$side")"; done

if [ "$KEYS" -gt 0 ]; then
  last=$(printf %08d $((KEYS - 1)))
  for side in etcd capstan; do
    eps=$(eps_of "$side")
    if [ "$side" = etcd ]; then base=24000 cmd=("${ETCD_CMD[@]}"); else base=25000 cmd=("${CAPSTAN_CMD[@]}"); fi
    run_bench "put $KEYS keys of 256 B, 1000 clients" "$side" put --conns 100 --clients 1000 \
      --total "$KEYS" --sequential-keys --key-space-size "$KEYS" --val-size 256
    rev=$(ETCDCTL_API=3 "$ETCDCTL" --endpoints "${eps%%,*}" endpoint status -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Status"]["header"]["revision"])')
    ETCDCTL_API=3 "$ETCDCTL" --endpoints "$eps" --command-timeout=600s compact "$rev" --physical >&2
    ETCDCTL_API=3 "$ETCDCTL" --endpoints "$eps" --command-timeout=600s defrag >&2
    sleep 3
    record "RSS of 3 members holding $KEYS keys (compacted) (P6)" "$side" rss server_rss_bytes "$(rss_of "$side")"
    # P7: member 3 stops and starts again; how long until it serves a read.
    stop_pid "$(cat "$WORK/$side/pid.3")"
    t0=$(date +%s.%N)
    start_member "$side" "$base" 3 existing "${cmd[@]}"
    # Wait for the port first: etcdctl against a closed port backs off for its whole dial timeout.
    until (exec 3<>"/dev/tcp/127.0.0.1/$((base + 3))") 2>/dev/null; do sleep 0.01; done
    until ETCDCTL_API=3 "$ETCDCTL" --endpoints "127.0.0.1:$((base + 3))" --dial-timeout 1s --command-timeout 1s \
        get "$last" --consistency s --print-value-only 2>/dev/null | grep -q .; do
      sleep 0.02
      if awk "BEGIN { exit !($(date +%s.%N) - $t0 > 120) }"; then echo "$side member 3 did not serve within 120 s" >&2; break; fi
    done
    record "restart holding $KEYS keys: seconds until a read is served (P7)" "$side" seconds seconds "$(awk "BEGIN { printf \"%.3f\", $(date +%s.%N) - $t0 }")"
  done
fi

if [ "$CHECK_PERF" = 1 ]; then
  for load in $LOADS; do
    for side in etcd capstan; do
      eps=$(eps_of "$side")
      echo "== etcdctl check perf --load=$load on $side" >&2
      ETCDCTL_API=3 "$ETCDCTL" --endpoints "$eps" check perf --load="$load" > "$WORK/check-perf-$load-$side.txt" 2>&1 || true
      out=$(tr '\r' '\n' < "$WORK/check-perf-$load-$side.txt" | grep -oE "(PASS|FAIL)(: .*)?$|(Slowest request took too long|Stddev too high): .*$" || true)
      echo "$out" >&2
      python3 -c 'import json,sys; print(json.dumps({"label": "etcdctl check perf --load="+sys.argv[1], "side": sys.argv[2], "workload": "check-perf", "check": sys.argv[3]}))' \
        "$load" "$side" "$out" >> "$RESULTS"
    done
  done
fi

python3 "$ROOT/tools/bench-table.py" "$RESULTS" | tee -a "${OUT:-/dev/null}"
echo "(raw results: $RESULTS; bench output: $WORK/bench.log)" >&2
