#!/usr/bin/python3
"""dask_peer.py - one run of the original system's operators on real Dask, the peer traceq's chunking is measured
against (python3-dask and python3-distributed from Debian; `make bench` installs them).

    dask_peer.py --op envelope|gaussian_filter|gst3d --input IN.npy --output OUT.npy --workers W
                 --memory-limit BYTES [--chunks auto|A,B,C] [--timeout SECONDS]

As the original's exp-03 notebook did: a LocalCluster of W worker processes, one thread each, memory_limit per worker
(the nanny pauses a worker at 80% and restarts it at 95%); the whole input is loaded in the client and handed to
da.from_array with the given chunks (`auto`: Dask's own choice, 128 MiB chunks; the samples axis is kept whole for the
envelope, whose FFT runs along it); the operator runs through map_overlap with its stencil depth and
boundary='reflect' (GST3D: see gst3d_like_whole, which handles the volume's faces as the whole run does); the result
is gathered and saved as float32. GST3D trims one voxel per face like the whole-volume run. Worker memory is polled from the scheduler every 0.2 s, as the notebook did.

A stalled run ends as a failure instead of waiting out --timeout: when for --stall seconds (default 60) no task has
finished and no worker is executing one, the computation does not go on by itself. Seen here: workers paused (memory
above 80% of memory_limit: a paused worker starts no task, and Dask restarts it only at 95%), and limits below a
bare worker's footprint, where the nanny kills each worker before it registers and the cluster has no worker at all.
This is how such a run fails for a user: it hangs. The error then reads "Stalled: ..." (with the most workers seen
paused and the fewest seen alive during the stall), and `stalled` is true.

Prints one JSON object: completed, error, stalled, restarts (workers that left and came back: nanny restarts),
killed_worker (KilledWorker raised), wall_s, startup_s (starting the LocalCluster and its client, included in
wall_s), cpu_s (client + every worker process, from /proc), peak_worker_bytes (per worker slot, the largest polled
value), tasks_done (tasks the scheduler saw finish), chunks (the chunk shape used), n_chunks. Exit 0 when the object
was printed (whether or not the computation completed), 2 on bad arguments.
"""
import argparse
import json
import os
import sys
import tempfile
import threading
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples", "original"))
import envelope as op_envelope  # noqa: E402
import gaussian_filter as op_gaussian  # noqa: E402
import gst3d as op_gst3d  # noqa: E402

# name -> (block function on an ndarray, map_overlap depth per axis, samples axis must stay whole)
OPERATORS = {
    "envelope": (op_envelope.envelope, (0, 0, 0), True),
    "gaussian_filter": (op_gaussian.gaussian_filter, (12, 12, 12), False),
    "gst3d": (op_gst3d.gst3d, (2, 2, 2), False),
}


