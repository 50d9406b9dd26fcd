#!/usr/bin/env bash
# bench_ops.sh - operators against SciPy: wall time, CPU time and peak RSS (issue 4). Usage: tools/bench_ops.sh BUILD
set -u
BUILD=$(cd "${1:-build}" && pwd)
SRC=$(cd "$(dirname "$0")/.." && pwd)
PY=/usr/bin/python3

##########################################################################################################
# Section: operators - Envelope, Gaussian (sigma 3), GST3D: traceq vs SciPy on the same .npy input.
# Each run is its own process timed by /usr/bin/time (wall, peak RSS). SciPy runs the original system's
# code (tests/oracle/ops_oracle.py run) and does not save its result; traceq's time includes reading the
# input and writing its .npy output. Two speed ratios: whole process vs whole process, and (conservative,
# used for the goal) SciPy's operator call alone (no interpreter start, no np.load) vs traceq's whole process.
# cpu_s (user + sys of the process) and x_cpu (SciPy's over ours) are printed too: on a machine shared with
# other jobs, wall time mostly measures the load, CPU time much less so.
# Goals (issue 4): >= 3x faster; peak RSS <= 0.5x SciPy (Envelope, GST3D), <= 1x (Gaussian).
# SciPy's GST3D (the original's np.linalg.eigh over a float32 stack) peaks near 230 B/voxel (3.7 GB at
# 200x200x400, ~15 GB at 400^3): a SciPy run whose estimated peak exceeds 60% of MemAvailable is skipped
# with a message (TQ_BENCH_FORCE_SCIPY=1 runs it anyway); traceq's rows are then printed without ratios.
# Knobs: TQ_BENCH_SHAPES (default "200x200x400 400x400x400"), TQ_BENCH_OPS (default all three).
##########################################################################################################
bench_operators() {
    local shapes=${TQ_BENCH_SHAPES:-"200x200x400 400x400x400"} ops=${TQ_BENCH_OPS:-"envelope gaussian gst3d"}
    local dir shape op t line
    # Input and output live in tmpfs (/dev/shm) when there is one, so both sides pay memory copies, not this
    # shared machine's disk: SciPy does not write its output, traceq does (2x slower on a loaded disk).
    local base=${TQ_BENCH_DIR:-/dev/shm}
    [ -d "$base" ] && [ -w "$base" ] || base=${TMPDIR:-/tmp}
    dir=$(mktemp -d "$base/tqbench-ops.XXXXXX") || return 1
    trap 'rm -rf "$dir"' RETURN
    echo "== operators: traceq vs SciPy $($PY -c 'import scipy; print(scipy.__version__)') on $(nproc) cores" \
         "(load average $(cut -d' ' -f1-3 /proc/loadavg)), files in $base =="
    printf '%-9s %-12s %-11s %7s %7s %7s %9s %7s %7s %7s %9s  %s\n' op shape run wall_s op_s cpu_s peak_MiB \
        x_proc x_op x_cpu rss_ratio goal
    for shape in $shapes; do
        "$BUILD/traceq" synth --shape "$shape" --seed 1 -o "$dir/vol.npy" --force >/dev/null || return 1
        for op in $ops; do
            local voxels need avail
            voxels=$(echo "$shape" | tr 'x' '*' | bc)
            case $op in envelope) need=32 ;; gaussian) need=12 ;; *) need=240 ;; esac
            need=$((voxels * need / 1024))
            avail=$(awk '/MemAvailable/ {print $2}' /proc/meminfo)
            if [ "${TQ_BENCH_FORCE_SCIPY:-0}" != 1 ] && [ "$need" -gt $((avail * 6 / 10)) ]; then
                printf '%-9s %-12s %-11s skipped: needs ~%d MiB, %d MiB available\n' "$op" "$shape" scipy \
                    $((need / 1024)) $((avail / 1024))
                s_wall=0 s_op=0 s_kb=0 s_cpu=0
            else
            /usr/bin/time -f '%e %M %U %S' -o "$dir/time" "$PY" "$SRC/tests/oracle/ops_oracle.py" run "$op" "$dir/vol.npy" \
                >"$dir/scipy.out" || { echo "scipy $op failed"; return 1; }
            read -r s_wall s_kb s_user s_sys <"$dir/time"
            s_op=$(sed -n 's/.*compute_s=//p' "$dir/scipy.out")
            s_cpu=$(echo "$s_user + $s_sys" | bc -l)
            printf '%-9s %-12s %-11s %7.2f %7.2f %7.2f %9.1f\n' "$op" "$shape" scipy "$s_wall" "$s_op" "$s_cpu" \
                "$(echo "$s_kb / 1024" | bc -l)"
            fi
            for t in 2 1; do
                /usr/bin/time -f '%e %M %U %S' -o "$dir/time" "$BUILD/traceq" op "$op" --input "$dir/vol.npy" \
                    -o "$dir/out.npy" --force --threads "$t" >/dev/null || { echo "traceq op $op failed"; return 1; }
                read -r o_wall o_kb o_user o_sys <"$dir/time"
                awk -v op="$op" -v shape="$shape" -v t="$t" -v sw="$s_wall" -v so="$s_op" -v sk="$s_kb" \
                    -v ow="$o_wall" -v ok="$o_kb" -v sc="$s_cpu" -v oc="$(echo "$o_user + $o_sys" | bc -l)" \
                    'BEGIN {
                        ow = ow > 0.01 ? ow : 0.01; oc = oc > 0.01 ? oc : 0.01;
                        if (sk == 0) {
                            printf "%-9s %-12s %-11s %7.2f %7s %7.2f %9.1f\n", op, shape, "traceq t=" t, ow, "-", oc,
                                   ok / 1024;
                            exit }
                        xp = sw / ow; xo = so / ow; xc = sc / oc; rr = ok / sk;
                        lim = op == "gaussian" ? 1.0 : 0.5;
                        goal = (xo >= 3 ? "time ok" : "time MISSED") ", " (rr <= lim ? "rss ok" : "rss MISSED");
                        printf "%-9s %-12s %-11s %7.2f %7s %7.2f %9.1f %6.1fx %6.1fx %6.1fx %9.3f  %s\n", op, shape,
                               "traceq t=" t, ow, "-", oc, ok / 1024, xp, xo, xc, rr, goal }'
            done
        done
        rm -f "$dir/vol.npy" "$dir/out.npy"
    done
}

bench_operators || echo "operators benchmark failed"
