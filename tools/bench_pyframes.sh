#!/usr/bin/env bash
# bench_pyframes.sh - Python frames in `record --stacks` stacks (issue 15, goal 1) on tests/bench/numpy_work.py,
# whose biggest allocation (a 32 MiB np.ones) is on the line marked BIGGEST:
#  1. `traceq report --top 1` must name that file and line (as the site or its innermost caller: np.ones is itself
#     Python code in NumPy's numeric.py) with bytes within 1% of the array's 33554432.
#  2. the cost of --stacks with Python frames must be <= 2x that of --stacks alone. The shim has no switch for
#     Python frames (preload/pyframes.c turns them on in every CPython 3.11 process), so "--stacks alone" is
#     measured on a C program doing malloc/free (the malloc storm): the ratio compared is the added CPU time per
#     allocation call, (stacks - bare) / calls, Python over C. This overstates the Python frames' own cost: the
#     interpreter's native stacks are also deeper (more frames to unwind) than the storm's.
# Usage: tools/bench_pyframes.sh BUILD_DIR (run by tools/bench.sh). BENCH_FULL=1: 7 rounds instead of 3.
set -euo pipefail
# shellcheck source=tools/bench_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"
bench_start "$0" "$@"
script=$root/tests/bench/numpy_work.py
line=$(grep -n 'BIGGEST' "$script" | tail -1 | cut -d: -f1)
array_bytes=33554432
pairs=1000000

echo
echo "== Python frames: tests/bench/numpy_work.py under --stacks ($rounds alternating rounds)"
echo "   machine: $(uname -n), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
if ! /usr/bin/python3 -c 'import numpy' 2>/dev/null; then
    echo "(/usr/bin/python3 has no numpy: skipped; make deps installs python3-numpy)"
    exit 0
fi

py_b="" py_k="" c_b="" c_k=""
for ((r = 0; r < rounds; r++)); do
    run_timed rt /usr/bin/python3 "$script"
    py_b+="${rt#* } "
    rm -rf "$work/py" && mkdir -p "$work/py"
    run_timed rt "$build/traceq" record -q --stacks -o "$work/py" -- /usr/bin/python3 "$script"
    py_k+="${rt#* } "
    run_timed rt "$build/bench/malloc_storm" "$pairs" 1
    c_b+="${rt#* } "
    rm -rf "$work/c" && mkdir -p "$work/c"
    run_timed rt "$build/traceq" record -q --stacks -o "$work/c" -- "$build/bench/malloc_storm" "$pairs" 1
    c_k+="${rt#* } "
done
"$build/traceq" report --top 1 --json "$work"/py/*.tq >"$work/top.json"
IFS=$'\t' read -r site bytes callers <<<"$($compare top1 "$work/top.json")"
where="numpy_work.py:$line"
named=no
[[ $site == *"($where)"* || ${callers%% < *} == *"($where)"* ]] && named=yes
within=$(awk -v b="$bytes" -v a="$array_bytes" 'BEGIN{d = 100 * (b - a) / a; printf "%+.3f%% %s", d, (d <= 1 && d >= -1 ? "yes" : "no")}')
echo "1. report --top 1 at the peak: $site, $bytes bytes, from ${callers%% < *} < ..."
echo "   names $where (site or its innermost caller): $named; bytes vs the array's $array_bytes: ${within% *}" \
     "(within 1%: ${within#* })"
echo "   goal 1 (file:line named, bytes within 1%): $([[ $named = yes && ${within#* } = yes ]] && echo met || echo NOT met)"

"$build/traceq" report --json "$work"/py/*.tq >"$work/py.json"
"$build/traceq" report --json "$work"/c/*.tq >"$work/c.json"
py_calls=$($compare tq-peaks "$work/py.json" | cut -d' ' -f3)
c_calls=$($compare tq-peaks "$work/c.json" | cut -d' ' -f3)
per_call() { awk -v k="$1" -v b="$2" -v n="$3" 'BEGIN{printf "%.0f", (k - b) / n * 1e9}'; }
py_ns=$(per_call "$(median "$py_k")" "$(median "$py_b")" "$py_calls")
c_ns=$(per_call "$(median "$c_k")" "$(median "$c_b")" "$c_calls")
echo "2. CPU s, median (min-max):     bare                     --stacks                 calls      added ns/call"
printf '   %-26s %-24s %-24s %-10s %s\n' "python3 numpy_work.py" "$(median_spread "$py_b")" "$(median_spread "$py_k")" \
       "$py_calls" "$py_ns"
printf '   %-26s %-24s %-24s %-10s %s\n' "malloc_storm $pairs 1" "$(median_spread "$c_b")" "$(median_spread "$c_k")" \
       "$c_calls" "$c_ns"
r=$(ratio "$py_ns" "$c_ns")
echo "   added cost per call, Python frames over C: $r; goal 2 (<= 2x): $(awk -v r="${r%x}" 'BEGIN{print (r <= 2 ? "met" : "NOT met")}')"
echo "   (--stacks / bare on the Python script alone: $(ratio "$(median "$py_k")" "$(median "$py_b")"))"
