#!/usr/bin/python3
"""dask_vs_traceq.py - the original system's three SciPy operators (examples/original/) chunked by traceq, side by
side with real Dask (experiment/dask_peer.py), under the same per-worker memory limit. Results: results/DASK.md.

    dask_vs_traceq.py [--fast | --full] --traceq BIN --workdir DIR [--csv FILE] [--goal-csv FILE] [--svg-prefix P]
                      [--ops envelope,gaussian_filter,gst3d] [--sides 200,400] [--runs N] [--runs-400 N]
                      [--limits original,0.5,0.25] [--fixed 0.5] [--strategies LIST] [--no-goal]
    dask_vs_traceq.py --report CSV [--goal-csv FILE] [--svg-prefix P]   (tables and SVG from a finished CSV)

Per operator: `traceq sweep --cmd` at small shapes (a 12-shape grid, timed), `traceq fit`, and the goal check (the
model predicts a 4x larger volume than the largest swept one; that volume is then measured by a one-shape sweep).
Per side: a float32 N(0,1) input (seed 1), the whole-volume reference (the command run once on the whole volume,
in a memory-capped cgroup; where the original's model puts the whole run above --max-whole, the driver computes it
in overlapping slabs along inlines itself, with the operator's halo, and says so in the CSV), and the measured
whole-volume peak. Per case (op, side, limit), strategies run in turn, run after run (A B C A B C):
  none         traceq run --chunks none               (the whole volume as one block; runner splits after OOM kills)
  seed         traceq run --planner seed, with the original's own linear models (thesis slopes: Envelope 27,
               Gaussian 9, GST3D 240 B/voxel, + 0.1 GB), which reproduce its choices (100^3 at 200^3/1.5 GB,
               200^3 at 400^3/3 GB)
  traceq       traceq run --planner traceq with the model fitted on the sweep
  fixed-F      traceq run --chunks C,C,C with C = F x side (Envelope keeps samples whole)
  dask-auto    dask_peer.py --chunks auto            (LocalCluster, memory_limit = the limit)
  dask-seed    dask_peer.py --chunks S,S,S with S = the seed plan's cube side (the original's own chunk choice)
Every strategy: 2 workers, one thread each (OMP/OPENBLAS/MKL_NUM_THREADS=1), the same limit per worker (traceq:
the runner's cgroup; Dask: memory_limit, the nanny restarts a worker at 95%), `--retries 2` for traceq (a killed
block is split), Dask's allowed-failures 3 (then KilledWorker). Dask runs inside a guard cgroup of
min(workers x limit + 2 GB, --max-total) so that no run can take the shared machine down; kills by that guard
are counted apart (guard_oom). Limits: `original` (1.5 GB at 200^3, 3 GB at 400^3) and tight ones F of the
way from the operator's floor (the smallest peak of its sweep: the interpreter and SciPy alone) to
min(measured whole-volume peak, the original's limit): floor + F x (peak - floor). A run gets
min(--timeout, max(180 s, 6 x the whole-volume reference's wall time)); a Dask worker paused at 80% of its limit
waits forever, so a hang ends as a timeout (not completed).

Each finished run appends one CSV row (fsynced); rerunning skips rows already there. Exit 0 when done, 2 on bad
arguments, 1 when a step the experiment needs (the sweep, the fit, the reference) failed.
"""
import argparse
import csv
import json
import math
import os
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
ORIGINAL_DIR = os.path.join(SRC, "examples", "original")
PYTHON = "/usr/bin/python3"
GB = 1e9

# op -> script, halo, trim, samples axis whole, the original's linear model (intercept bytes, bytes per voxel)
OPS = {
    "envelope": ("envelope.py", "0,0,whole", 0, True, (1e8, 27.0)),
    "gaussian_filter": ("gaussian_filter.py", "12", 0, False, (1e8, 9.0)),
    "gst3d": ("gst3d.py", "2", 1, False, (1e8, 240.0)),
}
ORIGINAL_LIMIT = {200: 1.5e9, 400: 3e9}
STRATEGIES = ["none", "seed", "traceq", "fixed", "dask-auto", "dask-seed"]
FIELDS = ["op", "side", "limit", "limit_bytes", "strategy", "run", "completed", "error", "oom_kills", "restarts",
          "killed_worker", "guard_oom", "blocks", "chunk", "wall_s", "cpu_s", "peak_worker_bytes", "peaks",
          "equal", "max_abs_diff", "whole_peak_bytes", "load_start", "load_end", "utc"]
GOAL_FIELDS = ["op", "sweep_shapes", "sweep_s", "fit_s", "kind", "largest_swept_volume", "shape", "volume",
               "predicted_bytes", "bound_bytes", "measured_bytes", "error", "within_5pct", "utc"]


def command(op):
    return f"{PYTHON} {os.path.join(ORIGINAL_DIR, OPS[op][0])} {{in}} {{out}}"


def load1():
    return round(os.getloadavg()[0], 2)


