#!/usr/bin/env bash
# check-format.sh - the tree formatted as .swift-format says (CI runs it; generated code aside).
#   tools/check-format.sh          fails, naming each file and line, where the format differs
#   tools/check-format.sh --fix    rewrites the files in place
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files --cached --others --exclude-standard -- 'Sources/*.swift' 'Tests/*.swift' 'Package.swift' \
  | grep -v -e '^Sources/Wire/EtcdProto/' -e '/Generated/' | while read -r f; do [ -f "$f" ] && echo "$f"; done)
if [ "${1:-}" = "--fix" ]; then
  swift format format --in-place --parallel "${files[@]}"
else
  swift format lint --strict --parallel "${files[@]}"
  echo "format: ${#files[@]} files as .swift-format says"
fi
