#!/bin/sh
# bench_dask.sh - `make bench` section: the original's SciPy operators (examples/original/) chunked by traceq
# against real Dask (experiment/dask_vs_traceq.py --fast: 200^3 only, one run per strategy, the original's 1.5 GB
# limit and 0.5x / 0.25x of the measured whole-volume peak). Results in BUILD/bench-dask/ (dask.csv, goal.csv,
# dask-200.svg); results/DASK.md has the full table (--full) and how it was made.
set -eu
BUILD=${1:?usage: bench_dask.sh BUILD_DIR}
SRC=$(cd "$(dirname "$0")/.." && pwd)
OUT="$BUILD/bench-dask"
mkdir -p "$OUT"
/usr/bin/python3 "$SRC/experiment/dask_vs_traceq.py" --fast --traceq "$BUILD/traceq" --workdir "$OUT"
/usr/bin/python3 "$SRC/experiment/dask_vs_traceq.py" --report "$OUT/dask.csv" --goal-csv "$OUT/goal.csv" \
    --svg-prefix "$OUT/dask"
