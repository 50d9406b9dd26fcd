#!/usr/bin/env bash
# bench.sh - `make bench`: every traceq benchmark, one clearly separated section each. Usage: tools/bench.sh BUILD
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
# Goals (issue 4): >= 3x faster; peak RSS <= 0.5x SciPy (Envelope, GST3D), <= 1x (Gaussian).
# SciPy's GST3D (the original's np.linalg.eigh over a float32 stack) peaks near 230 B/voxel (3.7 GB at
# 200x200x400, ~15 GB at 400^3): a SciPy run whose estimated peak exceeds 60% of MemAvailable is skipped
# with a message (TQ_BENCH_FORCE_SCIPY=1 runs it anyway); traceq's rows are then printed without ratios.
# Knobs: TQ_BENCH_SHAPES (default "200x200x400 400x400x400"), TQ_BENCH_OPS (default all three).
##########################################################################################################
bench_operators() {
    local shapes=${TQ_BENCH_SHAPES:-"200x200x400 400x400x400"} ops=${TQ_BENCH_OPS:-"envelope gaussian gst3d"}
    local dir shape op t line
    dir=$(mktemp -d "${TMPDIR:-/tmp}/tqbench-ops.XXXXXX") || return 1
    trap 'rm -rf "$dir"' RETURN
    echo "== operators: traceq vs SciPy $($PY -c 'import scipy; print(scipy.__version__)') on $(nproc) cores" \
         "(load average $(cut -d' ' -f1-3 /proc/loadavg)) =="
    printf '%-9s %-12s %-11s %8s %9s %9s %9s %9s %9s  %s\n' op shape run wall_s op_s peak_MiB x_proc x_op rss_ratio goal
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
                s_wall=0 s_op=0 s_kb=0
            else
            /usr/bin/time -f '%e %M' -o "$dir/time" "$PY" "$SRC/tests/oracle/ops_oracle.py" run "$op" "$dir/vol.npy" \
                >"$dir/scipy.out" || { echo "scipy $op failed"; return 1; }
            read -r s_wall s_kb <"$dir/time"
            s_op=$(sed -n 's/.*compute_s=//p' "$dir/scipy.out")
            printf '%-9s %-12s %-11s %8.2f %9.2f %9.1f\n' "$op" "$shape" scipy "$s_wall" "$s_op" \
                "$(echo "$s_kb / 1024" | bc -l)"
            fi
            for t in 2 1; do
                /usr/bin/time -f '%e %M' -o "$dir/time" "$BUILD/traceq" op "$op" --input "$dir/vol.npy" \
                    -o "$dir/out.npy" --force --threads "$t" >/dev/null || { echo "traceq op $op failed"; return 1; }
                read -r o_wall o_kb <"$dir/time"
                awk -v op="$op" -v shape="$shape" -v t="$t" -v sw="$s_wall" -v so="$s_op" -v sk="$s_kb" \
                    -v ow="$o_wall" -v ok="$o_kb" \
                    'BEGIN {
                        ow = ow > 0.01 ? ow : 0.01;
                        if (sk == 0) {
                            printf "%-9s %-12s %-11s %8.2f %9s %9.1f\n", op, shape, "traceq t=" t, ow, "-", ok / 1024;
                            exit }
                        xp = sw / ow; xo = so / ow; rr = ok / sk;
                        lim = op == "gaussian" ? 1.0 : 0.5;
                        goal = (xo >= 3 ? "time ok" : "time MISSED") ", " (rr <= lim ? "rss ok" : "rss MISSED");
                        printf "%-9s %-12s %-11s %8.2f %9s %9.1f %8.1fx %8.1fx %9.3f  %s\n", op, shape, "traceq t=" t,
                               ow, "-", ok / 1024, xp, xo, rr, goal }'
            done
        done
        rm -f "$dir/vol.npy" "$dir/out.npy"
    done
}

bench_operators || echo "operators benchmark failed"
