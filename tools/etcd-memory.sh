#!/usr/bin/env bash
# etcd-memory.sh - resident memory of a real etcd member holding N keys, to set beside
# `MVCCMemory` (Benchmarks/) for the same data: keys /registry/pods/ns-(i%100)/pod-i, values of
# VALUE_BYTES bytes. One member on 127.0.0.1, its data in a temporary directory removed at exit.
# Needs Debian's etcd-server and python3 with the etcd3 package (pip install etcd3).
#   tools/etcd-memory.sh [KEYS] [VALUE_BYTES]
set -euo pipefail
KEYS="${1:-1000000}"
VALUE_BYTES="${2:-256}"
PORT="${PORT:-24791}"
DIR="$(mktemp -d /tmp/etcd-memory.XXXXXX)"
etcd --name m --data-dir "$DIR/data" --listen-client-urls "http://127.0.0.1:$PORT" \
  --advertise-client-urls "http://127.0.0.1:$PORT" --listen-peer-urls "http://127.0.0.1:$((PORT + 1))" \
  --initial-advertise-peer-urls "http://127.0.0.1:$((PORT + 1))" --initial-cluster "m=http://127.0.0.1:$((PORT + 1))" \
  --quota-backend-bytes $((8 * 1024 * 1024 * 1024)) --log-outputs "$DIR/etcd.log" --logger zap >/dev/null 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DIR"' EXIT
rss() { awk '/VmRSS/ {print $2 * 1024}' "/proc/$PID/status"; }
for _ in $(seq 50); do ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$PORT" endpoint health >/dev/null 2>&1 && break; sleep 0.2; done
BEFORE=$(rss)
PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python python3 - "$PORT" "$KEYS" "$VALUE_BYTES" <<'PY'
import sys, etcd3
port, keys, value_bytes = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
c = etcd3.client(host="127.0.0.1", port=port)
value = b"a" * value_bytes
batch = 100
for start in range(0, keys, batch):
    c.transaction(compare=[], success=[c.transactions.put("/registry/pods/ns-%d/pod-%d" % (i % 100, i), value)
                                       for i in range(start, min(start + batch, keys))], failure=[])
PY
sleep 2
AFTER=$(rss)
DB=$(ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$PORT" endpoint status -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Status"]["dbSize"])')
echo "etcd $(etcd --version | head -1 | awk '{print $3}'): $KEYS keys x $VALUE_BYTES B values"
echo "  RSS before loading $((BEFORE / 1000000)) MB, after $((AFTER / 1000000)) MB: $(((AFTER - BEFORE) / KEYS)) B per key; database file $((DB / 1000000)) MB"
