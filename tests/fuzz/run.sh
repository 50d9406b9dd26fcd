#!/usr/bin/env bash
# run.sh - run libFuzzer targets on the committed seed corpus: each for SECONDS, PAR at a time; fail on any finding.
# Usage: tests/fuzz/run.sh FUZZ_BUILD_DIR SECONDS PAR TARGET...
# Findings (crash, leak, timeout > 10 s, > 2 GiB RSS, a single malloc > 1 GiB) land in FUZZ_BUILD_DIR/findings/T/.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="$1" secs="$2" par="$3"
shift 3
run_one() {
    local t="$1" work="$build/corpus/$1" out="$build/findings/$1" log="$build/logs/$1.${secs}s.log"
    mkdir -p "$work" "$out" "$build/logs"
    # The work corpus grows across runs; the committed seeds are read only.
    "$build/fuzz/fuzz_$t" "$work" "$here/corpus/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -malloc_limit_mb=1024 -artifact_prefix="$out/" -print_final_stats=1 >"$log" 2>&1
    local rc=$?
    local runs
    runs=$(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
    if [ $rc -eq 0 ]; then
        echo "fuzz $t: ${secs}s, ${runs:-?} inputs, no finding"
    else
        echo "fuzz $t: FAILED (exit $rc) - see $log and $out/"
        grep -m3 -E 'ERROR|SUMMARY|rejected without' "$log" | sed 's/^/    /'
    fi
    return $rc
}
fail=0
pids=()
names=()
for t in "$@"; do
    if [ ! -d "$here/corpus/$t" ]; then echo "fuzz $t: no seed corpus in tests/fuzz/corpus/$t"; fail=1; continue; fi
    run_one "$t" &
    pids+=($!)
    names+=("$t")
    if [ "${#pids[@]}" -ge "$par" ]; then
        wait "${pids[0]}" || fail=1
        pids=("${pids[@]:1}")
    fi
done
for p in "${pids[@]}"; do wait "$p" || fail=1; done
exit $fail
