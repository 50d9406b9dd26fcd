# bench_lib.sh - timing helpers shared by the tools/bench_*.sh scripts (source it; it runs nothing itself).
# After sourcing, `time` prints "wall user sys" seconds, which run_timed reads.
TIMEFORMAT='%R %U %S'

# bench_start SCRIPT ARGS...: what every bench script sets first (call it as `bench_start "$0" "$@"`): build (its
# one argument, BUILD_DIR, required), root (the source tree), work (a temporary folder, removed on exit), compare
# (tools/bench_compare.py under Debian's python) and rounds (7 with BENCH_FULL=1, else 3; a script may set its own).
bench_start() {
    build=${2:?usage: tools/$(basename "$1") BUILD_DIR}
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    compare="/usr/bin/python3 $root/tools/bench_compare.py"
    rounds=$([[ ${BENCH_FULL:-0} = 1 ]] && echo 7 || echo 3)
}

# run_timed OUTVAR CMD...: run once, store "wall cpu" (user+sys of the command and its children).
run_timed() {
    local __var=$1 t
    shift
    t=$( { time "$@" >/dev/null 2>&1; } 2>&1 | tail -1)
    printf -v "$__var" '%s' "$(awk '{printf "%.3f %.3f", $1, $2 + $3}' <<<"$t")"
}

# best_of N OUTVAR CMD...: the run with the least CPU time of N (the machine may be shared). OUTVAR must not be
# one of its locals (n, var, best, r).
best_of() {
    local n=$1 var=$2 best="" r
    shift 2
    for ((i = 0; i < n; i++)); do
        run_timed r "$@"
        if [[ -z $best ]] || awk -v a="$r" -v b="$best" 'BEGIN{split(a,x," ");split(b,y," ");exit !(x[2]<y[2])}'; then
            best=$r
        fi
    done
    printf -v "$var" '%s' "$best"
}

# ratio A B: A/B formatted "1.23x" (0.00x when B is 0).
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2fx", (b > 0 ? a / b : 0)}'; }

# measure OUTVAR CMD...: run once with GNU time, store "wall cpu maxrss_KiB" (cpu = user+sys of the command and its
# children; maxrss = the largest single process of the run). The command's output is discarded.
measure() {
    local __var=$1 f
    shift
    f=$(mktemp)
    /usr/bin/time -f '%e %U %S %M' -o "$f" "$@" >/dev/null 2>&1 || true
    printf -v "$__var" '%s' "$(awk 'END{printf "%.3f %.3f %d", $1, $2 + $3, $4}' "$f")"
    rm -f "$f"
}

# median_spread "t1 t2 ...": "median (min-max)" of the numbers.
median_spread() {
    tr ' ' '\n' <<<"$1" | sed '/^$/d' | sort -g |
        awk '{v[NR] = $1} END {m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
                              printf "%.3f (%.3f-%.3f)", m, v[1], v[NR]}'
}

# alternate ROUNDS NAME FUNC [NAME FUNC]...: each round runs every FUNC once, in the order given (A B A B ...), so
# that load on a shared machine falls on all of them alike. Afterwards CPU[NAME] and WALL[NAME] hold the CPU
# (user+sys, children included) and wall seconds of every run, space-separated; ALT_CPU_MED[NAME] the median CPU.
# Its locals start with _alt_ so that the FUNCs see the caller's variables (and run_timed's are __var, t).
declare -A CPU WALL ALT_CPU_MED
alternate() {
    local _alt_rounds=$1 _alt_r _alt_k _alt_name _alt_fn _alt_one
    shift
    local -a _alt_pairs=("$@")
    for ((_alt_k = 0; _alt_k < ${#_alt_pairs[@]}; _alt_k += 2)); do
        CPU[${_alt_pairs[_alt_k]}]="" WALL[${_alt_pairs[_alt_k]}]=""
    done
    for ((_alt_r = 0; _alt_r < _alt_rounds; _alt_r++)); do
        for ((_alt_k = 0; _alt_k < ${#_alt_pairs[@]}; _alt_k += 2)); do
            _alt_name=${_alt_pairs[_alt_k]} _alt_fn=${_alt_pairs[_alt_k + 1]}
            run_timed _alt_one "$_alt_fn"
            WALL[$_alt_name]+="${_alt_one% *} " CPU[$_alt_name]+="${_alt_one#* } "
        done
    done
    for ((_alt_k = 0; _alt_k < ${#_alt_pairs[@]}; _alt_k += 2)); do
        _alt_name=${_alt_pairs[_alt_k]}
        ALT_CPU_MED[$_alt_name]=$(median_spread "${CPU[$_alt_name]}" | cut -d' ' -f1)
    done
}
median() { median_spread "$1" | cut -d' ' -f1; }

# ratios "a1 a2 ..." "b1 b2 ...": the per-round ratios a_i/b_i (alternating runs pair up round by round).
ratios() { paste -d' ' <(tr ' ' '\n' <<<"$1" | sed '/^$/d') <(tr ' ' '\n' <<<"$2" | sed '/^$/d') |
    awk '{printf "%.4f ", ($2 > 0 ? $1 / $2 : 0)}'; }

# mib BYTES: bytes as MiB with one decimal ("-" stays "-").
mib() { awk -v b="$1" 'BEGIN{if (b == "-" || b == "") print "-"; else printf "%.1f", b / 1048576}'; }
