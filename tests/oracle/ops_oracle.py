#!/usr/bin/python3
"""ops_oracle.py - SciPy reference for traceq's operators (the tests' oracle and the benchmark's competitor).

Benchmark mode: `ops_oracle.py run OP input.npy` runs the original system's operator on the whole volume, exactly as
its libs/common/common/operators/*.py do (GST3D: float32 tensor, np.linalg.eigh; we only take |v_2|), and prints
"OP compute_s=T"; nothing is saved.

NaN mode: `ops_oracle.py nan OP input.npy output.npy [full]` compares where traceq's output is NaN with where the
input's NaN (or infinite) voxels reach through the operator's footprint, and with SciPy, and prints "nan_ref=N
nan_ours=M mismatched=K not_in_scipy=S finite_err=E". GST3D: the footprint is the input's non-finite voxels grown by
2 on every axis (the +-1 derivative or smoothing, then the 3-box); SciPy's uniform_filter keeps a running sum, so its NaN also runs on
to the end of each line -- a superset, hence not_in_scipy (ours NaN where SciPy is finite) must be 0 rather than
the sets equal. Gaussian: SciPy's non-finite voxels exactly, each as NaN, +inf or -inf. Numpy's eigh refuses non-finite tensors, so those voxels have
no SciPy dip. E: max difference over voxels both have finite (GST3D: well separated eigenvalues, as below).

Reads a manifest: one case per line "name op n0 n1 n2 s0 s1 s2 full input output" where input and output are raw
float32 files in C order (.f32) or .npy files (output is traceq's result). Prints one line per case: "name err=E ref=R checked=C total=T" where
  envelope/gaussian: E = max|ours - scipy|, R = max|scipy|, C = T = voxel count;
  gst3d: E = max dip difference in degrees over the C voxels whose largest eigenvalue is well separated:
         (l1 - l2) > 0.05 * l1 and l1 > 1e-3 * max(l1) (rounding of the float32 tensor then moves the
         eigenvector by far less than 0.01 degree).
"""
import os
import sys

import numpy as np
from scipy import ndimage as ndi
from scipy import signal

# The original system's GST3D, exactly as it wrote it, is the one in examples/original (also run chunked by traceq).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "original"))
from gst3d import gst3d as gst3d_original  # noqa: E402


def envelope(x):
    return np.abs(signal.hilbert(x, axis=-1))


def gaussian(x, sigma):
    return ndi.gaussian_filter(x, sigma=sigma, mode="reflect", truncate=4.0)


def first_derivative(x, axis, trim):
    # The original gst3d.py: derivative along `axis`, smoothing along the other two in ascending order, then trim.
    others = [a for a in range(3) if a != axis]
    r = ndi.correlate1d(x, np.array([-0.5, 0.0, 0.5]), axis=axis, mode="reflect")
    for a in others:
        r = ndi.correlate1d(r, np.array([0.178947, 0.642105, 0.178947]), axis=a, mode="reflect")
    if trim:
        r = r[1:-1, 1:-1, 1:-1]
    return r


def gst3d(x, full):
    g = [first_derivative(x, a, not full) for a in range(3)]
    pairs = [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)]
    t = {}
    for i, j in pairs:
        t[i, j] = t[j, i] = ndi.uniform_filter(g[i] * g[j], size=3, mode="reflect")
    gst = np.stack([np.stack([t[i, j] for j in range(3)], axis=-1) for i in range(3)], axis=-2)
    evals, evecs = np.linalg.eigh(gst.astype(np.float64))
    v = evecs[..., :, -1]
    v = v / np.linalg.norm(v, axis=-1)[..., None]
    dip = np.degrees(np.arccos(np.clip(np.abs(v[..., 2]), 0, 1)))
    l1, l2 = evals[..., -1], evals[..., -2]
    ok = ((l1 - l2) > 0.05 * l1) & (l1 > 1e-3 * l1.max())
    return dip, ok


