#!/usr/bin/env bash
# bench_symbolize.sh - analyzing a real program's --stacks trace side by side with heaptrack_print (issue 16):
# `traceq report --top 5` and every `traceq export` format (folded, massif, chrome, csv) on the trace of gcc's cc1
# compiling one of our own C files (preprocessed, ~7000 lines), of sqlite3 building rows, of perl filling a hash of
# strings (tools/bench_stacks.sh's program) and of tests/bench/numpy_work.py, against heaptrack_print on heaptrack's recording
# of the same run. Runs alternate (traceq report, heaptrack_print, each export, ...) 5 times; medians, min-max
# spread, the ratio of the medians, and the 1-minute load average over the runs. Goal: <= 1.00x heaptrack_print's
# time. Also the analyzers' peak RSS (one run each).
# Usage: tools/bench_symbolize.sh BUILD_DIR (run by tools/bench.sh); TQ_BENCH_PROGRAMS="perl numpy" runs only those
# of cc1, sqlite3, perl and numpy.
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
    local top_w="" top_c="" ht_w="" ht_c="" loads="" r f
    local -A ex_w=() ex_c=()
    for ((i = 0; i < runs; i++)); do
        loads+="$(cut -d' ' -f1 /proc/loadavg) "
        run_timed r "$build/traceq" report --top 5 "$trace"
        top_w+="${r% *} " top_c+="${r#* } "
        run_timed r heaptrack_print "$ht"
        ht_w+="${r% *} " ht_c+="${r#* } "
        for f in $formats; do
            run_timed r "$build/traceq" export --format "$f" "$trace"
            ex_w[$f]+="${r% *} " ex_c[$f]+="${r#* } "
        done
    done
    local stacks
    stacks=$("$build/traceq" export --format folded --by allocated "$trace" | wc -l)
    echo "$name: $(stat -c %s "$trace") trace bytes, $stacks stacks with bytes; heaptrack file $(stat -c %s "$ht") bytes;" \
         "load average over the runs $(median_spread "$loads")"
    printf '  %-26s %-24s %-24s %-10s %-10s %s\n' "" "wall s, median (spread)" "cpu s, median (spread)" \
           "wall ratio" "cpu ratio" "peak RSS"
    printf '  %-26s %-24s %-24s %-10s %-10s %s MiB\n' "heaptrack_print" "$(median_spread "$ht_w")" \
           "$(median_spread "$ht_c")" "1.00x" "1.00x" "$(peak_rss_mib heaptrack_print "$ht")"
    printf '  %-26s %-24s %-24s %-10s %-10s %s MiB\n' "traceq report --top 5" "$(median_spread "$top_w")" \
           "$(median_spread "$top_c")" "$(ratio "$(median "$top_w")" "$(median "$ht_w")")" \
           "$(ratio "$(median "$top_c")" "$(median "$ht_c")")" \
           "$(peak_rss_mib "$build/traceq" report --top 5 "$trace")"
    for f in $formats; do
        printf '  %-26s %-24s %-24s %-10s %-10s %s MiB\n' "traceq export $f" "$(median_spread "${ex_w[$f]}")" \
               "$(median_spread "${ex_c[$f]}")" "$(ratio "$(median "${ex_w[$f]}")" "$(median "$ht_w")")" \
               "$(ratio "$(median "${ex_c[$f]}")" "$(median "$ht_c")")" \
               "$(peak_rss_mib "$build/traceq" export --format "$f" "$trace")"
    done
}
formats="folded massif chrome csv"

echo
echo "== symbolization: traceq report --top / every export vs heaptrack_print ($runs alternating runs each)"
echo "   machine: $(uname -n), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
if ! command -v heaptrack >/dev/null 2>&1 || ! command -v heaptrack_print >/dev/null 2>&1; then
    echo "(heaptrack is not installed: skipped; make deps installs it)"
    exit 0
fi
programs=" ${TQ_BENCH_PROGRAMS:-cc1 sqlite3 perl numpy} "
want() { [[ $programs == *" $1 "* ]]; }
if want cc1; then
cc1=$(gcc -print-prog-name=cc1)
gcc -E -std=gnu11 -I"$root" $(pkg-config --cflags jansson 2>/dev/null) "$root/runner/runner.c" -o "$work/input.i"
echo "cc1 input: runner/runner.c preprocessed, $(wc -l <"$work/input.i") lines"
bench cc1 "$cc1" -quiet -O2 "$work/input.i" -o "$work/input.s"
fi
if want sqlite3 && command -v sqlite3 >/dev/null 2>&1; then
    bench sqlite3 sqlite3 :memory: "CREATE TABLE t(a INTEGER, b TEXT); WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL
        SELECT x + 1 FROM c WHERE x < 200000) INSERT INTO t SELECT x, hex(randomblob(16)) FROM c;
        CREATE INDEX tb ON t(b); SELECT count(*) FROM t;"
fi
perl_code='my %h; for my $i (1..400000) { $h{"key$i"} = "v" x ($i % 40) . $i } my $n = 0;
           for my $k (keys %h) { $n += length($h{$k}) } my @a = sort keys %h; print "$n\n";'
want perl && command -v perl >/dev/null 2>&1 && bench perl perl -e "$perl_code"
# tools/bench_programs.sh's NumPy script (heaptrack records nothing of a `python3 -c` with this code)
want numpy && /usr/bin/python3 -c 'import numpy' 2>/dev/null &&
    bench numpy /usr/bin/python3 "$root/tests/bench/numpy_work.py" 20000
echo "Ratios are traceq over heaptrack_print on the same run (goal <= 1.00x). heaptrack symbolizes while recording"
echo "(heaptrack_interpret), so heaptrack_print only reads names; traceq symbolizes when it reports."
