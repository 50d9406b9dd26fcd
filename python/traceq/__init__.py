"""traceq - the traceq memory profiler and memory-aware chunking from Python (stdlib + NumPy only).

Everything here calls the `traceq` binary (found as the ``traceq=`` argument, else $TRACEQ, else on PATH) instead
of decoding traces or models a second time:

    import traceq
    t = traceq.read_trace("traceq.python3.1234.tq")      # samples as NumPy arrays, plus the trace's peaks
    p = traceq.predict("model.json", (400, 400, 400))    # {"predicted": bytes, "bound": bytes, ...}
    p = traceq.predict("params.json", {"rows": 500000, "cols": 40})     # a `sweep --param` model
    blocks = traceq.plan("model.json", (400, 400, 400), "3GiB", 2, halo=2)["blocks"]
    chunks = traceq.dask_chunks("model.json", (400, 400, 400), "3GiB", 2, halo=2)
    # dask.array.from_array(x, chunks=chunks).map_overlap(f, depth=2)

Sizes may be given as numbers of bytes or as text traceq understands ("3GiB", "1.5GB"). Errors of the binary
raise TraceqError with its message.
"""
import ast
import io
import json
import os
import shutil
import subprocess

import numpy as np

__all__ = ["TraceqError", "read_trace", "predict", "plan", "dask_chunks", "binary"]


class TraceqError(RuntimeError):
    """The traceq binary failed; the message is what it printed on stderr."""


def binary(traceq=None):
    """The traceq executable to run: the argument, else $TRACEQ, else `traceq` on PATH."""
    exe = traceq or os.environ.get("TRACEQ") or shutil.which("traceq")
    if not exe:
        raise TraceqError("cannot find the traceq binary: pass traceq=PATH or set $TRACEQ")
    return exe


def _run(args, traceq=None):
    """Run traceq with args; return its stdout (text). Raise TraceqError on a non-zero exit."""
    proc = subprocess.run([binary(traceq)] + [str(a) for a in args], stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise TraceqError(proc.stderr.strip() or "traceq %s exited with status %d" % (args[0], proc.returncode))
    return proc.stdout


def read_trace(path, traceq=None):
    """The samples and peaks of one trace file.

    Returns a dict: one NumPy array per column of `traceq export --format csv` (t_s, vm_rss_bytes,
    heap_live_bytes, mmap_live_bytes, ... one value per sample), and "peaks": the trace's summary from
    `traceq report --json` (peak_rss, peak_heap, peak_mmap, vm_hwm, pid, exe, argv, ...).
    """
    text = _run(["export", path, "--format", "csv"], traceq)
    header = text.split("\n", 1)[0].split(",")
    body = text.split("\n", 1)[1] if "\n" in text else ""
    if body.strip():
        data = np.loadtxt(io.StringIO(body), delimiter=",", ndmin=2)
    else:
        data = np.zeros((0, len(header)))
    out = {name: data[:, k] for k, name in enumerate(header)}
    report = json.loads(_run(["report", "--json", path], traceq))
    traces = report.get("traces", [])
    out["peaks"] = traces[0] if traces else {}
    return out


def _shape_arg(shape):
    if len(shape) != 3:
        raise ValueError("a shape has 3 axes (inlines, xlines, samples), got %r" % (shape,))
    return "x".join(str(int(s)) for s in shape)


def predict(model, shape, traceq=None):
    """A model's prediction for an input shape (inlines, xlines, samples), or for a program's parameters given as
    a dict {"rows": 500000, "cols": 40}. Returns `traceq predict --json`'s object: predicted, bound (bytes, or
    seconds for a wall_s model), extrapolating, warning."""
    if isinstance(shape, dict):
        arg = ["--set", ",".join("%s=%d" % (k, int(v)) for k, v in shape.items())]
    else:
        arg = ["--shape", _shape_arg(shape)]
    return json.loads(_run(["predict", "--model", model, "--json"] + arg, traceq))


def _halo_arg(halo):
    if isinstance(halo, (list, tuple)):
        if len(halo) != 3:
            raise ValueError("halo has one value per axis (3), got %r" % (halo,))
        return ",".join(str(h) for h in halo)
    return str(halo)


def _plan_args(model, shape, memory, workers, halo, trim, split_axes, safety, planner):
    args = ["plan", "--model", model, "--shape", _shape_arg(shape), "--memory", memory, "--workers", int(workers),
            "--safety", safety, "--planner", planner]
    if halo is not None:
        args += ["--halo", _halo_arg(halo)]
    if trim:
        args += ["--trim", int(trim)]
    if split_axes is not None:
        args += ["--split-axes", ",".join(str(int(a)) for a in split_axes) if split_axes else "none"]
    return args


def plan(model, shape, memory, workers, halo=None, trim=0, split_axes=None, safety=0.8, planner="traceq",
         traceq=None):
    """Plan the blocks of an operator over a volume of `shape` so each fits `memory` per worker.

    For a user's operator (a model of `traceq sweep --cmd`) give its halo (a number, or one per axis, "whole"
    allowed), trim and split axes. Returns the plan as a dict (the JSON `traceq plan` writes), with "blocks" a
    list of {"lo": [..], "hi": [..], "predicted_bytes": N} output boxes that tile the output.
    """
    args = _plan_args(model, shape, memory, workers, halo, trim, split_axes, safety, planner)
    return json.loads(_run(args + ["--format", "json"], traceq))


def dask_chunks(model, shape, memory, workers, halo=None, trim=0, split_axes=None, safety=0.8, planner="traceq",
                traceq=None):
    """The plan of `plan()` as the chunks tuple of the INPUT array, ((c, c, r), (..), (..)), which
    dask.array.from_array(x, chunks=...) and then .map_overlap(f, depth=halo) accept."""
    args = _plan_args(model, shape, memory, workers, halo, trim, split_axes, safety, planner)
    text = _run(args + ["--format", "dask"], traceq).strip()
    if not text.startswith("chunks="):
        raise TraceqError("unexpected output of traceq plan --format dask: %r" % text)
    chunks = ast.literal_eval(text[len("chunks="):])
    return tuple(tuple(int(c) for c in axis) for axis in chunks)
