#!/usr/bin/env bash
# bench_storm.sh - the malloc-storm benchmark of libtraceq.so (the counting shim) against a bare run, with heaptrack's
# figure beside it (issues 3 and 16). Goal: shim <= 1.05x bare in CPU time (user+sys), at 1 and 4 threads.
#
# How the noise is kept out (results/BENCH.md "Issue 16: hook cost, the benchmark's noise"): on the 2-vCPU VM one
# virtual CPU at a time ran the same bare program 1.4-1.5x slower than the other for minutes (its host core busy
# elsewhere; the guest sees no steal time and charges the lost time to the program), so a 1-thread run's time
# depended on the CPU it landed on. The 1-thread runs are therefore paired: bare and shim run at the same time,
# pinned one to each CPU, swapped every round, and each two rounds give one ratio (the geometric mean of the two
# shim/bare ratios, which cancels a per-CPU factor). The same pairing of bare against bare (A/A) is printed beside:
# its spread is this run's noise floor. The 4-thread runs use both CPUs each and alternate (bare shim bare shim).
# When allowed (root), runs are at nice -20, so the machine's other work hardly shares their CPU.
# Usage: tools/bench_storm.sh BUILD_DIR (run by tools/bench.sh)
set -euo pipefail
# shellcheck source=tools/bench_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"
bench_start "$0" "$@"
rounds=${TQ_BENCH_ROUNDS:-14} # runs of each; the 1-thread pairs are two rounds each (>= 7 ratios)
ht_runs=3                     # heaptrack is slow: its anchor figure is the median of fewer runs
pairs=5000000
prio=$(priority_prefix)

echo "traceq benchmarks on $(uname -n): $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo)," \
     "load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "Times are CPU seconds (user+sys, children included): median (min-max)${prio:+; runs at raised priority ($prio)}."

# ---------------------------------------------------------------------------------------------------------
# Section: malloc storm - 5,000,000 malloc/free pairs, 1024 live pointers per thread, sizes 16..4111, split over 1
# and 4 threads. Bare vs libtraceq.so (counters + 10 ms sampling) vs heaptrack.
# ---------------------------------------------------------------------------------------------------------
echo
echo "== malloc storm: $pairs malloc/free pairs, 1024 live pointers/thread, sizes 16..4111; $rounds runs of each"
storm=$build/bench/malloc_storm
# bare and shim run the program only: the shim's output folder is made before each section (a `rm -rf` and `mkdir`
# inside would add their own CPU to the shim's side, about 1% of a run; heaptrack's 7 s hardly notice it). Both go
# through `env`, so that LD_PRELOAD reaches the program and not nice or taskset.
bare_cmd() { echo "exec $prio env $storm $pairs $1"; }
shim_cmd() { echo "exec $prio env LD_PRELOAD=$build/libtraceq.so TRACEQ_OUTPUT_DIR=$work/shim $storm $pairs $1"; }
bare() { bash -c "$(bare_cmd "$threads")"; }
shim() { bash -c "$(shim_cmd "$threads")"; }
ht() { rm -rf "$work/ht" && mkdir -p "$work/ht" && heaptrack -o "$work/ht/storm" "$storm" "$pairs" "$threads"; }
pairs_ok=0
[[ $(taskset -c 0,1 true 2>/dev/null && echo y) = y && $(nproc) -ge 2 ]] && pairs_ok=1
printf '%-8s %-22s %-22s %-10s %-24s %-24s %-22s %-8s\n' threads "bare cpu" "shim cpu" "shim/bare" \
       "ratio per pair/round" "A/A bare/bare (noise)" "heaptrack cpu" "ht/bare"
for threads in 1 4; do
    rm -rf "$work/shim" && mkdir -p "$work/shim"
    if [[ $threads = 1 && $pairs_ok = 1 ]]; then
        paired "$rounds" bare "$(bare_cmd 1)" shim "$(shim_cmd 1)"
        per=$(median_spread "${PAIR_RATIO[*]}")
        bare_cpus=${CPU[bare]} shim_cpus=${CPU[shim]}
        paired "$rounds" bare "$(bare_cmd 1)" bare2 "$(bare_cmd 1)"
        noise=$(median_spread "${PAIR_RATIO[*]}")
        CPU[bare]=$bare_cpus CPU[shim]=$shim_cpus
        how="pairs"
    else
        alternate "$rounds" bare bare shim shim
        per=$(median_spread "$(ratios "${CPU[shim]}" "${CPU[bare]}")")
        noise="-"
        how="rounds"
    fi
    ht_cpu="skipped" ht_ratio="-"
    if command -v heaptrack >/dev/null 2>&1; then
        alternate "$ht_runs" ht ht
        ht_cpu=$(median_spread "${CPU[ht]}")
        ht_ratio=$(ratio "$(median "${CPU[ht]}")" "$(median "${CPU[bare]}")")
    fi
    printf '%-8s %-22s %-22s %-10s %-24s %-24s %-22s %-8s\n' "$threads" "$(median_spread "${CPU[bare]}")" \
           "$(median_spread "${CPU[shim]}")" "$(ratio "$(median "${CPU[shim]}")" "$(median "${CPU[bare]}")")" \
           "$per ($how)" "$noise" "$ht_cpu" "$ht_ratio"
done
command -v heaptrack >/dev/null 2>&1 || echo "(heaptrack is not installed: its columns are skipped)"
echo "Goal: shim/bare <= 1.05x at 1 and 4 threads (heaptrack records every event: its ratio is the anchor)."
echo "1 thread: bare and shim at the same time, one on each CPU, swapped every round; a pair's ratio is the geometric"
echo "mean of shim/bare over its two rounds; A/A pairs bare with bare the same way (its spread is the noise)."
echo "4 threads: alternating runs (bare shim bare shim ...); a round's ratio is its shim run over its bare run."
echo "The shim's CPU includes its sampler thread (a /proc/self/statm read every 10 ms); load average after this"
echo "section: $(cut -d' ' -f1-3 /proc/loadavg)."
