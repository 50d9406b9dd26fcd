#!/bin/sh
# bench.sh - `make bench`: runs every benchmark section (tools/bench_*.sh) in turn with the build directory.
# BENCH_ONLY="programs leaks" runs only those sections (tools/bench_programs.sh, tools/bench_leaks.sh); BENCH_FULL=1
# asks the sections that have one for their longer run (more rounds, bigger inputs).
set -eu
BUILD=${1:?usage: bench.sh BUILD_DIR}
for b in "$(dirname "$0")"/bench_*.sh; do
    [ -e "$b" ] || continue
    # bench_lib.sh holds the sections' shared timing helpers, not a section of its own
    [ "$(basename "$b")" = bench_lib.sh ] && continue
    section=$(basename "$b" .sh)
    section=${section#bench_}
    case " ${BENCH_ONLY:-$section} " in *" $section "*) ;; *) continue ;; esac
    echo "#### $(basename "$b")"
    bash "$b" "$BUILD"
done
