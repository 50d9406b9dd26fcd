#!/usr/bin/env bash
# bench_stacks.sh - `traceq record --stacks` side by side with heaptrack (issues 7 and 16): CPU time, the memory each
# adds to the program (max RSS over the bare run's), and trace bytes per event (each trace's bytes over the calls the
# report counts, the same denominator for both), on the malloc storm (1 and 4 threads), sqlite3 building 1M rows,
# perl filling a hash of strings and a NumPy script (tests/bench/numpy_work.py). Medians and min-max spread.
# Goals: CPU <= 0.25x heaptrack's; memory added <= heaptrack's (<= 5 MiB on perl); bytes/event <= heaptrack's.
#
# How the noise is kept out: the VM's two virtual CPUs may differ 1.4-1.5x in speed for minutes, so a single-CPU
# run's time depends on the CPU it lands on. In the cases that run on one CPU (everything but the 4-thread storm),
# traceq runs pinned, to CPU 0 and 1 in turn, and heaptrack unpinned after or before it (bench_lib.sh
# pinned_alternate; heaptrack is two processes joined by a pipe: pinned to one CPU, or run beside traceq, it pays
# 1.3-1.6x its CPU time in context switches, which would flatter the ratio). Each two rounds give one ratio, the
# geometric mean of the two traceq/heaptrack ratios (traceq's per-CPU factor cancels). On the 1-thread storm, traceq
# paired with itself (bench_lib.sh paired: at the same time, one on each CPU, swapped every round) is printed beside
# (A/A): its spread is the noise floor of the pinned traceq runs. The 4-thread storm uses both CPUs and alternates
# (traceq heaptrack traceq ...); a round's ratio is its traceq run over its heaptrack run.
# Usage: tools/bench_stacks.sh BUILD_DIR (run by tools/bench.sh); TQ_BENCH_ROUNDS (default 8) runs of each.
set -euo pipefail
# shellcheck source=tools/bench_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"
bench_start "$0" "$@"
rounds=${TQ_BENCH_ROUNDS:-8} # runs of each; the paired cases give a ratio per two rounds
storm=$build/bench/malloc_storm
sql="CREATE TABLE t(a INTEGER, b TEXT); WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c
     WHERE x < 1000000) INSERT INTO t SELECT x, hex(randomblob(16)) FROM c; CREATE INDEX tb ON t(b);
     SELECT count(*) FROM t;"
perl_code='my %h; for my $i (1..400000) { $h{"key$i"} = "v" x ($i % 40) . $i } my $n = 0;
           for my $k (keys %h) { $n += length($h{$k}) } my @a = sort keys %h; print "$n\n";'
pairs_ok=0
[[ $(taskset -c 0,1 true 2>/dev/null && echo y) = y && $(nproc) -ge 2 ]] && pairs_ok=1

echo
echo "== --stacks vs heaptrack: CPU (user+sys, children included), memory added, trace bytes per event"
echo "   $rounds runs of each; machine: $(uname -n), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
if ! command -v heaptrack >/dev/null 2>&1; then
    echo "(heaptrack is not installed: skipped; make deps installs it)"
    exit 0
fi

# the program of the current case, its name for traces, and the ways to run it: as shell text (for `paired`, which
# runs two at once: each gets its own output folder) and as functions (for `alternate`)
prog=() name=""
tq_cmd() { echo "rm -rf $work/$1 && mkdir -p $work/$1 && exec $build/traceq record -q --stacks -o $work/$1 -- $(printf '%q ' "${prog[@]}")"; }
ht_cmd() { echo "rm -rf $work/$1 && mkdir -p $work/$1 && exec heaptrack -o $work/$1/rec $(printf '%q ' "${prog[@]}")"; }
tq() { bash -c "$(tq_cmd tq)"; }
ht() { bash -c "$(ht_cmd ht)"; }

printf '%-13s %-21s %-21s %-7s %-30s %-21s %-16s %-8s %-8s %-7s\n' case "tq cpu" "heaptrack cpu" "tq/ht" \
       "ratio per pair/round" "A/A tq/tq (noise)" "MiB added tq/ht" "tq B/ev" "ht B/ev" "B tq/ht"
