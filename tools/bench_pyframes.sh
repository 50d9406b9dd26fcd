#!/usr/bin/env bash
# bench_pyframes.sh - Python frames in `record --stacks` stacks (issue 15, goal 1) on tests/bench/numpy_work.py,
# whose biggest allocation (a 32 MiB np.ones) is on the line marked BIGGEST:
#  1. `traceq report --top 1` must name that file and line (as the site or its innermost caller: np.ones is itself
#     Python code in NumPy's numeric.py) with bytes within 1% of the array's 33554432.
#  2. the cost of --stacks with Python frames must be <= 2x that of --stacks alone, on the same script: bare,
#     `record --stacks --no-python-frames` and `record --stacks`, alternating rounds. The goal's ratio is of the
#     CPU time each adds to the bare run, (stacks - bare) / (no-frames - bare); the plain ratio of their CPU times is
#     printed too.
# Usage: tools/bench_pyframes.sh BUILD_DIR (run by tools/bench.sh). BENCH_FULL=1: 7 rounds instead of 3.
set -euo pipefail
# shellcheck source=tools/bench_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"
bench_start "$0" "$@"
script=$root/tests/bench/numpy_work.py
line=$(grep -n 'BIGGEST' "$script" | tail -1 | cut -d: -f1)
array_bytes=33554432

echo
echo "== Python frames: tests/bench/numpy_work.py under --stacks ($rounds alternating rounds)"
echo "   machine: $(uname -n), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
if ! /usr/bin/python3 -c 'import numpy' 2>/dev/null; then
    echo "(/usr/bin/python3 has no numpy: skipped; make deps installs python3-numpy)"
    exit 0
fi

py_b="" py_k="" py_n=""
for ((r = 0; r < rounds; r++)); do
    run_timed rt /usr/bin/python3 "$script"
    py_b+="${rt#* } "
    rm -rf "$work/n" && mkdir -p "$work/n"
    run_timed rt "$build/traceq" record -q --stacks --no-python-frames -o "$work/n" -- /usr/bin/python3 "$script"
    py_n+="${rt#* } "
    rm -rf "$work/py" && mkdir -p "$work/py"
    run_timed rt "$build/traceq" record -q --stacks -o "$work/py" -- /usr/bin/python3 "$script"
    py_k+="${rt#* } "
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
py_calls=$($compare tq-peaks "$work/py.json" | cut -d' ' -f3)
added() { awk -v k="$1" -v b="$2" 'BEGIN{printf "%.3f", k - b}'; }
add_k=$(added "$(median "$py_k")" "$(median "$py_b")")
add_n=$(added "$(median "$py_n")" "$(median "$py_b")")
echo "2. CPU s of python3 numpy_work.py ($py_calls allocation calls), median (min-max), and CPU added to bare:"
printf '   %-30s %-24s %s\n' "bare" "$(median_spread "$py_b")" "-"
printf '   %-30s %-24s %s\n' "--stacks --no-python-frames" "$(median_spread "$py_n")" "$add_n"
printf '   %-30s %-24s %s\n' "--stacks (Python frames)" "$(median_spread "$py_k")" "$add_k"
r=$(ratio "$add_k" "$add_n")
echo "   added CPU, Python frames over native only: $r; goal 2 (<= 2x): $(awk -v r="${r%x}" 'BEGIN{print (r <= 2 ? "met" : "NOT met")}')"
echo "   (CPU time with Python frames / without: $(ratio "$(median "$py_k")" "$(median "$py_n")"); per-round ratios: $(median_spread "$(ratios "$py_k" "$py_n")"))"
