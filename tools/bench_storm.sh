#!/usr/bin/env bash
# bench_storm.sh - the malloc-storm benchmark of libtraceq.so against a bare run and heaptrack (issue 3).
# Usage: tools/bench_storm.sh BUILD_DIR (run by tools/bench.sh)
set -euo pipefail
build=${1:?usage: tools/bench_storm.sh BUILD_DIR}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# shellcheck source=tools/bench_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"

echo "traceq benchmarks on $(uname -n): $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo)," \
     "load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "Times are wall and CPU (user+sys) seconds; ratios of CPU time are steadier on a shared machine."

# ---------------------------------------------------------------------------------------------------------
# Section: malloc storm (issue 3) - 5,000,000 malloc/free pairs, 1024 live pointers per thread, sizes 16..4111,
# split over 1 and 4 threads. Bare vs libtraceq.so (counters + 10 ms sampling) vs heaptrack. Goal: shim <= 1.15x.
# ---------------------------------------------------------------------------------------------------------
echo
echo "== malloc storm: 5,000,000 malloc/free pairs, 1024 live pointers/thread, sizes 16..4111 (best of 3; heaptrack 1 run)"
storm=$build/bench/malloc_storm
printf '%-8s %-18s %-26s %-26s %-14s %-14s\n' threads "bare wall/cpu" "shim wall/cpu (ratio cpu)" \
       "heaptrack wall/cpu (ratio)" "shim B/call" "heaptrack B/call"
for threads in 1 4; do
    best_of 3 bare "$storm" 5000000 "$threads"
    rm -rf "$work/shim" && mkdir -p "$work/shim"
    best_of 3 shim env LD_PRELOAD="$build/libtraceq.so" TRACEQ_OUTPUT_DIR="$work/shim" "$storm" 5000000 "$threads"
    # bytes per call of the last shim run: its trace size over its calls
    last=$(ls -t "$work"/shim/traceq.*.tq | head -1)
    calls=$("$build/traceq" report --json "$last" | awk -F': ' '/"calls_total"/{gsub(",","",$2); print $2; exit}')
    shim_bpc=$(awk -v s="$(stat -c %s "$last")" -v c="$calls" 'BEGIN{printf "%.4f", s / c}')
    read -r bw bc <<<"$bare"
    read -r sw sc <<<"$shim"
    ht_col="skipped" ht_bpc="-"
    if command -v heaptrack >/dev/null 2>&1; then
        rm -rf "$work/ht" && mkdir -p "$work/ht"
        run_timed ht heaptrack -o "$work/ht/storm" "$storm" 5000000 "$threads"
        read -r hw hc <<<"$ht"
        f=$(ls "$work"/ht/storm* 2>/dev/null | head -1 || true)
        [[ -n $f ]] && ht_bpc=$(awk -v s="$(stat -c %s "$f")" -v c="$calls" 'BEGIN{printf "%.3f", s / c}')
        ht_col="$hw/$hc ($(ratio "$hc" "$bc"))"
    fi
    printf '%-8s %-18s %-26s %-26s %-14s %-14s\n' "$threads" "$bw/$bc" "$sw/$sc ($(ratio "$sc" "$bc"))" "$ht_col" \
           "$shim_bpc" "$ht_bpc"
done
command -v heaptrack >/dev/null 2>&1 || echo "(heaptrack is not installed: its columns are skipped)"
echo "The shim's default mode writes samples and counters only (bytes/call is tiny); heaptrack records every event."
echo "CPU ratios include the shim's sampler thread; wall ratios depend on what else the machine runs."
