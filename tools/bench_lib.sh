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

# priority_prefix: "nice -n -20" when this user may raise a command's priority (root or CAP_SYS_NICE), else nothing.
# On a loaded machine the program then gets its CPU almost to itself, so its CPU time is less its cache refills after
# other processes' slices; its own threads (the shim's sampler) are scheduled as usual. (A realtime policy would
# starve a pinned program's second thread until the first one ends: the shim's sampler would not be measured.)
priority_prefix() { [[ $(nice -n -20 nice 2>/dev/null) = -20 ]] && echo "nice -n -20" || true; }

# paired ROUNDS NAME_A CMD_A NAME_B CMD_B: each round runs the commands (shell text) at the same time, one pinned to
# each of CPUs 0 and 1 and swapped every round (A on 0 in even rounds, on 1 in odd ones), so that a CPU that is slower
# for a while (on a VM, a virtual CPU whose host core is busy elsewhere; the guest sees no steal time and charges
# the lost time to the program) slows A and B alike over each two rounds. Afterwards CPU[NAME] holds every run's
# CPU seconds (user+sys, children included), and PAIR_RATIO the geometric mean of B/A over each two rounds, which
# cancels a per-CPU factor that lasts the two rounds. Needs two online CPUs 0 and 1.
declare -a PAIR_RATIO
paired() {
    local rounds=$1 na=$2 ca=$3 nb=$4 cb=$5 r cpu_a t_a t_b prev=""
    local -a ra=() rb=()
    CPU[$na]="" CPU[$nb]="" PAIR_RATIO=()
    for ((r = 0; r < rounds; r++)); do
        cpu_a=$((r % 2))
        ( { time taskset -c "$cpu_a" bash -c "$ca" >/dev/null 2>&1; } 2>"$work/paired.a" ) &
        ( { time taskset -c $((1 - cpu_a)) bash -c "$cb" >/dev/null 2>&1; } 2>"$work/paired.b" ) &
        wait
        t_a=$(tail -1 "$work/paired.a" | awk '{printf "%.3f", $2 + $3}')
        t_b=$(tail -1 "$work/paired.b" | awk '{printf "%.3f", $2 + $3}')
        CPU[$na]+="$t_a " CPU[$nb]+="$t_b "
        ra+=("$t_a") rb+=("$t_b")
        if ((r % 2)); then
            PAIR_RATIO+=("$(awk -v a0="${ra[r - 1]}" -v b0="${rb[r - 1]}" -v a1="$t_a" -v b1="$t_b" \
                            'BEGIN{printf "%.4f", (a0 > 0 && a1 > 0 ? sqrt(b0 / a0 * b1 / a1) : 0)}')")
        fi
    done
}

