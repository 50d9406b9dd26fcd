#!/usr/bin/env bash
# bench_stacks.sh - the malloc storm under `traceq record --stacks` side by side with heaptrack (issue 7):
# time ratio and trace bytes per call. Goal: <= 0.5x heaptrack's time, no more bytes per call than heaptrack.
# Usage: tools/bench_stacks.sh BUILD_DIR (run by tools/bench.sh)
set -euo pipefail
build=${1:?usage: tools/bench_stacks.sh BUILD_DIR}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# shellcheck source=tools/bench_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"
pairs=5000000

echo
echo "== --stacks vs heaptrack: malloc storm, $pairs malloc/free pairs (best of 3 each; CPU = user+sys incl. children)"
echo "   machine: $(uname -n), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
storm=$build/bench/malloc_storm
printf '%-8s %-16s %-16s %-16s %-12s %-12s %-10s %-10s\n' threads "bare wall/cpu" "stacks wall/cpu" \
       "heaptrack w/cpu" "cpu ratio" "wall ratio" "tq B/call" "ht B/call"
for threads in 1 4; do
    best_of 3 bare "$storm" "$pairs" "$threads"
    rm -rf "$work/tq" && mkdir -p "$work/tq"
    best_of 3 tq "$build/traceq" record -q --stacks -o "$work/tq" -- "$storm" "$pairs" "$threads"
    last=$(ls -t "$work"/tq/traceq.*.tq | head -1)
    calls=$("$build/traceq" report --json "$last" | awk -F': ' '/"calls_total"/{gsub(",","",$2); print $2; exit}')
    tq_bpc=$(awk -v s="$(stat -c %s "$last")" -v c="$calls" 'BEGIN{printf "%.2f", s / c}')
    read -r tw tc <<<"$tq"
    read -r bw bc <<<"$bare"
    if command -v heaptrack >/dev/null 2>&1; then
        rm -rf "$work/ht" && mkdir -p "$work/ht"
        best_of 3 ht heaptrack -o "$work/ht/storm" "$storm" "$pairs" "$threads"
        read -r hw hc <<<"$ht"
        f=$(ls -t "$work"/ht/storm* | head -1)
        ht_bpc=$(awk -v s="$(stat -c %s "$f")" -v c="$calls" 'BEGIN{printf "%.2f", s / c}')
        printf '%-8s %-16s %-16s %-16s %-12s %-12s %-10s %-10s\n' "$threads" "$bw/$bc" "$tw/$tc" "$hw/$hc" \
               "$(ratio "$tc" "$hc")" "$(ratio "$tw" "$hw")" "$tq_bpc" "$ht_bpc"
    else
        printf '%-8s %-16s %-16s %-16s %-12s %-12s %-10s %-10s\n' "$threads" "$bw/$bc" "$tw/$tc" skipped - - \
               "$tq_bpc" -
    fi
done
command -v heaptrack >/dev/null 2>&1 || echo "(heaptrack is not installed: its columns are skipped)"
echo "Ratios are traceq --stacks over heaptrack (goal <= 0.50x); B/call = trace bytes / calls (goal: tq <= ht)."
echo "heaptrack's CPU includes heaptrack_interpret (its second process); traceq compresses in-process."
