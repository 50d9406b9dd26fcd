#!/usr/bin/env bash
# make_corpus.sh - regenerate the fuzz seed corpus in tests/fuzz/corpus/ (committed; run by `make fuzz-corpus`).
# Usage: tests/fuzz/make_corpus.sh BUILD_DIR   (BUILD_DIR holds the gen_seeds program built by make)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="$1"
corpus="$here/corpus"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
rm -rf "$corpus"
mkdir -p "$corpus"
"$build/fuzz/gen_seeds" "$corpus" "$tmp"

# Traces recorded with --stacks (event, stack and MODULE records) and --stacks --aggregate, from the shim itself.
rec="$tmp/rec"
"$build/traceq" record -q --stacks -o "$rec" -- "$build/progs/proc_tree" leaf >/dev/null
"$build/traceq" record -q --stacks --aggregate -o "$rec" -- /bin/true
mv "$rec"/traceq.proc_tree.*.tq "$corpus/trace/stacks.ok"
mv "$rec"/traceq.true.*.tq "$corpus/trace/aggregate.ok"
# Events that repeat recent (kind, size, stack) tuples in one byte (REPEAT_EVENTS, SAMPLE_PRED: format 1.11).
"$build/traceq" record -q --stacks -o "$rec" -- "$build/progs/alloc_loop" - 4 0 8 0 >/dev/null
mv "$rec"/traceq.alloc_loop.*.tq "$corpus/trace/stacks111.ok"
# A CPython 3.11 trace (STACK_DELTA records with Python frames, PYCODE records), when that interpreter is here.
"$build/traceq" record -q --stacks -o "$rec" -- /usr/bin/python3 -S -c 'x = [1] * 10' >/dev/null 2>&1 &&
    mv "$rec"/traceq.python3*.tq "$corpus/trace/python.ok" || true

# .npy variants the C writer never makes (float64, big-endian, Fortran order, 2-D) from numpy itself.
/usr/bin/python3 - "$corpus/npy" <<'PY'
import sys, numpy as np
d = sys.argv[1]
a = np.arange(24, dtype='<f4').reshape(2, 3, 4)
np.save(d + '/f8.npy', a.astype('<f8'))
np.save(d + '/be_f4.npy', a.astype('>f4'))
np.save(d + '/fortran.npy', np.asfortranarray(a))
np.save(d + '/two_d.npy', a[0])
np.save(d + '/int32.npy', a.astype('<i4'))
PY
for f in "$corpus"/npy/*.npy; do mv "$f" "${f%.npy}.ok"; done

# SEG-Y variants from segyio: crossline-sorted and IBM floats.
/usr/bin/python3 - "$corpus/segy" <<'PY'
import sys, numpy as np, segyio
d = sys.argv[1]
def cube(path, fmt, sorting):
    spec = segyio.spec()
    spec.sorting, spec.format = sorting, fmt
    spec.samples, spec.ilines, spec.xlines = range(4), [1, 2], [10, 11, 12]
    with segyio.create(path, spec) as f:
        tr = 0
        outer, inner = (spec.ilines, spec.xlines) if sorting == 2 else (spec.xlines, spec.ilines)
        for o in outer:
            for i in inner:
                il, xl = (o, i) if sorting == 2 else (i, o)
                f.header[tr] = {segyio.su.iline: il, segyio.su.xline: xl}
                f.trace[tr] = np.full(4, tr, dtype=np.float32)
                tr += 1
cube(d + '/ibm_inline.ok', 1, 2)
cube(d + '/ieee_xline.ok', 5, 1)
PY
# Integer samples, big- and little-endian (format 3 int16 little-endian as real surveys are, format 8 int8).
for spec in "3 little" "8 big" "2 little"; do
    set -- $spec
    /usr/bin/python3 "$here/../py/vol_oracle.py" segy-write-fmt "$corpus/segy/fmt$1_$2.ok" "$tmp/raw" 2x3x4 1 "$1" "$2" inline
done

# Config files: the original TraceQ's keys, a bad value, a bad line, an empty file.
mkdir -p "$corpus/config"
cat > "$corpus/config/full.ok" <<'TOML'
output_dir = "/tmp/traceq-out"

[profiler]
precision = 3
enabled_metrics = ["time", "memory"]

[profiler.memory_usage]
enabled_backends = ["tracemalloc", "psutil"]
TOML
printf '[profiler]\nprecision = nine\n' > "$corpus/config/badvalue.ok"
printf 'output_dir = \n[unclosed\n' > "$corpus/config/badline.ok"
: > "$corpus/config/empty.ok"
echo "corpus written to $corpus"
