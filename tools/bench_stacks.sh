#!/usr/bin/env bash
# bench_stacks.sh - `traceq record --stacks` side by side with heaptrack (issues 7 and 16): CPU time, the memory each
# adds to the program (VmHWM over the counting shim's run, which has no per-block state), and trace bytes per event,
# on the malloc storm (1 and 4 threads), sqlite3 building 1M rows and perl filling a hash of strings. Runs alternate
# (traceq, heaptrack, traceq, ...); medians and min-max spread.
# Goals: CPU <= 0.25x heaptrack's; memory added <= heaptrack's (<= 5 MiB on perl); bytes/event <= heaptrack's.
# Usage: tools/bench_stacks.sh BUILD_DIR (run by tools/bench.sh)
set -euo pipefail
build=${1:?usage: tools/bench_stacks.sh BUILD_DIR}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# shellcheck source=tools/bench_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"
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
hwm_kib() { "$build/traceq" report --json "$1" | awk -F': ' '/"vm_hwm"/{gsub(",","",$2); print int($2 / 1024); exit}'; }

printf '%-14s %-20s %-20s %-9s %-18s %-10s %-10s\n' case "tq cpu" "heaptrack cpu" "cpu ratio" \
       "MiB added tq/ht" "tq B/ev" "ht B/ev"
bench_case() {
    name=$1
    shift
    prog=("$@")
    alternate "$rounds" tq tq ht ht
    # memory: the counting shim's VmHWM is the program's own (it holds nothing per block); --stacks' and heaptrack's
    # runs are measured the same way (heaptrack's with GNU time: its trace has no VmHWM of the program)
    rm -rf "$work/base" && mkdir -p "$work/base"
    "$build/traceq" record -q -o "$work/base" -- "${prog[@]}" >/dev/null 2>&1
    local base_kib tq_kib ht_kib events tq_trace ht_file
    base_kib=$(hwm_kib "$(ls "$work"/base/traceq.*.tq | head -1)")
    tq >/dev/null 2>&1
    tq_trace=$(ls -S "$work"/tq/traceq.*.tq | head -1)
    tq_kib=$(hwm_kib "$tq_trace")
    /usr/bin/time -f %M -o "$work/ht_rss" heaptrack -o "$work/ht/rec" "${prog[@]}" >/dev/null 2>&1 || true
    rm -rf "$work/ht" && mkdir -p "$work/ht"
    ht >/dev/null 2>&1
    ht_file=$(ls "$work"/ht/rec* | head -1)
    /usr/bin/time -f %M -o "$work/bare_rss" "${prog[@]}" >/dev/null 2>&1 || true
    # heaptrack's addition: GNU time's max RSS of the heaptrack'ed program over the bare one (the preload library's
    # own buffers; heaptrack_interpret is a separate process)
    ht_kib=$(awk -v h="$(tail -1 "$work/ht_rss")" -v b="$(tail -1 "$work/bare_rss")" 'BEGIN{print h - b}')
    events=$("$build/traceq" report --json "$tq_trace" | awk -F': ' '/"calls_total"/{gsub(",","",$2); print $2; exit}')
    printf '%-14s %-20s %-20s %-9s %-18s %-10s %-10s\n' "$name" "$(median_spread "${CPU[tq]}")" \
           "$(median_spread "${CPU[ht]}")" "$(ratio "${ALT_CPU_MED[tq]}" "${ALT_CPU_MED[ht]}")" \
           "$(awk -v t="$tq_kib" -v b="$base_kib" -v h="$ht_kib" 'BEGIN{printf "%.1f/%.1f", (t - b) / 1024, h / 1024}')" \
           "$(awk -v s="$(stat -c %s "$tq_trace")" -v c="$events" 'BEGIN{printf "%.3f", s / c}')" \
           "$(awk -v s="$(stat -c %s "$ht_file")" -v c="$events" 'BEGIN{printf "%.3f", s / c}')"
}
bench_case "storm 1 thr" "$storm" 5000000 1
bench_case "storm 4 thr" "$storm" 5000000 4
command -v sqlite3 >/dev/null 2>&1 && bench_case "sqlite3 1M" sqlite3 :memory: "$sql"
bench_case "perl hash" perl -e "$perl_code"
echo "cpu ratio = traceq --stacks over heaptrack (goal <= 0.25x; heaptrack's CPU includes heaptrack_interpret)."
echo "MiB added: --stacks' VmHWM over the counting shim's (same program; goal <= heaptrack's, <= 5 MiB on perl);"
echo "heaptrack's: its run's max RSS over the bare run's. B/ev = trace bytes / calls (goal: tq <= ht)."
echo "Load average after this section: $(cut -d' ' -f1-3 /proc/loadavg)."
