#!/bin/sh
# bench.sh - `make bench`: runs every benchmark section (tools/bench_*.sh) in turn with the build directory.
set -eu
BUILD=${1:?usage: bench.sh BUILD_DIR}
for b in "$(dirname "$0")"/bench_*.sh; do
    [ -e "$b" ] || continue
    # bench_lib.sh holds the sections' shared timing helpers, not a section of its own
    [ "$(basename "$b")" = bench_lib.sh ] && continue
    echo "#### $(basename "$b")"
    bash "$b" "$BUILD"
done