def mem_available():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


class Guard:
    """A cgroup v1 memory group (swap included) a run is started in, so that no run exceeds `limit` bytes."""

    def __init__(self, limit):
        self.path = None
        base = "/sys/fs/cgroup/memory"
        try:
            with open("/proc/self/cgroup") as f:
                rel = next(line.strip().split(":", 2)[2] for line in f if line.split(":")[1] == "memory")
            path = os.path.join(base + rel, f"tq-dask-guard-{os.getpid()}-{time.monotonic_ns()}")
            os.mkdir(path)
            self.path = path
            for name in ("memory.limit_in_bytes", "memory.memsw.limit_in_bytes"):
                try:
                    with open(os.path.join(path, name), "w") as f:
                        f.write(str(int(limit)))
                except OSError:
                    if name == "memory.limit_in_bytes":
                        raise
        except (OSError, StopIteration, IndexError):
            self.close()
            self.path = None

    def enter(self):  # runs in the child before exec
        if self.path:
            with open(os.path.join(self.path, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))

    def oom_kills(self):
        try:
            with open(os.path.join(self.path, "memory.oom_control")) as f:
                for line in f:
                    if line.startswith("oom_kill "):
                        return int(line.split()[1])
        except (OSError, TypeError):
            pass
        return 0

    def close(self):
        if not self.path:
            return
        for _ in range(50):
            try:
                os.rmdir(self.path)
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.2)


CHILDREN = set()  # sessions of the runs under way, ended with the driver


def end_children(signum, _frame):
    for pid in list(CHILDREN):
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    sys.exit(128 + signum)


def run_child(argv, timeout, guard=None, env=None):
    """Runs argv in its own session; returns (rc, stdout, stderr tail, wall s, cpu s of it and its waited
    descendants, max RSS of one of them). On timeout the whole session gets SIGTERM, then SIGKILL."""
    t0 = time.monotonic()
    out = tempfile.TemporaryFile()
    errf = tempfile.TemporaryFile()
    p = subprocess.Popen(argv, stdout=out, stderr=errf, start_new_session=True, env=env,
                         preexec_fn=guard.enter if guard and guard.path else None)
    CHILDREN.add(p.pid)
    deadline = t0 + timeout
    status, ru, timed_out = None, None, False
    while status is None:
        pid, st, r = os.wait4(p.pid, os.WNOHANG)
        if pid:
            status, ru = st, r
            break
        if time.monotonic() > deadline and not timed_out:
            timed_out = True
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(p.pid, sig)
                except ProcessLookupError:
                    break
                time.sleep(5)
        time.sleep(0.05)
    CHILDREN.discard(p.pid)
    p.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - t0
    out.seek(0)
    errf.seek(0)
    stdout = out.read().decode(errors="replace")
    stderr = errf.read().decode(errors="replace")
    rc = -999 if timed_out else p.returncode
    return rc, stdout, stderr[-2000:], wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss * 1024


def one_thread_env():
    env = dict(os.environ)
    for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[k] = "1"
    return env


def write_original_model(path, op):
    intercept, per_voxel = OPS[op][4]
    model = {"format": "traceq-model", "version": 2, "op": "cmd", "target": "peak_rss_bytes",
             "training": {"points": 64, "inlines": [100, 400], "xlines": [100, 400], "samples": [100, 400],
                          "volume": [1e6, 6.4e7]},
             "cv": {"folds": 5, "seed": 42, "rmse": 0, "mae": 0, "r2": 1, "accuracy": 1},
             "residuals": {"max_under_bytes": 0, "max_under_relative": 0},
             "bound": {"margin_bytes": 0, "margin_relative": 0},
             "extrapolation": {"margin_relative_per_log_factor": 0},
             "kind": "linear", "features": ["intercept", "volume"], "coefficients": [intercept, per_voxel]}
    with open(path, "w") as f:
        json.dump(model, f)


def original_estimate(op, side):
    intercept, per_voxel = OPS[op][4]
    return intercept + per_voxel * side ** 3


