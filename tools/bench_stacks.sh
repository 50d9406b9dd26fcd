#!/usr/bin/env bash
# bench_stacks.sh - `traceq record --stacks` side by side with heaptrack (issues 7 and 16): CPU time, the memory each
# adds to the program (max RSS over the bare run's), and trace bytes per event (each trace's bytes over the calls the
# report counts, the same denominator for both), on the malloc storm (1 and 4 threads), sqlite3 building 1M rows,
# perl filling a hash of strings and a NumPy script (tests/bench/numpy_work.py). Runs alternate
# (traceq, heaptrack, traceq, ...); medians and min-max spread.
# Goals: CPU <= 0.25x heaptrack's; memory added <= heaptrack's (<= 5 MiB on perl); bytes/event <= heaptrack's.
# Usage: tools/bench_stacks.sh BUILD_DIR (run by tools/bench.sh)
set -euo pipefail
# shellcheck source=tools/bench_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"
bench_start "$0" "$@"
rounds=${TQ_BENCH_ROUNDS:-7}
storm=$build/bench/malloc_storm
sql="CREATE TABLE t(a INTEGER, b TEXT); WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c
     WHERE x < 1000000) INSERT INTO t SELECT x, hex(randomblob(16)) FROM c; CREATE INDEX tb ON t(b);
     SELECT count(*) FROM t;"
perl_code='my %h; for my $i (1..400000) { $h{"key$i"} = "v" x ($i % 40) . $i } my $n = 0;
           for my $k (keys %h) { $n += length($h{$k}) } my @a = sort keys %h; print "$n\n";'

echo
echo "== --stacks vs heaptrack: CPU (user+sys, children included), memory added, trace bytes per event"
echo "   $rounds alternating rounds; machine: $(uname -n), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
if ! command -v heaptrack >/dev/null 2>&1; then
    echo "(heaptrack is not installed: skipped; make deps installs it)"
    exit 0
fi

# the program of the current case, its name for traces, and the three ways to run it
prog=() name=""
tq() { rm -rf "$work/tq" && mkdir -p "$work/tq" && "$build/traceq" record -q --stacks -o "$work/tq" -- "${prog[@]}"; }
ht() { rm -rf "$work/ht" && mkdir -p "$work/ht" && heaptrack -o "$work/ht/rec" "${prog[@]}"; }

printf '%-14s %-20s %-20s %-9s %-18s %-10s %-10s %-8s\n' case "tq cpu" "heaptrack cpu" "cpu ratio" \
       "MiB added tq/ht" "tq B/ev" "ht B/ev" "B tq/ht"
bench_case() {
    name=$1
    shift
    prog=("$@")
    alternate "$rounds" tq tq ht ht
    # memory each adds to the program: GNU time's max RSS of the run over the bare run's (the largest process of the
    # run; heaptrack --raw leaves out heaptrack_interpret, a separate process that would otherwise be the largest)
    local bare_kib tq_kib ht_kib events tq_trace ht_file
    /usr/bin/time -f %M -o "$work/rss" "${prog[@]}" >/dev/null 2>&1 || true
    bare_kib=$(tail -1 "$work/rss")
    rm -rf "$work/tq" && mkdir -p "$work/tq"
    /usr/bin/time -f %M -o "$work/rss" "$build/traceq" record -q --stacks -o "$work/tq" -- "${prog[@]}" >/dev/null 2>&1
    tq_kib=$(tail -1 "$work/rss")
    tq_trace=$(ls -S "$work"/tq/traceq.*.tq | head -1)
    rm -rf "$work/ht" && mkdir -p "$work/ht"
    /usr/bin/time -f %M -o "$work/rss" heaptrack --raw -o "$work/ht/raw" "${prog[@]}" >/dev/null 2>&1 || true
    ht_kib=$(tail -1 "$work/rss")
    ht >/dev/null 2>&1
    ht_file=$(ls "$work"/ht/rec* | head -1)
    events=$("$build/traceq" report --json "$tq_trace" | awk -F': ' '/"calls_total"/{gsub(",","",$2); print $2; exit}')
    printf '%-14s %-20s %-20s %-9s %-18s %-10s %-10s %-8s\n' "$name" "$(median_spread "${CPU[tq]}")" \
           "$(median_spread "${CPU[ht]}")" "$(ratio "${ALT_CPU_MED[tq]}" "${ALT_CPU_MED[ht]}")" \
           "$(awk -v t="$tq_kib" -v b="$bare_kib" -v h="$ht_kib" 'BEGIN{printf "%.1f/%.1f", (t - b) / 1024, (h - b) / 1024}')" \
           "$(awk -v s="$(stat -c %s "$tq_trace")" -v c="$events" 'BEGIN{printf "%.3f", s / c}')" \
           "$(awk -v s="$(stat -c %s "$ht_file")" -v c="$events" 'BEGIN{printf "%.3f", s / c}')" \
           "$(ratio "$(stat -c %s "$tq_trace")" "$(stat -c %s "$ht_file")")"
}
bench_case "storm 1 thr" "$storm" 5000000 1
bench_case "storm 4 thr" "$storm" 5000000 4
command -v sqlite3 >/dev/null 2>&1 && bench_case "sqlite3 1M" sqlite3 :memory: "$sql"
bench_case "perl hash" perl -e "$perl_code"
bench_case "numpy script" /usr/bin/python3 "$root/tests/bench/numpy_work.py" 20000
echo "cpu ratio = traceq --stacks over heaptrack (goal <= 0.25x; heaptrack's CPU includes heaptrack_interpret)."
echo "MiB added: max RSS with --stacks (or heaptrack --raw) over the bare run's (goal: tq <= ht, <= 5 MiB on perl)."
echo "B/ev = trace bytes / calls (goal: tq <= ht); B tq/ht = the two files' sizes (traces/FORMAT.md 1.7)."
echo "Load average after this section: $(cut -d' ' -f1-3 /proc/loadavg)."