def cpu_seconds(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def progress_plugin():
    """A scheduler plugin counting tasks that finished (processing -> memory). LocalCluster runs its scheduler in
    this process, so the count (`.done`) is read directly."""
    from distributed.diagnostics.plugin import SchedulerPlugin

    class Progress(SchedulerPlugin):
        name = "tq-progress"

        def __init__(self):
            self.done = 0

        def transition(self, key, start, finish, *args, **kwargs):
            if start == "processing" and finish == "memory":
                self.done += 1

    return Progress()


class Watch:
    """Polls the scheduler for worker memory, notices workers that come and go (nanny restarts), and sees a stall:
    no task finished, none executing, a worker paused."""

    def __init__(self, client, progress, stall_s):
        self.client, self.stop = client, threading.Event()
        self.peak, self.seen, self.restarts, self.worker_cpu = {}, set(), 0, {}
        self.progress, self.stall_s, self.last_done = progress, stall_s, 0
        self.stall_since, self.stalled, self.paused, self.alive = None, threading.Event(), 0, 0
        self.thread = threading.Thread(target=self.run, daemon=True)

    def poll(self):
        info = self.client.scheduler_info()["workers"]
        now = time.monotonic()
        paused = sum(w.get("status") == "paused" for w in info.values())
        executing = sum((w.get("metrics", {}).get("task_counts") or {}).get("executing", 0) for w in info.values())
        done = self.progress.done
        if done != self.last_done or executing:
            self.stall_since = None
        elif self.stall_since is None:
            self.stall_since, self.paused, self.alive = now, paused, len(info)
        else:
            self.paused, self.alive = max(self.paused, paused), min(self.alive, len(info))
            if now - self.stall_since >= self.stall_s:
                self.stalled.set()
        self.last_done = done
        for addr, w in info.items():
            name = w.get("name", addr)
            mem = w.get("metrics", {}).get("memory", 0) or 0
            self.peak[name] = max(self.peak.get(name, 0), mem)
            if addr not in self.seen:
                if any(a for a in self.seen if info.get(a) is None):
                    self.restarts += 1
                self.seen.add(addr)
            pid = w.get("pid")
            if pid:
                self.worker_cpu[pid] = max(self.worker_cpu.get(pid, 0.0), cpu_seconds(pid))

    def run(self):
        while not self.stop.is_set():
            try:
                self.poll()
            except Exception:  # the scheduler may be closing
                pass
            self.stop.wait(0.2)


def gst3d_like_whole(arr, fn, depth):
    """GST3D through map_overlap with the whole-volume run's boundaries: no padding at the volume's faces
    (boundary='none'), so a block touching a face sees that face exactly as the whole run does (SciPy's reflect,
    then the operator's own one-voxel trim); on faces shared with a neighbour the block is grown by the depth (2)
    and the operator's output, already one voxel smaller, loses one more. The result is the whole run's
    (S-2)^3 output, equal to it up to the running sums of uniform_filter along cut axes."""
    def block(b, block_info=None):
        loc, num = block_info[0]["chunk-location"], block_info[0]["num-chunks"]
        cut = tuple(slice(0 if loc[a] == 0 else 1, None if loc[a] == num[a] - 1 else -1) for a in range(3))
        return fn(b)[cut]

    chunks = tuple(tuple(c - (i == 0) - (i == len(cs) - 1) for i, c in enumerate(cs)) for cs in arr.chunks)
    return arr.map_overlap(block, depth=depth, boundary="none", trim=False, dtype=np.float64, chunks=chunks)


def parse_chunks(text, shape, whole_samples):
    if text == "auto":
        return {0: "auto", 1: "auto", 2: -1} if whole_samples else "auto"
    parts = [int(v) for v in text.split(",")]
    if len(parts) != 3 or any(p <= 0 for p in parts):
        raise ValueError("--chunks takes auto or three positive integers A,B,C")
    if whole_samples:
        parts[2] = shape[2]
    return tuple(parts)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--op", required=True, choices=sorted(OPERATORS))
    ap.add_argument("--input", required=True)
    ap.add_argument("--output", required=True)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--memory-limit", type=int, required=True, help="bytes per worker")
    ap.add_argument("--chunks", default="auto")
    ap.add_argument("--timeout", type=float, default=1800.0)
    ap.add_argument("--stall", type=float, default=60.0, help="seconds without progress, a worker paused, before "
                    "the run is ended as stalled")
    args = ap.parse_args()
    if args.workers <= 0 or args.memory_limit <= 0 or args.timeout <= 0 or args.stall <= 0:
        ap.error("--workers, --memory-limit, --timeout and --stall must be positive")

    import dask
    import dask.array as da
    from distributed import Client, LocalCluster
    from distributed.scheduler import KilledWorker

    fn, depth, whole_samples = OPERATORS[args.op]
    x = np.load(args.input, mmap_mode=None)
    try:
        chunks = parse_chunks(args.chunks, x.shape, whole_samples)
    except ValueError as e:
        ap.error(str(e))
    result = {"op": args.op, "shape": list(x.shape), "workers": args.workers, "memory_limit": args.memory_limit,
              "completed": False, "error": None, "stalled": False, "restarts": 0, "killed_worker": False}
    dask.config.set({"distributed.scheduler.allowed-failures": 3, "distributed.logging.distributed": "error"})
    t0, c0 = time.monotonic(), time.process_time()
    # The workers' spill directory is ours, and removed with everything in it when the run ends (Dask would leave
    # its dask-worker-space directory behind in the system's temporary directory).
    with tempfile.TemporaryDirectory(prefix="traceq-dask.") as scratch, \
            LocalCluster(n_workers=args.workers, threads_per_worker=1, memory_limit=args.memory_limit,
                         processes=True, dashboard_address=None, silence_logs=50, local_directory=scratch) as cluster, \
            Client(cluster) as client:
        result["startup_s"] = round(time.monotonic() - t0, 3)
        progress = progress_plugin()
        cluster.scheduler.add_plugin(progress, name=progress.name)
        watch = Watch(client, progress, args.stall)
        watch.thread.start()
        try:
            arr = da.from_array(x, chunks=chunks)
            result["chunks"] = [c[0] for c in arr.chunks]
            result["n_chunks"] = int(np.prod([len(c) for c in arr.chunks]))
            if args.op == "gst3d":
                out = gst3d_like_whole(arr, fn, depth)
            else:
                out = arr.map_overlap(fn, depth=depth, boundary="reflect", dtype=np.float64)
            future = client.compute(out)
            deadline = time.monotonic() + args.timeout
            while True:
                try:
                    value = future.result(timeout=1)
                    break
                except TimeoutError:
                    if watch.stalled.is_set():
                        future.cancel()
                        result["stalled"] = True
                        raise TimeoutError(f"Stalled: no task finished and none executing for {args.stall:g} s; "
                                           f"up to {watch.paused} of {args.workers} workers paused (memory above "
                                           f"80% of the limit), as few as {watch.alive} alive") from None
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"timed out after {args.timeout:g} s") from None
            np.save(args.output, np.asarray(value, dtype=np.float32))
            result["completed"] = True
        except KilledWorker as e:
            result["killed_worker"], result["error"] = True, f"KilledWorker: {e}"
        except Exception as e:  # a timeout, a scheduler error: the run did not complete
            result["error"] = f"{type(e).__name__}: {e}"
        finally:
            watch.stop.set()
            watch.thread.join()
            try:
                watch.poll()
            except Exception:
                pass
    result["wall_s"] = round(time.monotonic() - t0, 3)
    result["cpu_s"] = round(time.process_time() - c0 + sum(watch.worker_cpu.values()), 3)
    result["restarts"] = watch.restarts
    result["tasks_done"] = progress.done
    result["peak_worker_bytes"] = sorted(watch.peak.values(), reverse=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
