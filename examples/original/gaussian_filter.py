#!/usr/bin/python3
"""gaussian_filter.py IN.npy OUT.npy - the original system's Gaussian filter
(libs/common/common/operators/gaussian_filter.py) as a traceq block operator:
scipy.ndimage.gaussian_filter(data, sigma=(3, 3, 3)) with SciPy's defaults (mode='reflect', truncate=4.0, so the
stencil radius is 12 voxels per axis: `--halo 12,12,12`). float32 in, float32 out."""
from scipy import ndimage as ndi


def gaussian_filter(data):
    return ndi.gaussian_filter(data, sigma=(3, 3, 3))


if __name__ == "__main__":
    from blockop import main

    main("gaussian_filter.py", gaussian_filter)