class Driver:
    def __init__(self, args):
        self.a = args
        self.T = os.path.abspath(args.traceq)
        self.work = os.path.abspath(args.workdir)
        os.makedirs(self.work, exist_ok=True)
        self.env = one_thread_env()
        self.done = set()
        if os.path.exists(args.csv):
            with open(args.csv) as f:
                for row in csv.DictReader(f):
                    self.done.add((row["op"], row["side"], row["limit"], row["strategy"], row["run"]))

    def log(self, msg):
        print(f"[{time.strftime('%H:%M:%S', time.gmtime())} load {load1()}] {msg}", file=sys.stderr, flush=True)

    def traceq(self, *argv, timeout=600, guard=None):
        return run_child([self.T, *argv], timeout, guard=guard, env=self.env)

    # ---- model: sweep, fit, goal ----
    def model(self, op):
        ds = os.path.join(self.work, f"{op}-sweep.csv")
        model = os.path.join(self.work, f"{op}-model.json")
        grid = ["--grid-inlines", "50:100:50", "--grid-xlines", "50:100:50", "--grid-samples", "40:100:30"]
        if not os.path.exists(model):
            self.log(f"{op}: sweep (12 shapes)")
            rc, _, err, sweep_s, _, _ = self.traceq("sweep", "--cmd", command(op), *grid, "--runs", "1", "-o", ds,
                                                     timeout=1800)
            if rc != 0:
                sys.exit(f"dask_vs_traceq: the sweep of {op} failed: {err.strip()[-500:]}")
            rc, out, err, fit_s, _, _ = self.traceq("fit", ds, "-o", model, timeout=600)
            if rc != 0:
                sys.exit(f"dask_vs_traceq: the fit of {op} failed: {err.strip()[-500:]}")
            with open(model + ".timing", "w") as f:
                json.dump({"sweep_s": sweep_s, "fit_s": fit_s}, f)
        orig = os.path.join(self.work, f"{op}-original-model.json")
        write_original_model(orig, op)
        return model, orig

    def goal(self, op, model):
        """The model predicts a volume 4x the largest swept one (100x200x200 against 100^3); measure it."""
        if not self.a.goal_csv or any(r.get("op") == op for r in read_rows(self.a.goal_csv)):
            return
        with open(model + ".timing") as f:
            timing = json.load(f)
        with open(model) as f:
            m = json.load(f)
        shape = (100, 200, 200)
        rc, out, err, _, _, _ = self.traceq("predict", "--model", model, "--shape", "x".join(map(str, shape)),
                                            "--json")
        if rc != 0:
            sys.exit(f"dask_vs_traceq: predict failed: {err.strip()}")
        pred = json.loads(out)
        ds = os.path.join(self.work, f"{op}-goal.csv")
        self.log(f"{op}: measuring {shape} for the 4x goal")
        rng = [f"{shape[0]}:{shape[0]}:1", f"{shape[1]}:{shape[1]}:1", f"{shape[2]}:{shape[2]}:1"]
        rc, _, err, _, _, _ = self.traceq("sweep", "--cmd", command(op), "--grid-inlines", rng[0], "--grid-xlines",
                                          rng[1], "--grid-samples", rng[2], "--runs", "1", "-o", ds, timeout=900)
        measured = None
        target = m.get("target", "peak_rss_bytes")  # the figure the model predicts (charged_peak_bytes by default)
        for row in read_rows(ds):
            if row.get("status") == "ok" and float(row.get(target) or 0) > 0:
                measured = float(row[target])
        predicted = float(pred["predicted"])
        bound = float(pred["bound"])
        error = (predicted - measured) / measured if measured else float("nan")
        append_row(self.a.goal_csv, GOAL_FIELDS, {
            "op": op, "sweep_shapes": 12, "sweep_s": round(timing["sweep_s"], 1), "fit_s": round(timing["fit_s"], 1),
            "kind": m.get("kind", "?") + ("(" + "+".join(c["kind"] for c in m.get("components", [])) + ")"
                                          if m.get("components") else ""),
            "largest_swept_volume": 100 ** 3, "shape": "x".join(map(str, shape)), "volume": math.prod(shape),
            "predicted_bytes": int(predicted), "bound_bytes": int(bound),
            "measured_bytes": int(measured) if measured else "", "error": f"{error:+.4f}",
            "within_5pct": int(abs(error) <= 0.05) if measured else "", "utc": utc()})

    # ---- input, reference ----
    def volume(self, side):
        path = os.path.join(self.work, f"in-{side}.npy")
        if not os.path.exists(path):
            rng = np.random.default_rng(1)
            x = np.empty((side, side, side), dtype=np.float32)
            for i in range(side):
                x[i] = rng.standard_normal((side, side), dtype=np.float32)
            np.save(path + ".tmp.npy", x)
            os.rename(path + ".tmp.npy", path)
        return path

    def reference(self, op, side, inp):
        """The whole-volume result and its measured peak (or the original model's estimate when computed in
        slabs)."""
        ref = os.path.join(self.work, f"ref-{op}-{side}.npy")
        meta = ref + ".json"
        if os.path.exists(meta):
            with open(meta) as f:
                return ref, json.load(f)
        cmd = shlex.split(command(op))
        est = original_estimate(op, side)
        guard = Guard(self.a.max_total)
        try:
            if est <= self.a.max_whole:
                self.log(f"{op} {side}^3: whole-volume reference")
                rc, _, err, wall, cpu, maxrss = run_child([c.replace("{in}", inp).replace("{out}", ref) for c in cmd],
                                                          3600, guard=guard, env=self.env)
                if rc != 0:
                    sys.exit(f"dask_vs_traceq: the whole-volume run of {op} at {side}^3 failed ({rc}): {err[-400:]}")
                info = {"how": "whole", "peak_bytes": maxrss, "wall_s": wall, "cpu_s": cpu}
            else:
                info = self.slab_reference(op, side, inp, ref, est, guard)
        finally:
            guard.close()
        with open(meta, "w") as f:
            json.dump(info, f)
        return ref, info

    def slab_reference(self, op, side, inp, ref, est, guard):
        """The whole-volume result computed in slabs along inlines by the driver itself (not by traceq): each slab's
        input grown by the halo (clamped to the volume), its core cut out of the command's output."""
        _, halo_s, trim, _, _ = OPS[op]
        halo = int(halo_s.split(",")[0]) if halo_s.split(",")[0] != "whole" else 0
        n = max(2, math.ceil(est / self.a.max_whole))
        x = np.load(inp, mmap_mode="r")
        out_side = side - 2 * trim
        result = np.lib.format.open_memmap(ref + ".tmp.npy", mode="w+", dtype=np.float32,
                                           shape=(out_side, side - 2 * trim, side - 2 * trim))
        edges = np.linspace(0, out_side, n + 1).astype(int)
        peak, cpu, wall = 0, 0.0, 0.0
        self.log(f"{op} {side}^3: reference in {n} slabs (whole run estimated at {est / GB:.1f} GB)")
        with tempfile.TemporaryDirectory(dir=self.work) as tmp:
            for lo, hi in zip(edges[:-1], edges[1:]):
                ilo, ihi = max(0, lo + trim - halo), min(side, hi + trim + halo)  # input rows, halo included
                pin, pout = os.path.join(tmp, "in.npy"), os.path.join(tmp, "out.npy")
                np.save(pin, np.ascontiguousarray(x[ilo:ihi]))
                argv = [c.replace("{in}", pin).replace("{out}", pout) for c in shlex.split(command(op))]
                rc, _, err, w, c, maxrss = run_child(argv, 3600, guard=guard, env=self.env)
                if rc != 0:
                    sys.exit(f"dask_vs_traceq: a reference slab of {op} failed ({rc}): {err[-400:]}")
                y = np.load(pout)
                first = (lo + trim) - ilo - trim  # output row of the slab's first core row
                result[lo:hi] = y[first:first + (hi - lo)]
                peak, cpu, wall = max(peak, maxrss), cpu + c, wall + w
        result.flush()
        del result
        os.rename(ref + ".tmp.npy", ref)
        return {"how": f"{n} slabs", "peak_bytes": int(est), "slab_peak_bytes": peak, "wall_s": wall,
                "cpu_s": cpu}

    # ---- one run of one strategy ----
    def run_traceq(self, op, side, inp, limit, strategy, extra, model, orig):
        _, halo, trim, whole_samples, _ = OPS[op]
        out = os.path.join(self.work, f"out-{op}-{side}-{strategy}.npy")
        argv = ["run", "--cmd", command(op), "--halo", halo, "--trim", str(trim), "--input", inp, "--output", out,
                "--workers", str(self.a.workers), "--memory-per-worker", str(int(limit)), "--retries", "2", "--json",
                "--force"]
        if strategy == "none":
            argv += ["--chunks", "none"]
        elif strategy == "seed":
            argv += ["--planner", "seed", "--model", orig]
        elif strategy == "traceq":
            argv += ["--planner", "traceq", "--model", model]
        else:
            c = max(1, int(round(extra * side)))
            argv += ["--chunks", f"{c},{c},{side if whole_samples else c}"]
        rc, stdout, err, wall, cpu, _ = self.traceq(*argv, timeout=self.run_timeout)
        row = {"completed": 0, "error": "", "oom_kills": "", "restarts": 0, "killed_worker": 0, "guard_oom": 0,
               "blocks": "", "chunk": "", "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
               "peak_worker_bytes": "", "peaks": ""}
        try:
            rep = json.loads(stdout) if stdout.strip() else {}
        except json.JSONDecodeError:
            rep = {}
        if rep:
            peaks = [w["rss_peak_bytes"] for w in rep.get("per_worker", [])]
            row.update(oom_kills=rep.get("oom_kills", ""), blocks=rep.get("blocks_run", ""),
                       peak_worker_bytes=max(peaks) if peaks else "", peaks=";".join(map(str, peaks)))
            row["chunk"] = "x".join(str(v) for v in rep.get("block", []) or [])
        if rc == 0 and rep.get("ok", True):
            row["completed"] = 1
        else:
            row["error"] = "timeout" if rc == -999 else (rep.get("error") or " ".join(
                (err.strip().splitlines() or ["exit %d" % rc])[-1:]))[:200]
        return row, out

    def run_dask(self, op, side, inp, limit, chunks):
        out = os.path.join(self.work, f"out-{op}-{side}-dask.npy")
        if os.path.exists(out):
            os.unlink(out)
        argv = [PYTHON, os.path.join(HERE, "dask_peer.py"), "--op", op, "--input", inp, "--output", out,
                "--workers", str(self.a.workers), "--memory-limit", str(int(limit)), "--chunks", chunks,
                "--timeout", str(self.run_timeout)]
        guard = Guard(min(self.a.workers * limit + 2 * GB, self.a.max_total))
        try:
            rc, stdout, err, wall, cpu, _ = run_child(argv, self.run_timeout + 60, guard=guard, env=self.env)
            guard_oom = guard.oom_kills()
        finally:
            guard.close()
        row = {"completed": 0, "error": "", "oom_kills": "", "restarts": 0, "killed_worker": 0,
               "guard_oom": guard_oom, "blocks": "", "chunk": "", "wall_s": round(wall, 3),
               "cpu_s": round(cpu, 3), "peak_worker_bytes": "", "peaks": ""}
        try:
            rep = json.loads(stdout.strip().splitlines()[-1]) if stdout.strip() else {}
        except json.JSONDecodeError:
            rep = {}
        if rep:
            peaks = rep.get("peak_worker_bytes", [])
            row.update(completed=int(bool(rep.get("completed"))), error=(rep.get("error") or "")[:200],
                       restarts=rep.get("restarts", 0), killed_worker=int(bool(rep.get("killed_worker"))),
                       blocks=rep.get("n_chunks", ""), chunk="x".join(map(str, rep.get("chunks", []))),
                       cpu_s=round(max(cpu, rep.get("cpu_s", 0)), 3),
                       peak_worker_bytes=max(peaks) if peaks else "", peaks=";".join(map(str, peaks)))
        else:
            row["error"] = ("timeout" if rc == -999 else " ".join(err.strip().splitlines()[-1:]))[:200]
        row["oom_kills"] = row["restarts"]
        return row, out

    def seed_side(self, op, side, limit, orig):
        _, halo, trim, _, _ = OPS[op]
        rc, out, err, _, _, _ = self.traceq("plan", "--model", orig, "--planner", "seed", "--shape",
                                            f"{side}x{side}x{side}", "--memory", str(int(limit)), "--workers",
                                            str(self.a.workers), "--halo", halo, "--trim", str(trim), "--format",
                                            "dask")
        if rc != 0:
            sys.exit(f"dask_vs_traceq: the seed plan failed: {err.strip()}")
        axis0 = [int(v) for v in out.split("((", 1)[1].split(")", 1)[0].split(",") if v.strip()]
        if len(axis0) == 1:
            return side  # one chunk
        return axis0[0] - trim  # the seed's cube side s: its first input chunk is s + trim

    # ---- a case ----
    def case(self, op, side, limit_label, limit, whole_peak, model, orig, inp, ref, runs):
        strategies = []
        for s in self.a.strategies:
            if s == "fixed":
                strategies += [(f"fixed-{f:g}", f) for f in self.fixed_for(side)]
            else:
                strategies.append((s, None))
        seed_s = self.seed_side(op, side, limit, orig)
        self.log(f"case {op} {side}^3 at {limit / GB:.3f} GB ({limit_label}); seed side {seed_s}")
        for run in range(1, runs + 1):
            for name, extra in strategies:
                key = (op, str(side), limit_label, name, str(run))
                if key in self.done:
                    continue
                if side >= 400:
                    self.wait_for_memory()
                l0 = load1()
                if name.startswith("dask-"):
                    chunks = "auto" if name == "dask-auto" else f"{seed_s},{seed_s},{seed_s}"
                    row, out = self.run_dask(op, side, inp, limit, chunks)
                else:
                    row, out = self.run_traceq(op, side, inp, limit, name, extra, model, orig)
                eq, diff = compare(out, ref) if row["completed"] else ("", "")
                if os.path.exists(out):
                    os.unlink(out)
                row.update(op=op, side=side, limit=limit_label, limit_bytes=int(limit), strategy=name, run=run,
                           equal=eq, max_abs_diff=diff, whole_peak_bytes=int(whole_peak), load_start=l0,
                           load_end=load1(), utc=utc())
                append_row(self.a.csv, FIELDS, row)
                self.done.add(key)
                self.log(f"  {name} run {run}: completed={row['completed']} oom/restarts={row['oom_kills']} "
                         f"wall={row['wall_s']} cpu={row['cpu_s']} equal={eq} {row['error'][:80]}")

    def fixed_for(self, side):
        if self.a.fixed is not None:
            return self.a.fixed
        return [0.5] if side <= 200 else [0.25]

    def wait_for_memory(self):
        need = self.a.max_total + 1 * GB
        for _ in range(60):
            if mem_available() >= need:
                return
            self.log(f"waiting: MemAvailable {mem_available() / GB:.1f} GB < {need / GB:.1f} GB")
            time.sleep(10)

    def main(self):
        for op in self.a.ops:
            model, orig = self.model(op)
            if not self.a.no_goal:
                self.goal(op, model)
            for side in self.a.sides:
                inp = self.volume(side)
                ref, info = self.reference(op, side, inp)
                whole = info["peak_bytes"]
                base = min(whole, ORIGINAL_LIMIT.get(side, whole))
                floor = min(float(r["peak_rss_bytes"]) for r in read_rows(os.path.join(self.work, f"{op}-sweep.csv"))
                            if r.get("status") == "ok")
                self.run_timeout = min(self.a.timeout, max(180.0, 6 * info["wall_s"]))
                runs = self.a.runs if side <= 200 else self.a.runs_400
                for label in self.a.limits:
                    if label == "original":
                        if side not in ORIGINAL_LIMIT:
                            continue
                        limit = ORIGINAL_LIMIT[side]
                    else:
                        limit = floor + float(label) * (base - floor)
                    self.case(op, side, label, limit, whole, model, orig, inp, ref, runs)


