"""test_package.py - the Python package python/traceq against the real binary (run by tests/test_python.c).

usage: test_package.py TRACE MODEL SHAPE MEMORY_BYTES   (TRACEQ names the binary, PYTHONPATH holds python/)
Exits 0 when every check passes; prints what failed otherwise.
"""
import sys

import numpy as np

import traceq


def check(cond, what):
    if not cond:
        print("FAILED:", what)
        sys.exit(1)


def main(trace, model, shape_text, memory):
    shape = tuple(int(s) for s in shape_text.split("x"))

    t = traceq.read_trace(trace)
    rss = t["vm_rss_bytes"]
    check(isinstance(rss, np.ndarray) and rss.size > 0, "read_trace gives the samples as arrays")
    check(t["t_s"].shape == rss.shape and np.all(np.diff(t["t_s"]) >= 0), "sample times ascend")
    check(t["peaks"]["peak_rss"] == int(rss.max()), "peak_rss %r is the largest sample %r" %
          (t["peaks"]["peak_rss"], rss.max()))
    check(t["peaks"]["peak_heap"] >= 0 and t["peaks"]["pid"] > 0, "the peaks come along")

    p = traceq.predict(model, shape)
    check(p["predicted"] > 0 and p["bound"] >= p["predicted"], "predict: %r" % p)
    small = traceq.predict(model, (shape[0] // 2, shape[1], shape[2]))
    check(small["predicted"] < p["predicted"], "half the volume is predicted to need less")

    plan = traceq.plan(model, shape, memory, 2, halo=1)
    blocks = plan["blocks"]
    check(len(blocks) >= 2, "a limit below the whole volume's bound gives several blocks: %d" % len(blocks))
    cover = np.zeros(shape, dtype=np.int32)
    for b in blocks:
        lo, hi = b["lo"], b["hi"]
        cover[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] += 1
        check(b["predicted_bytes"] <= memory * 0.8, "block %r is planned within the limit" % (b,))
    check(np.all(cover == 1), "the blocks tile the volume exactly")
    check(plan["halo"] == "1,1,1" and plan["op"] == "cmd", "the plan records the command's halo")

    chunks = traceq.dask_chunks(model, shape, memory, 2, halo=1)
    check(len(chunks) == 3 and all(sum(c) == s for c, s in zip(chunks, shape)), "chunks %r cover %r" %
          (chunks, shape))
    starts = [sorted({b["lo"][a] for b in blocks}) for a in range(3)]
    check(all(list(np.cumsum((0,) + c[:-1])) == starts[a] for a, c in enumerate(chunks)),
          "the chunks are the plan's grid")
    try:
        import dask.array as da
    except ImportError:
        da = None
    if da is not None:  # where python3-dask is installed (make bench installs it), dask must accept them
        x = da.from_array(np.zeros(shape, np.float32), chunks=chunks)
        check(x.chunks == chunks, "dask.array.from_array accepts the chunks")

    try:
        traceq.predict(model, {"rows": 5})
        check(False, "a volume model refuses --set")
    except traceq.TraceqError as e:
        check("--shape" in str(e), "the binary's message is raised: %s" % e)
    print("python package: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
