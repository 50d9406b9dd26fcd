"""blockop.py - the {in} {out} contract of a traceq block operator, shared by the original's three operators:
read a float32 C-order .npy volume from IN, compute on the whole of it, write the float32 result to OUT."""
import sys

import numpy as np


def main(name, operator):
    if len(sys.argv) != 3:
        sys.exit(f"usage: {name} IN.npy OUT.npy")
    data = np.load(sys.argv[1])
    np.save(sys.argv[2], np.asarray(operator(data), dtype=np.float32))
