#!/usr/bin/python3
"""gst3d.py IN.npy OUT.npy - the original system's GST3D dip (libs/common/common/operators/gst3d.py) as a traceq
block operator, written as the original wrote it: three first derivatives (correlate1d [-0.5, 0, 0.5] along the axis,
smoothing [0.178947, 0.642105, 0.178947] along the other two, mode='reflect'), each trimmed by kernel//2 = 1 voxel per
face; six products smoothed with a 3x3x3 uniform_filter; np.linalg.eigh per voxel; dip = degrees(arccos(|v_z|)) of
the eigenvector of the largest eigenvalue. Every full-size temporary of the original is kept (~240 B/voxel).
Output: float32, one voxel smaller on every face (`--trim 1`); stencil radius 2 per axis (`--halo 2,2,2`)."""
import numpy as np
from scipy import ndimage as ndi

KERNEL = (3, 3, 3)
DERIVATIVE = np.array([-0.5, 0.0, 0.5])
SMOOTHING = np.array([0.178947, 0.642105, 0.178947])


def first_derivative(x, axis):
    result = ndi.correlate1d(x, DERIVATIVE, axis=axis, mode="reflect")
    for other in range(3):
        if other != axis:
            result = ndi.correlate1d(result, SMOOTHING, axis=other, mode="reflect")
    k = KERNEL[0] // 2
    return result[k:-k, k:-k, k:-k]


def gst3d(x):
    gi, gj, gk = (first_derivative(x, axis) for axis in range(3))
    gi2 = ndi.uniform_filter(gi * gi, size=KERNEL, mode="reflect")
    gj2 = ndi.uniform_filter(gj * gj, size=KERNEL, mode="reflect")
    gk2 = ndi.uniform_filter(gk * gk, size=KERNEL, mode="reflect")
    gigj = ndi.uniform_filter(gi * gj, size=KERNEL, mode="reflect")
    gigk = ndi.uniform_filter(gi * gk, size=KERNEL, mode="reflect")
    gjgk = ndi.uniform_filter(gj * gk, size=KERNEL, mode="reflect")
    shape = gi2.shape
    gst = np.array([[gi2, gigj, gigk], [gigj, gj2, gjgk], [gigk, gjgk, gk2]])
    gst = np.moveaxis(gst, [0, 1], [-2, -1]).reshape((-1, 3, 3))
    evals, evecs = np.linalg.eigh(gst)
    ndx = evals.argsort(axis=-1)
    evecs = evecs[np.arange(gst.shape[0]), :, ndx[:, -1]]
    evecs = evecs / np.linalg.norm(evecs, axis=-1)[:, None]
    return np.rad2deg(np.arccos(np.abs(evecs[:, 2]))).reshape(shape)


if __name__ == "__main__":
    from blockop import main

    main("gst3d.py", gst3d)
