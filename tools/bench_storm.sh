#!/usr/bin/env bash
# bench_storm.sh - the malloc-storm benchmark of libtraceq.so (the counting shim) against a bare run, with heaptrack's
# figure beside it (issues 3 and 16). Bare and shim runs alternate (bare shim bare shim ...) so that a shared machine's
# load falls on both alike; medians of CPU time (user+sys) with their min-max spread. Goal: shim <= 1.05x bare.
# Usage: tools/bench_storm.sh BUILD_DIR (run by tools/bench.sh)
set -euo pipefail
# shellcheck source=tools/bench_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"
bench_start "$0" "$@"
rounds=${TQ_BENCH_ROUNDS:-9} # alternating rounds of bare and shim (>= 7)
ht_runs=3                    # heaptrack is slow: its anchor figure is the median of fewer runs
pairs=5000000

echo "traceq benchmarks on $(uname -n): $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo)," \
     "load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "Times are CPU seconds (user+sys, children included): median (min-max) of alternating runs."

# ---------------------------------------------------------------------------------------------------------
# Section: malloc storm - 5,000,000 malloc/free pairs, 1024 live pointers per thread, sizes 16..4111, split over 1
# and 4 threads. Bare vs libtraceq.so (counters + 10 ms sampling) vs heaptrack.
# ---------------------------------------------------------------------------------------------------------
echo
echo "== malloc storm: $pairs malloc/free pairs, 1024 live pointers/thread, sizes 16..4111; $rounds alternating rounds"
storm=$build/bench/malloc_storm
# bare and shim run the program only: the shim's output folder is made before each section (a `rm -rf` and `mkdir`
# inside would add their own CPU to the shim's side, about 1% of a run; heaptrack's 7 s hardly notice it).
bare() { "$storm" "$pairs" "$threads"; }
shim() { LD_PRELOAD="$build/libtraceq.so" TRACEQ_OUTPUT_DIR="$work/shim" "$storm" "$pairs" "$threads"; }
ht() { rm -rf "$work/ht" && mkdir -p "$work/ht" && heaptrack -o "$work/ht/storm" "$storm" "$pairs" "$threads"; }
printf '%-8s %-22s %-22s %-10s %-22s %-22s %-10s\n' threads "bare cpu" "shim cpu" "shim/bare" "per-round shim/bare" \
       "heaptrack cpu" "ht/bare"
for threads in 1 4; do
    rm -rf "$work/shim" && mkdir -p "$work/shim"
    alternate "$rounds" bare bare shim shim
    ht_cpu="skipped" ht_ratio="-"
    if command -v heaptrack >/dev/null 2>&1; then
        alternate "$ht_runs" ht ht
        ht_cpu=$(median_spread "${CPU[ht]}")
        ht_ratio=$(ratio "${ALT_CPU_MED[ht]}" "${ALT_CPU_MED[bare]}")
    fi
    printf '%-8s %-22s %-22s %-10s %-22s %-22s %-10s\n' "$threads" "$(median_spread "${CPU[bare]}")" \
           "$(median_spread "${CPU[shim]}")" "$(ratio "${ALT_CPU_MED[shim]}" "${ALT_CPU_MED[bare]}")" \
           "$(median_spread "$(ratios "${CPU[shim]}" "${CPU[bare]}")")" "$ht_cpu" "$ht_ratio"
done
command -v heaptrack >/dev/null 2>&1 || echo "(heaptrack is not installed: its columns are skipped)"
echo "Goal: shim/bare <= 1.05x at 1 and 4 threads (heaptrack records every event: its ratio is the anchor)."
echo "per-round: the ratio of each round's shim run to the bare run next to it, median (min-max)."
echo "The shim's CPU includes its sampler thread (a /proc/self/statm read every 10 ms), so a loaded machine, which"
echo "stretches the wall time, raises the ratio; load average after this section: $(cut -d' ' -f1-3 /proc/loadavg)."
