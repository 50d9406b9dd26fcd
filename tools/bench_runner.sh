#!/bin/sh
# bench_runner.sh - `make bench` section: the headline experiment on GST3D 200^3 (none / auto / seed / traceq /
# fixed chunks through the same memory-limited runner, limits at 50% and 75% of the unchunked peak) and the
# original's own 200^3 case at 1.5 GB per worker. Results in BUILD/bench-experiment/ (results.csv, results.svg).
set -eu
BUILD=${1:?usage: bench_runner.sh BUILD_DIR}
"$BUILD/traceq" experiment -o "$BUILD/bench-experiment" --ops gst3d --shapes 200 --limits 0.5,0.75,1.5GB --runs 5