def structure_tensor(x, full):
    g = [first_derivative(x, a, not full) for a in range(3)]
    pairs = [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)]
    t = {}
    for i, j in pairs:
        t[i, j] = t[j, i] = ndi.uniform_filter(g[i] * g[j], size=3, mode="reflect")
    return np.stack([np.stack([t[i, j] for j in range(3)], axis=-1) for i in range(3)], axis=-2)


def nan_compare(op, inp, outp, full):
    x = np.load(inp)
    ours = np.load(outp).astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        if op == "gst3d":
            gst = structure_tensor(x, full).astype(np.float64)
            scipy_bad = ~np.isfinite(gst).all(axis=(-2, -1))
            grown = ndi.binary_dilation(~np.isfinite(x), structure=np.ones((5, 5, 5), bool))
            bad = grown if full else grown[1:-1, 1:-1, 1:-1]
            evals, evecs = np.linalg.eigh(np.where(scipy_bad[..., None, None], 0.0, gst))
            v = evecs[..., :, -1]
            dip = np.degrees(np.arccos(np.clip(np.abs(v[..., 2]) / np.linalg.norm(v, axis=-1), 0, 1)))
            l1, l2 = evals[..., -1], evals[..., -2]
            ok = ((l1 - l2) > 0.05 * l1) & (l1 > 1e-3 * l1[~scipy_bad].max()) & ~scipy_bad
            ref = np.where(scipy_bad, np.nan, dip)
        else:
            ref = (envelope(x) if op == "envelope" else gaussian(x, (3, 3, 3))).astype(np.float64)
            scipy_bad = bad = ~np.isfinite(ref)
            ok = ~bad
    ours = ours.reshape(ref.shape)
    nan_ours = ~np.isfinite(ours)
    mismatched = bad != nan_ours
    if op != "gst3d":  # also the same kind: NaN, +inf or -inf
        kind = lambda a: np.where(np.isnan(a), 1, np.where(np.isposinf(a), 2, np.where(np.isneginf(a), 3, 0)))
        mismatched |= kind(ours) != kind(ref)
    both = ok & ~nan_ours
    err = np.abs(ours - ref)[both].max() if both.any() else 0.0
    print(f"nan_ref={int(bad.sum())} nan_ours={int(nan_ours.sum())} mismatched={int(mismatched.sum())} "
          f"not_in_scipy={int((nan_ours & ~scipy_bad).sum())} finite_err={err:.6g}")


def run(op, path):
    import time
    x = np.load(path)
    t0 = time.perf_counter()
    if op == "envelope":
        envelope(x)
    elif op == "gaussian":
        gaussian(x, (3, 3, 3))
    else:
        gst3d_original(x)
    print(f"{op} compute_s={time.perf_counter() - t0:.3f}")


def load(path):
    return np.load(path) if path.endswith(".npy") else np.fromfile(path, dtype=np.float32)


def main():
    if sys.argv[1] == "run":
        return run(sys.argv[2], sys.argv[3])
    if sys.argv[1] == "nan":
        return nan_compare(sys.argv[2], sys.argv[3], sys.argv[4], len(sys.argv) > 5 and sys.argv[5] == "full")
    for line in open(sys.argv[1]):
        f = line.split()
        if not f:
            continue
        name, op = f[0], f[1]
        shape = tuple(int(v) for v in f[2:5])
        sigma = tuple(float(v) for v in f[5:8])
        full = f[8] == "1"
        x = load(f[9]).reshape(shape)
        ours = load(f[10]).ravel()
        if op == "gst3d":
            ref, ok = gst3d(x, full)
            ours = ours.reshape(ref.shape)
            d = np.abs(ours.astype(np.float64) - ref)[ok]
            err = d.max() if d.size else 0.0
            print(f"{name} err={err:.6g} ref=90 checked={int(ok.sum())} total={ref.size}")
            continue
        ref = envelope(x) if op == "envelope" else gaussian(x, sigma)
        ours = ours.reshape(ref.shape)
        err = np.abs(ours.astype(np.float64) - ref.astype(np.float64)).max()
        print(f"{name} err={err:.6g} ref={np.abs(ref).max():.6g} checked={ref.size} total={ref.size}")


if __name__ == "__main__":
    main()