def compare(out, ref):
    """'bit' when equal bit for bit, 'tol' within 1e-5 relative + 1e-4 absolute, else 'no'; and the max abs diff."""
    try:
        a, b = np.load(out, mmap_mode="r"), np.load(ref, mmap_mode="r")
    except (OSError, ValueError) as e:
        return f"unreadable: {e}"[:60], ""
    if a.shape != b.shape:
        return "shape " + "x".join(map(str, a.shape)), ""
    diff, bit, close = 0.0, True, True
    for i in range(0, a.shape[0], 16):
        x, y = np.asarray(a[i:i + 16]), np.asarray(b[i:i + 16])
        if not np.array_equal(x, y):
            bit = False
            diff = max(diff, float(np.max(np.abs(x.astype(np.float64) - y))))
            close = close and bool(np.allclose(x, y, rtol=1e-5, atol=1e-4))
    return ("bit" if bit else "tol" if close else "no"), f"{diff:.3g}"


def utc():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def read_rows(path):
    if not path or not os.path.exists(path):
        return []
    with open(path) as f:
        return list(csv.DictReader(f))


def append_row(path, fields, row):
    new = not os.path.exists(path) or os.path.getsize(path) == 0
    with open(path, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        if new:
            w.writeheader()
        w.writerow(row)
        f.flush()
        os.fsync(f.fileno())


# ---- the report: markdown tables and SVG charts from the CSV ----
def fmt_bytes(v):
    return f"{float(v) / 2 ** 30:.2f} GiB" if v not in ("", None) else "-"


def summarize(rows):
    cases = {}
    for r in rows:
        cases.setdefault((r["op"], int(r["side"]), r["limit"], int(r["limit_bytes"])), {}).setdefault(
            r["strategy"], []).append(r)
    return cases


def med(xs):
    return statistics.median(xs) if xs else float("nan")


DASK_ALLOWED_FAILURES = 3  # dask_peer.py's distributed.scheduler.allowed-failures


def worker_deaths(r):
    """traceq: its OOM kills. Dask: the nanny restarts seen by the 0.2 s poll, and at least allowed-failures + 1
    when KilledWorker was raised (the scheduler gives up on a task after that many workers died running it; a
    poll can miss a worker that lived less than 0.2 s)."""
    n = int(r["oom_kills"] or 0) if r["oom_kills"] not in ("", None) else int(r["restarts"] or 0)
    if r["killed_worker"] == "1":
        n = max(n, DASK_ALLOWED_FAILURES + 1)
    return n


def goal_verdict(checks, tq_ok, tq_kills, dask):
    """met: traceq completed every run with 0 OOM kills, and against every Dask strategy it is >= 30% faster
    (where Dask completed) or completed where Dask did not; 'no Dask runs' when the case has none."""
    if not dask:
        return "no Dask runs" if tq_ok and tq_kills == 0 else "not met (no Dask runs)"
    return "met" if checks and all(checks) and tq_ok and tq_kills == 0 else "not met"


def report(csv_path, goal_csv, svg_prefix):
    rows = read_rows(csv_path)
    cases = summarize(rows)
    print("| op | side | limit | strategy | completed | OOM kills / worker deaths | KilledWorker | median wall s "
          "(min..max) | median CPU s | peak/worker | output | load |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    goals = []
    for (op, side, label, limit), strats in sorted(cases.items(), key=lambda kv: (kv[0][0], kv[0][1], -kv[0][3])):
        walls = {}
        for name, rs in strats.items():
            ok = [r for r in rs if r["completed"] == "1"]
            w = [float(r["wall_s"]) for r in ok]
            c = [float(r["cpu_s"]) for r in ok]
            kills = sum(worker_deaths(r) for r in rs)
            kw = sum(int(r["killed_worker"] or 0) for r in rs)
            guard = sum(int(r["guard_oom"] or 0) for r in rs)
            peaks = [float(r["peak_worker_bytes"]) for r in rs if r["peak_worker_bytes"]]
            eqs = sorted({r["equal"] for r in ok})
            diffs = [float(r["max_abs_diff"]) for r in ok if r["max_abs_diff"] not in ("", "0")]
            eq = "/".join(eqs) + (f" (max diff {max(diffs):.2g})" if diffs else "") if eqs else "-"
            loads = [float(r["load_start"]) for r in rs] + [float(r["load_end"]) for r in rs]
            if w:
                walls[name] = med(w)
            errs = sorted({r["error"][:60] for r in rs if r["completed"] != "1"})
            print(f"| {op} | {side}^3 | {label} ({limit / GB:.3g} GB) | {name} | {len(ok)}/{len(rs)} | "
                  f"{kills}{f' (+{guard} guard)' if guard else ''} | {kw} | "
                  + (f"{med(w):.1f} ({min(w):.1f}..{max(w):.1f})" if w else "-") + " | "
                  + (f"{med(c):.1f}" if c else "-") + f" | {fmt_bytes(max(peaks)) if peaks else '-'} | {eq}"
                  + (f"; failed: {'; '.join(errs)}" if errs else "") + f" | {min(loads):.1f}..{max(loads):.1f} |")
        tq = strats.get("traceq", [])
        tq_ok = all(r["completed"] == "1" for r in tq) and tq
        tq_kills = sum(int(r["oom_kills"] or 0) for r in tq)
        dask = {n: rs for n, rs in strats.items() if n.startswith("dask-")}
        goals.append((op, side, label, limit, tq_ok, tq_kills, walls, dask))
    print()
    print("| op | side | limit | traceq completed, OOM kills | traceq median s | Dask strategies | "
          "traceq vs Dask (wall) | goal |")
    print("|---|---|---|---|---|---|---|---|")
    for op, side, label, limit, tq_ok, tq_kills, walls, dask in goals:
        parts, vs, verdict = [], [], []
        for n, rs in sorted(dask.items()):
            ok = sum(r["completed"] == "1" for r in rs)
            rest = sum(worker_deaths(r) for r in rs)
            parts.append(f"{n}: {ok}/{len(rs)} completed, {rest} worker deaths")
            if n in walls and "traceq" in walls:
                pct = (walls["traceq"] - walls[n]) / walls[n] * 100
                vs.append(f"{pct:+.0f}% vs {n}")
                verdict.append(pct <= -30)
            if ok < len(rs) or rest:
                verdict.append(bool(tq_ok))
        print(f"| {op} | {side}^3 | {label} ({limit / GB:.3g} GB) | {'yes' if tq_ok else 'NO'}, {tq_kills} | "
              f"{walls.get('traceq', float('nan')):.1f} | {'; '.join(parts)} | {', '.join(vs) or '-'} | "
              f"{goal_verdict(verdict, tq_ok, tq_kills, dask)} |")
    grows = read_rows(goal_csv)
    if grows:
        print()
        print("| op | sweep (12 shapes) s | fit s | model | predicted 100x200x200 | measured | error | within 5% |")
        print("|---|---|---|---|---|---|---|---|")
        for g in grows:
            print(f"| {g['op']} | {g['sweep_s']} | {g['fit_s']} | {g['kind']} | {fmt_bytes(g['predicted_bytes'])} | "
                  f"{fmt_bytes(g['measured_bytes'])} | {float(g['error']) * 100:+.1f}% | "
                  f"{'yes' if g['within_5pct'] == '1' else 'no'} |")
    if svg_prefix:
        for side in sorted({k[1] for k in cases}):
            path = f"{svg_prefix}-{side}.svg"
            write_svg(path, {k: v for k, v in cases.items() if k[1] == side}, side)
            print(f"\nwrote {path}", file=sys.stderr)


COLORS = {"none": "#888888", "seed": "#d62728", "traceq": "#2ca02c", "dask-auto": "#1f77b4",
          "dask-seed": "#9467bd"}


def write_svg(path, cases, side):
    """Horizontal bars: median wall time per strategy and case, min..max whiskers; a failed strategy gets a cross
    and its count of completed runs."""
    keys = sorted(cases, key=lambda k: (k[0], -k[3]))
    names = []
    for k in keys:
        for n in cases[k]:
            if n not in names:
                names.append(n)
    walls = [float(r["wall_s"]) for k in keys for rs in cases[k].values() for r in rs if r["completed"] == "1"]
    top = max(walls) if walls else 1.0
    bar, gap, left, width = 14, 18, 260, 560
    height = 60 + sum(len(cases[k]) * bar + gap for k in keys) + 40
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 200}" height="{height}" '
           f'font-family="sans-serif" font-size="11">',
           f'<text x="10" y="20" font-size="14">traceq vs real Dask, {side}^3, 2 workers: median wall time '
           f'(whiskers min..max; x = some runs failed)</text>']
    y = 40
    for k in keys:
        op, _, label, limit = k
        out.append(f'<text x="10" y="{y + 10}" font-weight="bold">{op} @ {limit / GB:.3g} GB ({label})</text>')
        for n in names:
            if n not in cases[k]:
                continue
            rs = cases[k][n]
            ok = [float(r["wall_s"]) for r in rs if r["completed"] == "1"]
            color = COLORS.get(n, "#ff7f0e")
            out.append(f'<text x="{left - 6}" y="{y + bar - 3}" text-anchor="end">{n}</text>')
            if ok:
                w = med(ok) / top * width
                out.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar - 2}" fill="{color}"/>')
                lo, hi = min(ok) / top * width, max(ok) / top * width
                out.append(f'<line x1="{left + lo:.1f}" x2="{left + hi:.1f}" y1="{y + bar / 2 - 1}" '
                           f'y2="{y + bar / 2 - 1}" stroke="black"/>')
                out.append(f'<text x="{left + hi + 4:.1f}" y="{y + bar - 3}">{med(ok):.1f} s'
                           f'{"" if len(ok) == len(rs) else f" ({len(ok)}/{len(rs)} completed)"}</text>')
            else:
                out.append(f'<text x="{left + 4}" y="{y + bar - 3}" fill="#d62728">x failed ({len(rs)} runs)</text>')
            y += bar
        y += gap
    out.append(f'<line x1="{left}" x2="{left + width}" y1="{y}" y2="{y}" stroke="black"/>')
    out.append(f'<text x="{left}" y="{y + 14}">0 s</text><text x="{left + width}" y="{y + 14}" '
               f'text-anchor="end">{top:.0f} s</text></svg>')
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(out) + "\n")
    os.replace(tmp, path)


