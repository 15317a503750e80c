#!/usr/bin/env bash
# Long simulation runs, outside CI: builds capstan in release and runs seeds in chunks,
# printing each chunk's summary as it finishes, stopping at the first failing chunk (whose
# report names the seed and the replay command), and ending with one total line.
#
#   tools/simulate-long.sh [FIRST_SEED] [LAST_SEED] [MEMBERS]
#   tools/simulate-long.sh 1 20000 3,5,7
set -euo pipefail
cd "$(dirname "$0")/.."

first=${1:-1}
last=${2:-10000}
members=${3:-3,5,7}
chunk=${CHUNK:-1000}
case "$first$last" in *[!0-9]*) echo "seeds must be numbers" >&2; exit 2 ;; esac
[ "$first" -le "$last" ] || { echo "first seed $first is after last seed $last" >&2; exit 2; }

swift build -c release --product capstan >/dev/null
capstan=.build/release/capstan
runs=0
start=$(date +%s)
low=$first
while [ "$low" -le "$last" ]; do
  high=$(( low + chunk - 1 )); [ "$high" -gt "$last" ] && high=$last
  if ! out=$("$capstan" simulate --seeds "$low-$high" --members "$members"); then
    echo "$out"
    echo "simulate-long: FAILED in seeds $low-$high (members $members) after $runs runs"
    exit 1
  fi
  echo "$out" | tail -n 1
  runs=$(( runs + (high - low + 1) * $(echo "$members" | tr ',' '\n' | wc -l) ))
  low=$(( high + 1 ))
done
echo "simulate-long: $runs runs, 0 failures, seeds $first-$last, members $members, $(( $(date +%s) - start )) s"
