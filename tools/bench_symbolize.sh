#!/usr/bin/env bash
# bench_symbolize.sh - symbolizing a real program's --stacks trace side by side with heaptrack_print (issue 16):
# `traceq report --top 5` and `traceq export --format folded` on the trace of gcc's cc1 compiling one of our own C
# files (preprocessed, ~7000 lines) and of sqlite3 building rows, against heaptrack_print on heaptrack's recording of
# the same run. Runs alternate (traceq report, heaptrack_print, traceq folded, ...) 5 times; medians, min-max spread
# and the ratio of the medians. Goal: <= 1.00x heaptrack_print's time. Also the analyzers' peak RSS (one run each).
# Usage: tools/bench_symbolize.sh BUILD_DIR (run by tools/bench.sh)
set -euo pipefail
# shellcheck source=tools/bench_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"
bench_start "$0" "$@"
runs=5

# peak_rss_mib CMD...: the command's maximum RSS in MiB (GNU time), its output discarded.
peak_rss_mib() {
    /usr/bin/time -f '%M' -o "$work/rss" "$@" >/dev/null 2>&1 || true
    awk '{printf "%.1f", $1 / 1024}' "$work/rss"
}

# bench NAME CMD...: record CMD with --stacks and with heaptrack, then time the analyzers alternately.
bench() {
    local name=$1
    shift
    mkdir -p "$work/$name/tq" "$work/$name/ht"
    "$build/traceq" record -q --stacks -o "$work/$name/tq" -- "$@" >/dev/null
    heaptrack -o "$work/$name/ht/rec" "$@" >/dev/null 2>&1
    local trace ht
    trace=$(ls "$work/$name"/tq/traceq.*.tq | head -1)
    ht=$(ls "$work/$name"/ht/rec* | head -1)
    local top_w="" top_c="" fold_w="" fold_c="" ht_w="" ht_c="" r
    for ((i = 0; i < runs; i++)); do
        run_timed r "$build/traceq" report --top 5 "$trace"
        top_w+="${r% *} " top_c+="${r#* } "
        run_timed r heaptrack_print "$ht"
        ht_w+="${r% *} " ht_c+="${r#* } "
        run_timed r "$build/traceq" export --format folded "$trace"
        fold_w+="${r% *} " fold_c+="${r#* } "
    done
    local stacks
    stacks=$("$build/traceq" export --format folded --by allocated "$trace" | wc -l)
    echo "$name: $(stat -c %s "$trace") trace bytes, $stacks stacks with bytes; heaptrack file $(stat -c %s "$ht") bytes"
    printf '  %-26s %-24s %-24s %-10s %-10s %s\n' "" "wall s, median (spread)" "cpu s, median (spread)" \
           "wall ratio" "cpu ratio" "peak RSS"
    printf '  %-26s %-24s %-24s %-10s %-10s %s MiB\n' "heaptrack_print" "$(median_spread "$ht_w")" \
           "$(median_spread "$ht_c")" "1.00x" "1.00x" "$(peak_rss_mib heaptrack_print "$ht")"
    printf '  %-26s %-24s %-24s %-10s %-10s %s MiB\n' "traceq report --top 5" "$(median_spread "$top_w")" \
           "$(median_spread "$top_c")" "$(ratio "$(median "$top_w")" "$(median "$ht_w")")" \
           "$(ratio "$(median "$top_c")" "$(median "$ht_c")")" \
           "$(peak_rss_mib "$build/traceq" report --top 5 "$trace")"
    printf '  %-26s %-24s %-24s %-10s %-10s %s MiB\n' "traceq export folded" "$(median_spread "$fold_w")" \
           "$(median_spread "$fold_c")" "$(ratio "$(median "$fold_w")" "$(median "$ht_w")")" \
           "$(ratio "$(median "$fold_c")" "$(median "$ht_c")")" \
           "$(peak_rss_mib "$build/traceq" export --format folded "$trace")"
}

echo
echo "== symbolization: traceq report --top / export folded vs heaptrack_print ($runs alternating runs each)"
echo "   machine: $(uname -n), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
if ! command -v heaptrack >/dev/null 2>&1 || ! command -v heaptrack_print >/dev/null 2>&1; then
    echo "(heaptrack is not installed: skipped; make deps installs it)"
    exit 0
fi
cc1=$(gcc -print-prog-name=cc1)
gcc -E -std=gnu11 -I"$root" $(pkg-config --cflags jansson 2>/dev/null) "$root/runner/runner.c" -o "$work/input.i"
echo "cc1 input: runner/runner.c preprocessed, $(wc -l <"$work/input.i") lines"
bench cc1 "$cc1" -quiet -O2 "$work/input.i" -o "$work/input.s"
if command -v sqlite3 >/dev/null 2>&1; then
    bench sqlite3 sqlite3 :memory: "CREATE TABLE t(a INTEGER, b TEXT); WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL
        SELECT x + 1 FROM c WHERE x < 200000) INSERT INTO t SELECT x, hex(randomblob(16)) FROM c;
        CREATE INDEX tb ON t(b); SELECT count(*) FROM t;"
fi
echo "Ratios are traceq over heaptrack_print on the same run (goal <= 1.00x). heaptrack symbolizes while recording"
echo "(heaptrack_interpret), so heaptrack_print only reads names; traceq symbolizes when it reports."
