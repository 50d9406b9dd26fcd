#!/usr/bin/env bash
# demo.sh - `make demo`: profile a bundled example program with `traceq record` and print its report.
# Usage: tools/demo.sh BUILD_DIR   (traces go to ./traceq-demo/; older traces there are kept, never overwritten)
set -euo pipefail
build=${1:?usage: tools/demo.sh BUILD_DIR}
out=traceq-demo
mkdir -p "$out"

echo "== traceq demo: profiling tests/progs/touch256 (allocates and touches 256 MiB) and a fork"
list=$(mktemp)
trap 'rm -f "$list"' EXIT
"$build/traceq" record -o "$out" -- "$build/progs/touch256" >/dev/null 2>>"$list"
"$build/traceq" record -o "$out" -- "$build/progs/forker" fork >/dev/null 2>>"$list"
mapfile -t traces < <(sed -n 's/^  //p' "$list")
echo "== traces written to $out/:"
printf '   %s\n' "${traces[@]}"
echo
"$build/traceq" report "${traces[@]}"
