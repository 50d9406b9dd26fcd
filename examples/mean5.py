#!/usr/bin/python3
"""mean5.py - a user's block operator for `traceq run --cmd`: the mean over each voxel's 5x5x5 neighbourhood
(scipy.ndimage.correlate with a 5x5x5 box of weights 1/125, mode 'reflect') of the float32 volume IN, written to
OUT as float32.

    traceq run --cmd '/usr/bin/python3 examples/mean5.py {in} {out}' --halo 2 --input IN.npy --output OUT.npy ...

A 5-wide stencil reads 2 voxels on each side, so with --halo 2 every block's result equals the whole volume's bit
for bit: correlate sums each voxel's neighbourhood directly, in the same order wherever the voxel sits. (The same
mean through ndimage.uniform_filter uses a running sum along each line, which is not blockwise exact: see
examples/README.md.)
"""
import sys

import numpy as np
from scipy import ndimage


def main(argv):
    if len(argv) != 3:
        sys.stderr.write("usage: mean5.py IN.npy OUT.npy\n")
        return 2
    x = np.load(argv[1])
    y = ndimage.correlate(x, np.full((5, 5, 5), 1.0 / 125, dtype=np.float32), mode="reflect")
    np.save(argv[2], y.astype(np.float32, copy=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