# bench_case NAME PAIRED(1/0) A_A(1/0) CMD...
bench_case() {
    name=$1
    local pair=$2 aa=$3 per noise="-" how
    shift 3
    prog=("$@")
    if [[ $pair = 1 && $pairs_ok = 1 ]]; then
        if [[ $aa = 1 ]]; then
            paired "$rounds" tq "$(tq_cmd tq)" tq2 "$(tq_cmd tq2)"
            noise=$(median_spread "${PAIR_RATIO[*]}")
        fi
        pinned_alternate "$rounds" tq "$(tq_cmd tq)" ht "$(ht_cmd ht)" # PAIR_RATIO: tq over ht
        per=$(median_spread "${PAIR_RATIO[*]}")
        how=pinned
    else
        alternate "$rounds" tq tq ht ht
        per=$(median_spread "$(ratios "${CPU[tq]}" "${CPU[ht]}")")
        how=rounds
    fi
    # memory each adds to the program: GNU time's max RSS of the run over the bare run's (the largest process of the
    # run). The shim is preloaded directly, as `traceq record --stacks` sets it up, so that the program is the only
    # process: under `traceq record` the recorder (8.6 MiB) is larger than the storm (3.9 MiB) and was measured
    # instead. heaptrack --raw leaves out heaptrack_interpret, a separate process that would otherwise be the largest.
    local bare_kib tq_kib ht_kib events tq_trace ht_file
    /usr/bin/time -f %M -o "$work/rss" "${prog[@]}" >/dev/null 2>&1 || true
    bare_kib=$(tail -1 "$work/rss")
    rm -rf "$work/tq" && mkdir -p "$work/tq"
    /usr/bin/time -f %M -o "$work/rss" env LD_PRELOAD="$build/libtraceq.so" TRACEQ_STACKS=1 \
        TRACEQ_OUTPUT_DIR="$work/tq" "${prog[@]}" >/dev/null 2>&1
    tq_kib=$(tail -1 "$work/rss")
    tq_trace=$(ls -S "$work"/tq/traceq.*.tq | head -1)
    rm -rf "$work/ht" && mkdir -p "$work/ht"
    /usr/bin/time -f %M -o "$work/rss" heaptrack --raw -o "$work/ht/raw" "${prog[@]}" >/dev/null 2>&1 || true
    ht_kib=$(tail -1 "$work/rss")
    ht >/dev/null 2>&1
    ht_file=$(ls "$work"/ht/rec* | head -1)
    events=$("$build/traceq" report --json "$tq_trace" | awk -F': ' '/"calls_total"/{gsub(",","",$2); print $2; exit}')
    printf '%-13s %-21s %-21s %-7s %-30s %-21s %-16s %-8s %-8s %-7s\n' "$name" "$(median_spread "${CPU[tq]}")" \
           "$(median_spread "${CPU[ht]}")" "$(ratio "$(median "${CPU[tq]}")" "$(median "${CPU[ht]}")")" \
           "$per ($how)" "$noise" \
           "$(awk -v t="$tq_kib" -v b="$bare_kib" -v h="$ht_kib" 'BEGIN{printf "%.1f/%.1f", (t - b) / 1024, (h - b) / 1024}')" \
           "$(awk -v s="$(stat -c %s "$tq_trace")" -v c="$events" 'BEGIN{printf "%.3f", s / c}')" \
           "$(awk -v s="$(stat -c %s "$ht_file")" -v c="$events" 'BEGIN{printf "%.3f", s / c}')" \
           "$(ratio "$(stat -c %s "$tq_trace")" "$(stat -c %s "$ht_file")")"
}
bench_case "storm 1 thr" 1 1 "$storm" 5000000 1
bench_case "storm 4 thr" 0 0 "$storm" 5000000 4
command -v sqlite3 >/dev/null 2>&1 && bench_case "sqlite3 1M" 1 0 sqlite3 :memory: "$sql"
bench_case "perl hash" 1 0 perl -e "$perl_code"
bench_case "numpy script" 1 0 /usr/bin/python3 "$root/tests/bench/numpy_work.py" 20000
echo "tq/ht = the medians' ratio, traceq --stacks over heaptrack (goal <= 0.25x; heaptrack's CPU includes"
echo "heaptrack_interpret). pinned: traceq pinned to CPU 0 and 1 in turn, heaptrack unpinned beside it; a ratio is the"
echo "geometric mean of tq/ht over two rounds. A/A: traceq and traceq at the same time, one on each CPU, swapped every"
echo "round (its spread is the noise floor). 4 threads (rounds): alternating runs; a round's ratio is tq over ht."
echo "MiB added: max RSS with --stacks (or heaptrack --raw) over the bare run's (goal: tq <= ht, <= 5 MiB on perl)."
echo "B/ev = trace bytes / calls (goal: tq <= ht); B tq/ht = the two files' sizes (traces/FORMAT.md 1.7)."
echo "Load average after this section: $(cut -d' ' -f1-3 /proc/loadavg)."