def parse_list(text, conv, what):
    try:
        return [conv(v) for v in text.split(",") if v]
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad {what}: {text}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--fast", action="store_true", help="200^3 only, 1 run per strategy (make bench; default)")
    mode.add_argument("--full", action="store_true", help="200^3 (3 runs) and 400^3 (1 run)")
    mode.add_argument("--report", metavar="CSV", help="print the tables (and write the SVGs) of a finished CSV")
    ap.add_argument("--traceq", help="the traceq binary")
    ap.add_argument("--workdir", help="inputs, references, models and outputs (large at 400^3)")
    ap.add_argument("--csv", help="results CSV to create or extend (default WORKDIR/dask.csv)")
    ap.add_argument("--goal-csv", help="the 4x prediction goal's CSV (default WORKDIR/goal.csv)")
    ap.add_argument("--svg-prefix", help="with --report: write PREFIX-SIDE.svg")
    ap.add_argument("--ops", type=lambda t: parse_list(t, str, "operators"), default=list(OPS))
    ap.add_argument("--sides", type=lambda t: parse_list(t, int, "sides"))
    ap.add_argument("--runs", type=int)
    ap.add_argument("--runs-400", type=int)
    ap.add_argument("--limits", type=lambda t: parse_list(t, str, "limits"), default=["original", "0.5", "0.25"])
    ap.add_argument("--fixed", type=lambda t: parse_list(t, float, "fractions"))
    ap.add_argument("--strategies", type=lambda t: parse_list(t, str, "strategies"), default=STRATEGIES)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=1200.0, help="seconds per run")
    ap.add_argument("--max-whole", type=float, default=7e9, help="whole-volume references above this (the "
                    "original model's estimate) are computed in slabs")
    ap.add_argument("--max-total", type=float, default=7.5e9, help="guard cgroup cap of one Dask run / reference")
    ap.add_argument("--no-goal", action="store_true", help="skip the 4x prediction goal")
    a = ap.parse_args()
    if a.report:
        if not os.path.exists(a.report):
            ap.error(f"{a.report}: no such file")
        report(a.report, a.goal_csv, a.svg_prefix)
        return
    if not a.traceq or not a.workdir:
        ap.error("--traceq and --workdir are required (or --report CSV)")
    if not os.access(a.traceq, os.X_OK):
        ap.error(f"--traceq {a.traceq}: not an executable")
    for op in a.ops:
        if op not in OPS:
            ap.error(f"unknown operator {op} (expected {', '.join(OPS)})")
    for s in a.strategies:
        if s not in STRATEGIES:
            ap.error(f"unknown strategy {s} (expected {', '.join(STRATEGIES)})")
    for label in a.limits:
        if label != "original":
            try:
                if not 0 < float(label) <= 1:
                    raise ValueError
            except ValueError:
                ap.error(f"bad limit {label}: 'original' or a fraction in (0, 1]")
    if a.fixed is not None and any(not 0 < f <= 1 for f in a.fixed):
        ap.error("--fixed fractions must be in (0, 1]")
    a.sides = a.sides or ([200, 400] if a.full else [200])
    a.runs = a.runs or (3 if a.full else 1)
    a.runs_400 = a.runs_400 or 1
    if min(a.sides) < 16 or a.runs < 1 or a.runs_400 < 1 or a.workers < 1 or a.timeout <= 0:
        ap.error("sides must be >= 16; runs, workers and timeout positive")
    a.csv = a.csv or os.path.join(a.workdir, "dask.csv")
    a.goal_csv = a.goal_csv or os.path.join(a.workdir, "goal.csv")
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, end_children)
    Driver(a).main()


if __name__ == "__main__":
    main()
