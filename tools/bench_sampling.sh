#!/usr/bin/env bash
# bench_sampling.sh - byte sampling (issue 15, goal 2): `record --stacks --sample-bytes 512K`
#  1. time against the bare malloc storm (5M malloc/free pairs) at 1 and 4 threads, alternating rounds: CPU and wall
#     ratios, median (min-max) of the per-round ratios. Goal <= 1.10x.
#  2. accuracy: tests/bench/site_storm (12 sites of ~2 GB each, block sizes 1 KB..256 KB) recorded exactly and
#     sampled; the top 10 sites' allocated bytes, estimate against exact. Goal: all within 5%. At 512 KiB a 2 GB
#     site gets ~4000 samples, a standard error of ~1.6%, so 5% is ~3 standard errors: a site far smaller than that
#     cannot meet 5% however good the estimator is (the sd column says how far each one is).
# Usage: tools/bench_sampling.sh BUILD_DIR (run by tools/bench.sh). BENCH_FULL=1: 7 rounds instead of 3.
set -euo pipefail
# shellcheck source=tools/bench_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"
bench_start "$0" "$@"
pairs=5000000
storm=$build/bench/malloc_storm

echo
echo "== sampling: record --stacks --sample-bytes 512K vs bare malloc storm, $pairs pairs ($rounds alternating rounds)"
echo "   machine: $(uname -n), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '  %-8s %-22s %-22s %-22s %-22s %s\n' threads "bare cpu s" "sampled cpu s" "cpu ratio" "wall ratio" "goal <= 1.10x"
for threads in 1 4; do
    bc="" bw="" sc="" sw=""
    for ((r = 0; r < rounds; r++)); do
        run_timed rt "$storm" "$pairs" "$threads"
        bw+="${rt% *} " bc+="${rt#* } "
        rm -rf "$work/s" && mkdir -p "$work/s"
        run_timed rt "$build/traceq" record -q --stacks --sample-bytes 512K -o "$work/s" -- "$storm" "$pairs" "$threads"
        sw+="${rt% *} " sc+="${rt#* } "
    done
    cr=$(median_spread "$(ratios "$sc" "$bc")")
    printf '  %-8s %-22s %-22s %-22s %-22s %s\n' "$threads" "$(median_spread "$bc")" "$(median_spread "$sc")" "$cr" \
           "$(median_spread "$(ratios "$sw" "$bw")")" "$(awk -v r="${cr%% *}" 'BEGIN{print (r <= 1.10 ? "met" : "NOT met")}')"
done
echo "   (ratios are the median of per-round ratios; CPU includes the shim's own threads)"

echo "accuracy: tests/bench/site_storm 2000 4 (12 sites x ~2 GB, 4 threads), exact --stacks vs --sample-bytes 512K"
mkdir -p "$work/exact" "$work/sampled"
"$build/traceq" record -q --stacks -o "$work/exact" -- "$build/bench/site_storm" 2000 4
"$build/traceq" record -q --stacks --sample-bytes 512K -o "$work/sampled" -- "$build/bench/site_storm" 2000 4
"$build/traceq" report --top 12 --json "$work"/exact/*.tq >"$work/exact.json"
"$build/traceq" report --top 12 --json "$work"/sampled/*.tq >"$work/sampled.json"
$compare sites "$work/exact.json" "$work/sampled.json" || true
echo "   trace bytes: exact $(du -cb "$work"/exact/*.tq | tail -1 | cut -f1), sampled $(du -cb "$work"/sampled/*.tq | tail -1 | cut -f1)"
