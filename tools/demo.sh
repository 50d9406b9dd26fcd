#!/usr/bin/env bash
# demo.sh - `make demo`: the main job end to end on a synthetic volume, in one folder (traceq-demo/):
# sweep a small grid under the profiler, fit a memory model, plan a larger volume under a memory limit below its
# unchunked peak, run it chunked with 2 memory-limited workers, check it against the unchunked result, summarise.
# Usage: tools/demo.sh BUILD_DIR   (env: TQ_DEMO_DIR, TQ_DEMO_OP, TQ_DEMO_SHAPE, TQ_DEMO_GRID)
set -euo pipefail
build=${1:?usage: tools/demo.sh BUILD_DIR}
tq="$build/traceq"
dir=${TQ_DEMO_DIR:-$PWD/traceq-demo}
op=${TQ_DEMO_OP:-gst3d}
shape=${TQ_DEMO_SHAPE:-256x256x256}
grid=${TQ_DEMO_GRID:-50:150:50}
mkdir -p "$dir"
cd "$dir"
rm -f dataset.csv model.json plan.json whole.npy chunked.npy ./*.journal
rm -rf dataset.csv.traces
say() { printf '\n== %s\n' "$*"; }
# The integer value of "key" in a JSON report (first occurrence).
json_int() { grep -o "\"$2\": [0-9]*" "$1" | head -1 | grep -o '[0-9]*$'; }
json_max() { grep -o "\"$2\": [0-9]*" "$1" | grep -o '[0-9]*$' | sort -n | tail -1; }
mib() { echo $(( ($1 + 524288) / 1048576 )); }

backend=proc
if "$tq" record --help >/dev/null 2>&1; then backend=record; fi
t0=$(date +%s)

say "1. sweep: $op over the grid $grid (every axis), one run per shape, backend $backend"
"$tq" sweep --op "$op" --grid "$grid" --runs 1 --backend "$backend" -o dataset.csv

say "2. fit a memory model"
"$tq" fit dataset.csv --op "$op" -o model.json | tee fit.txt

say "3. a larger volume: $shape, and its unchunked peak (one worker, no limit)"
"$tq" synth --shape "$shape" -o volume.npy --force
"$tq" run --op "$op" --input volume.npy --output whole.npy --chunks none --workers 1 --json > whole.json
peak=$(json_max whole.json rss_peak_bytes)
limit=$(( peak * 6 / 10 / 1048576 ))
echo "unchunked peak $(mib "$peak") MiB; limit per worker for the chunked run: ${limit} MiB (60%)"

say "4. plan under ${limit} MiB per worker, 2 workers"
"$tq" plan --model model.json --shape "$shape" --memory "${limit}MiB" --workers 2 -o plan.json --force | tee plan.txt

say "5. run the plan with 2 workers, each held to ${limit} MiB"
"$tq" run --op "$op" --input volume.npy --output chunked.npy --plan plan.json --workers 2 \
    --memory-per-worker "${limit}MiB" --json > chunked.json

say "6. verify: chunked output == unchunked output"
if cmp -s whole.npy chunked.npy; then verdict="identical (byte for byte)"; else verdict="DIFFERENT"; fi
echo "$verdict"

say "summary ($dir)"
model=$(sed -n 's/^wrote .* (\([a-z0-9]*\) model of .*/\1/p' fit.txt)
blocks=$(json_int chunked.json blocks_total)
echo "model:      $model (from $(($(wc -l < dataset.csv) - 1)) profiled runs of $op)"
echo "plan:       $blocks blocks for $shape under ${limit} MiB per worker (unchunked peak $(mib "$peak") MiB)"
echo "run:        $(printf '%.2f' "$(grep -o '"wall_s": [0-9.]*' chunked.json | head -1 | cut -d' ' -f2)") s wall, $(json_int chunked.json oom_kills) OOM kills, $(json_int chunked.json retries) retries"
echo "peaks:      $(grep -o '"rss_peak_bytes": [0-9]*' chunked.json | cut -d' ' -f2 | while read -r b; do printf '%s MiB ' "$(mib "$b")"; done)RSS per worker (the model's bound for a block: up to $(mib "$(json_max plan.json predicted_bytes)") MiB)"
echo "enforced:   $(grep -o '"enforcement": "[^"]*"' chunked.json | cut -d'"' -f4)"
echo "verified:   $verdict"
echo "took:       $(( $(date +%s) - t0 )) s; files in $dir"
[ "$verdict" != DIFFERENT ]