# pinned_alternate ROUNDS NAME_A CMD_A NAME_B CMD_B: each round runs A pinned to one CPU (0 in even rounds, 1 in odd
# ones) and B unpinned, one after the other (A first in even rounds, B first in odd ones), for a B that is several
# processes working through a pipe (heaptrack and its heaptrack_interpret): pinned to one CPU it pays a context switch
# per pipe buffer (on the 2-vCPU VM 1.3-1.6x its unpinned CPU time), and at the same time as A it would compete with
# A's CPU. Each two rounds give one ratio, the geometric mean of A/B over the two (A's per-CPU factor cancels; B runs
# on both CPUs each time). Afterwards CPU[NAME] holds every run's CPU seconds (user+sys, children included) and
# PAIR_RATIO the per-two-round ratios A/B. Needs two online CPUs 0 and 1.
pinned_alternate() {
    local rounds=$1 na=$2 ca=$3 nb=$4 cb=$5 r t_a t_b
    local -a ra=() rb=()
    CPU[$na]="" CPU[$nb]="" PAIR_RATIO=()
    for ((r = 0; r < rounds; r++)); do
        if ((r % 2)); then
            run_timed t_b bash -c "$cb"
            run_timed t_a taskset -c 1 bash -c "$ca"
        else
            run_timed t_a taskset -c 0 bash -c "$ca"
            run_timed t_b bash -c "$cb"
        fi
        t_a=${t_a#* } t_b=${t_b#* }
        CPU[$na]+="$t_a " CPU[$nb]+="$t_b "
        ra+=("$t_a") rb+=("$t_b")
        if ((r % 2)); then
            PAIR_RATIO+=("$(awk -v a0="${ra[r - 1]}" -v b0="${rb[r - 1]}" -v a1="$t_a" -v b1="$t_b" \
                            'BEGIN{printf "%.4f", (b0 > 0 && b1 > 0 ? sqrt(a0 / b0 * a1 / b1) : 0)}')")
        fi
    done
}

# rotated ROUNDS CPUS NAME CMD [NAME CMD]...: each round runs every command (shell text) once, one after another, all
# pinned to the same CPUS (taskset -c CPUS, e.g. "0" or "0,1"), in an order that turns every round (round r starts
# with command r mod N) and runs backwards in every other block of N rounds, so that each command runs in each place
# and after each other command equally often: a CPU whose speed drifts during a round (on the VM its host core may be
# busy elsewhere) and whatever the first run of a round pays fall on all commands alike. A control that runs the same
# command twice under two names (A/A) gets the same treatment, so its ratios show this run's noise. Afterwards CPU[NAME]
# holds every run's CPU seconds (user+sys, children included) in round order, so `ratios` pairs them round by round.
rotated() {
    local rounds=$1 cpus=$2 r k j one # not t: run_timed's own local
    shift 2
    local -a names=() cmds=()
    while (($# >= 2)); do
        names+=("$1") cmds+=("$2")
        CPU[$1]=""
        shift 2
    done
    local n=${#names[@]}
    local -a got=()
    for ((r = 0; r < rounds; r++)); do
        for ((j = 0; j < n; j++)); do
            k=$(((r + j) % n))
            (((r / n) % 2)) && k=$(((r + n - j) % n))
            run_timed one taskset -c "$cpus" bash -c "${cmds[k]}"
            got[k]=${one#* }
        done
        for ((k = 0; k < n; k++)); do
            CPU[${names[k]}]+="${got[k]} "
        done
    done
}

# quartiles "r1 r2 ...": "median q1 q3 min max count" of the numbers (q1, q3: medians of the lower and upper halves).
quartiles() {
    tr ' ' '\n' <<<"$1" | sed '/^$/d' | sort -g |
        awk 'function med(lo, hi,  m) {
                 m = hi - lo + 1
                 return m % 2 ? v[lo + (m - 1) / 2] : (v[lo + m / 2 - 1] + v[lo + m / 2]) / 2 }
             {v[NR] = $1}
             END {if (NR == 0) {print "0 0 0 0 0 0"; exit}
                  h = int(NR / 2); printf "%.4f %.4f %.4f %.4f %.4f %d\n", med(1, NR), med(1, h > 0 ? h : 1),
                         med(NR - h + 1, NR), v[1], v[NR], NR}'
}

# ratio_verdict GOAL "ratios" "A/A ratios": whether the median of per-round ratios B/A is at most GOAL, told against the
# noise the A/A control (the same pairing of A with itself, in the same rounds) shows. noise = how far the A/A median
# is from 1, plus twice the standard error of a median (1.25 x quartile spread / 1.35 / sqrt(rounds)) of the ratios
# or of the A/A ratios, whichever is larger. Prints "met", "missed" or "not resolvable", then the figures: "not
# resolvable" when the A/A median alone is further from 1 than GOAL's margin over 1, or when the ratio is within the
# noise of GOAL.
ratio_verdict() {
    local goal=$1 r a
    read -r -a r <<<"$(quartiles "$2")"
    read -r -a a <<<"$(quartiles "$3")"
    awk -v g="$goal" -v rm="${r[0]}" -v rq1="${r[1]}" -v rq3="${r[2]}" -v rn="${r[5]}" \
        -v am="${a[0]}" -v aq1="${a[1]}" -v aq3="${a[2]}" -v an="${a[5]}" 'BEGIN {
        d = am - 1; if (d < 0) d = -d
        se_r = rn > 0 ? 1.25 * (rq3 - rq1) / 1.35 / sqrt(rn) : 1
        se_a = an > 0 ? 1.25 * (aq3 - aq1) / 1.35 / sqrt(an) : 1
        noise = d + 2 * (se_r > se_a ? se_r : se_a)
        if (d > g - 1)
            v = sprintf("not resolvable (the A/A control moved %.1f%%, more than the %.0f%% margin)", 100 * d,
                        100 * (g - 1))
        else if (rm + noise <= g) v = "met"
        else if (rm - noise > g)  v = "missed"
        else                      v = sprintf("not resolvable (%.3f is within the noise of %.2f)", rm, g)
        printf "%s: ratio %.3f (quartiles %.3f-%.3f), A/A %.3f (%.3f-%.3f), noise +-%.3f\n",
               v, rm, rq1, rq3, am, aq1, aq3, noise }'
}

# instructions_of [VAR=VALUE]... CMD...: user-space instructions the command retires, and how they were counted:
# "N perf" (perf stat -e instructions:u, where the CPU's counters are visible), else "N cachegrind" (valgrind
# --tool=cachegrind counts the program's own instructions in a simulation: steady, but no time), else "- none".
# The VAR=VALUE settings (LD_PRELOAD...) go to the command's environment. The output is discarded.
instructions_of() {
    local f n
    local -a vars=()
    while [[ $# -gt 0 && $1 == *=* ]]; do
        vars+=("$1")
        shift
    done
    f=$(mktemp)
    if env "${vars[@]}" perf stat -x, -e instructions:u -o "$f" "$@" >/dev/null 2>&1 &&
        n=$(awk -F, '/instructions/ && $1 ~ /^[0-9]+$/ {print $1}' "$f") && [[ -n $n ]]; then
        echo "$n perf"
    elif command -v valgrind >/dev/null 2>&1 &&
        env "${vars[@]}" valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null --log-file="$f" \
            "$@" >/dev/null 2>&1 &&
        n=$(awk '/I *refs:/ {gsub(",", "", $NF); print $NF}' "$f") && [[ -n $n ]]; then
        echo "$n cachegrind"
    else
        echo "- none"
    fi
    rm -f "$f"
}
