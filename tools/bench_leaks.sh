#!/usr/bin/env bash
# bench_leaks.sh - leaks (issue 15, goal 3): programs shaped like heaptrack's own leak tests (its tests/manual
# test.cpp, test.c, libc_leaks.c, threaded.cpp; ours are tests/bench/leak_*, our own code) recorded by heaptrack and
# by `traceq record --stacks`; heaptrack_print --print-leaks and `traceq report --leaks` side by side. The bytes are
# compared by innermost function (heaptrack's leaked-bytes flame graph, which carries exact byte counts, against
# traceq's sites; a site in operator new counts for its caller). Goal: same functions, same bytes.
# Usage: tools/bench_leaks.sh BUILD_DIR (run by tools/bench.sh)
set -euo pipefail
# shellcheck source=tools/bench_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"
bench_start "$0" "$@"

echo
echo "== leaks: heaptrack_print --print-leaks vs traceq report --leaks on tests/bench/leak_* (heaptrack's test shapes)"
if ! command -v heaptrack >/dev/null 2>&1 || ! command -v heaptrack_print >/dev/null 2>&1; then
    echo "(heaptrack is not installed: skipped; make deps installs it)"
    exit 0
fi
same=0
for prog in leak_chain leak_random leak_libc leak_threads; do
    mkdir -p "$work/$prog"
    heaptrack -o "$work/$prog/ht" "$build/bench/$prog" >/dev/null 2>&1
    "$build/traceq" record -q --stacks -o "$work/$prog" -- "$build/bench/$prog" >/dev/null
    ht=$(ls "$work/$prog"/ht* | head -1)
    heaptrack_print -F "$work/$prog/leaked.folded" --flamegraph-cost-type leaked "$ht" >/dev/null
    "$build/traceq" report --leaks --top 50 --json "$work/$prog"/traceq.*.tq >"$work/$prog/leaks.json"
    heaptrack_print --print-leaks 1 "$ht" >"$work/$prog/ht.txt"
    read -r ht_leaked ht_suppressed <<<"$($compare ht-leaks "$work/$prog/ht.txt")"
    tq_leaked=$(/usr/bin/python3 -c 'import json,sys; print(sum((t.get("leaks") or {}).get("leaked_bytes", 0)
        for t in json.load(open(sys.argv[1]))["traces"]))' "$work/$prog/leaks.json")
    echo "-- $prog: heaptrack_print: $ht_leaked B leaked, $ht_suppressed B suppressed (3 digits as printed);" \
         "traceq report --leaks: $tq_leaked B"
    if $compare leaks "$work/$prog/leaked.folded" "$work/$prog/leaks.json"; then
        same=$((same + 1))
    elif ((ht_suppressed > 0 && tq_leaked == ht_leaked + ht_suppressed)); then
        echo "    same total once heaptrack's suppressed leaks are counted (heaptrack hides them by default)"
        same=$((same + 1))
    fi
done
echo "same bytes on $same of 4 programs (goal: 4 of 4). heaptrack's flame graph omits suppressed leaks."
