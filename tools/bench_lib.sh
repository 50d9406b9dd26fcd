# bench_lib.sh - timing helpers shared by the tools/bench_*.sh scripts (source it; it runs nothing itself).
# After sourcing, `time` prints "wall user sys" seconds, which run_timed reads.
TIMEFORMAT='%R %U %S'

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
