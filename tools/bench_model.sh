#!/bin/sh
# bench_model.sh - the memory-model experiment (issue 5): sweep each operator over a grid, fit, then measure held-out
# shapes beyond the grid and print predicted vs measured peak, the bound, and the seed planner's estimate.
# Usage: tools/bench_model.sh BUILD_DIR   (env: TQ_BENCH_OPS, TQ_BENCH_GRID, TQ_BENCH_RUNS, TQ_BENCH_HELDOUT,
#        TQ_BENCH_BACKEND record|proc, TQ_BENCH_DIR to keep results)
set -eu
BUILD=${1:?usage: bench_model.sh BUILD_DIR}
TQ="$BUILD/traceq"
OPS=${TQ_BENCH_OPS:-"gst3d gaussian envelope"}
GRID=${TQ_BENCH_GRID:-100:400:100}
RUNS=${TQ_BENCH_RUNS:-1}
BACKEND=${TQ_BENCH_BACKEND:-proc}
HELDOUT=${TQ_BENCH_HELDOUT:-"500x500x500 300x700x450 640x640x640 800x800x800"}
DIR=${TQ_BENCH_DIR:-$(mktemp -d /tmp/traceq-bench-model.XXXXXX)}
mkdir -p "$DIR"
echo "== memory models: grid $GRID x $RUNS run(s), backend $BACKEND, results in $DIR"

# value of a numeric key in traceq predict --json output
json_num() { sed -n "s/.*\"$1\": \\([0-9.e+-]*\\).*/\\1/p"; }

for op in $OPS; do
    "$TQ" sweep --op "$op" --grid "$GRID" --runs "$RUNS" --backend "$BACKEND" -o "$DIR/sweep.csv"
    "$TQ" fit "$DIR/sweep.csv" --op "$op" -o "$DIR/$op.model.json" --force
    printf '%-8s %-12s %10s %10s %8s %10s %8s %10s %8s\n' op shape measured predicted err bound margin \
        seed_est seed_err
    for s in $HELDOUT; do
        i=${s%%x*}; rest=${s#*x}; x=${rest%%x*}; z=${rest#*x}
        "$TQ" sweep --op "$op" --grid-inlines "$i" --grid-xlines "$x" --grid-samples "$z" --runs 1 \
            --backend "$BACKEND" -o "$DIR/heldout.csv" >/dev/null
        row=$(grep "^$op,$i,$x,$z," "$DIR/heldout.csv" | tail -1)
        status=$(echo "$row" | cut -d, -f7)
        if [ "$status" != ok ]; then
            echo "$op $s: run failed: $(echo "$row" | cut -d, -f8)"
            continue
        fi
        meas=$(echo "$row" | cut -d, -f9)
        pj=$("$TQ" predict --model "$DIR/$op.model.json" --shape "$s" --json 2>/dev/null)
        pred=$(echo "$pj" | json_num predicted)
        bound=$(echo "$pj" | json_num bound)
        # the seed planner's estimate of this shape as a chunk of 800^3: voxels x (prediction(800^3) / 800^3)
        big=$("$TQ" predict --model "$DIR/$op.model.json" --shape 800x800x800 --json 2>/dev/null | json_num predicted)
        awk -v op="$op" -v s="$s" -v m="$meas" -v p="$pred" -v b="$bound" -v big="$big" \
            -v v="$((i * x * z))" 'BEGIN {
                seed = v * big / 512000000;
                printf "%-8s %-12s %8.1fMB %8.1fMB %+7.1f%% %8.1fMB %7s %8.1fMB %+7.1f%%\n", op, s, m / 1e6, p / 1e6,
                       100 * (p - m) / m, b / 1e6, (b >= m ? "ok" : "BELOW"), seed / 1e6, 100 * (seed - m) / m }'
    done
done
