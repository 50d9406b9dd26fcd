#!/usr/bin/python3
"""envelope.py IN.npy OUT.npy - the original system's Envelope (libs/common/common/operators/envelope.py) as a
traceq block operator: np.abs(scipy.signal.hilbert(data)) along the last (samples) axis, on the whole volume it is
given. SciPy promotes to complex128/float64 as the original did (~27 B/voxel at the peak); the result is stored as
float32, the dtype the {in} {out} contract asks for. Halo: none on axes 0 and 1, the whole samples axis (traces are
never cut: `--halo 0,0,whole`)."""
import numpy as np
from scipy import signal


def envelope(data):
    return np.abs(signal.hilbert(data))


if __name__ == "__main__":
    from blockop import main

    main("envelope.py", envelope)
