#!/usr/bin/env bash
# benchmark-thresholds.sh {check|update} — the micro-benchmarks' regression guards.
#
#   check   runs the ordo-one/benchmark micro-benchmarks (Benchmarks/: RaftCommit, MVCCOps) in
#           release and compares each metric's p90 with the committed Benchmarks/Thresholds,
#           within the tolerances set in each benchmark's configuration (allocations 5 % or 2,
#           wall clock 35 %). Exit status 0: no regression; 2: a regression (the tool's codes).
#   update  measures again and rewrites Benchmarks/Thresholds (commit them with the reason).
#
# package-benchmark 1.38.1 writes threshold files with spaces in benchmark names turned into
# '_' but looks them up by the name with its spaces, so this script renames them after an
# update (benchmark names therefore contain no '_').
set -euo pipefail
cd "$(dirname "$0")/../Benchmarks"
targets=(--target MVCCOps --target RaftCommit)
case "${1:-}" in
  check)
    swift package --disable-sandbox benchmark thresholds check "${targets[@]}" --no-progress ;;
  update)
    rm -rf Thresholds
    swift package --disable-sandbox --allow-writing-to-package-directory benchmark thresholds update "${targets[@]}" --no-progress
    for f in Thresholds/*.p90.json; do
      module=${f#Thresholds/}; module=${module%%.*}
      name=${f#Thresholds/"$module".}; name=${name%.p90.json}
      [ "$name" = "${name//_/ }" ] || mv "$f" "Thresholds/$module.${name//_/ }.p90.json"
    done
    ls Thresholds ;;
  *) echo "usage: $0 {check|update}" >&2; exit 2 ;;
esac
