"""vol_oracle.py - NumPy/segyio side of the volume tests (tests/test_volume_*.c): writes inputs with the
reference tools and checks our outputs with them. Raw files are little-endian float32, C order."""
import sys

import numpy as np


def rand(shape, seed):
    return np.random.default_rng(int(seed)).standard_normal(shape) * 100.0


def shape_of(s):
    return tuple(int(v) for v in s.split("x"))


def npy_write(path, raw, dtype, shape, seed, order="C", version=None):
    """Random array of dtype (f4/f8) saved by numpy; raw gets the float32 values we must read."""
    a = rand(shape_of(shape), seed).astype(dtype)
    if order == "F":
        a = np.asfortranarray(a)
    if version:
        with open(path, "wb") as f:
            np.lib.format.write_array(f, a, version=(int(version), 0))
    else:
        np.save(path, a)
    np.ascontiguousarray(a, dtype=np.float32).tofile(raw)


def npy_check(path, raw):
    """Exit 0 when numpy loads path as float32 C order with exactly the raw values."""
    a = np.load(path)
    r = np.fromfile(raw, dtype="<f4")
    ok = a.dtype == np.float32 and a.flags.c_contiguous and a.size == r.size and np.array_equal(a.ravel(), r)
    sys.exit(0 if ok else 1)


def segy_write(path, raw, shape, seed, fmt, sorting):
    """Random cube written by segyio (from_array for inline sorting, segyio.create for crossline, with odd and
    descending line numbers); raw gets segyio.tools.cube() of the result as (inlines, xlines, samples)."""
    ni, nx, ns = shape_of(shape)
    data = rand((ni, nx, ns), seed).astype(np.float32)
    fmt = int(fmt)
    if sorting == "inline":
        segyio.tools.from_array(path, data, format=fmt)
    else:
        spec = segyio.spec()
        spec.sorting = segyio.TraceSortingFormat.CROSSLINE_SORTING
        spec.format = fmt
        spec.samples = list(range(ns))
        spec.ilines = list(range(1000, 1000 + 2 * ni, 2))
        spec.xlines = list(range(500, 500 - nx, -1))
        with segyio.create(path, spec) as f:
            t = 0
            for xi, xl in enumerate(spec.xlines):
                for ii, il in enumerate(spec.ilines):
                    f.header[t] = {segyio.su.iline: il, segyio.su.xline: xl, segyio.su.offset: 1}
                    f.trace[t] = data[ii, xi]
                    t += 1
    cube = cube_il_xl(path)
    if fmt == 5 and not np.array_equal(cube, data):
        sys.exit("segyio did not store the IEEE data exactly")
    cube.astype("<f4").tofile(raw)


SEGY_DTYPES = {1: "f4", 2: "i4", 3: "i2", 5: "f4", 8: "i1"}


def typed_rand(shape, seed, fmt):
    """Random samples of the type format fmt stores, over its whole range (int32 beyond float32's exact 2**24)."""
    rng = np.random.default_rng(int(seed))
    dt = np.dtype(SEGY_DTYPES[fmt])
    if dt.kind == "i":
        info = np.iinfo(dt)
        return rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dt)
    return (rng.standard_normal(shape) * 100.0).astype(dt)


def segy_write_fmt(path, raw, shape, seed, fmt, endian, sorting):
    """A cube of sample format fmt (1, 2, 3, 5, 8) and byte order endian (big, little) with random values of that
    type; raw gets segyio.tools.cube() of it (opened with that endian) as float32 (inlines, xlines, samples).
    segyio 1.8 writes 4-byte formats itself but writes int16/int8 traces short, so for 3 and 8 the file is written
    as format 5 by segyio and its samples are then rewritten in the narrower type (headers stay segyio's)."""
    ni, nx, ns = shape_of(shape)
    fmt = int(fmt)
    data = typed_rand((ni, nx, ns), seed, fmt)
    spec = segyio.spec()
    spec.sorting = 2 if sorting == "inline" else 1
    spec.format = fmt if fmt in (1, 2, 5) else 5
    spec.endian = endian
    spec.samples = list(range(ns))
    spec.ilines = list(range(1, ni + 1))
    spec.xlines = list(range(10, 10 + nx))
    order = [(i, x) for i in range(ni) for x in range(nx)] if sorting == "inline" else \
            [(i, x) for x in range(nx) for i in range(ni)]
    with segyio.create(path, spec) as f:
        for t, (i, x) in enumerate(order):
            f.header[t] = {segyio.su.iline: spec.ilines[i], segyio.su.xline: spec.xlines[x], segyio.su.offset: 1}
            f.trace[t] = data[i, x].astype(np.float32) if spec.format != 2 else data[i, x]
    if fmt in (3, 8):
        bo = "<" if endian == "little" else ">"
        src = open(path, "rb").read()
        head = bytearray(src[:3600])
        head[3224:3226] = int(fmt).to_bytes(2, "little" if endian == "little" else "big")
        out = [bytes(head)]
        for t, (i, x) in enumerate(order):
            at = 3600 + t * (240 + ns * 4)
            out.append(src[at:at + 240])
            out.append(data[i, x].astype(bo + SEGY_DTYPES[fmt]).tobytes())
        open(path, "wb").write(b"".join(out))
    cube = cube_il_xl(path, endian)
    if fmt != 1 and not np.array_equal(cube, data):
        sys.exit("segyio does not read back the %s samples written (format %d, %s-endian)" % (data.dtype, fmt,
                                                                                               endian))
    if fmt == 1 and not np.allclose(cube, data, rtol=1e-6, atol=1e-4):
        sys.exit("segyio does not read back the IBM samples written")
    cube.astype("<f4").tofile(raw)


def cube_il_xl(path, endian="big"):
    """segyio.tools.cube(path), which is in file order: (xlines, inlines, samples) for a crossline-sorted file.
    Returned as (inlines, xlines, samples), the order traceq always uses."""
    with segyio.open(path, endian=endian) as f:
        c = segyio.tools.cube(f)
        if f.sorting == segyio.TraceSortingFormat.CROSSLINE_SORTING:
            c = c.transpose(1, 0, 2)
    return np.ascontiguousarray(c)


def segy_cube(path, raw):
    """raw gets segyio.tools.cube(path) as float32, as (inlines, xlines, samples)."""
    cube_il_xl(path).astype("<f4").tofile(raw)


M64 = (1 << 64) - 1


def mix64(x):
    """splitmix64's finaliser, as operators/synth.c mix64()."""
    x = (x + 0x9E3779B97F4A7C15) & M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def orig_trace(n, seed, raw):
    """The original builder's one trace (builders.py) with our seeded reflectivity: scipy convolve 'same' of
    U(-1, 1) reflectivity and its Ricker wavelet, cast to float32."""
    from scipy.signal import convolve
    n, seed = int(n), int(seed)
    r = np.array([(mix64((seed * 0x2545F4914F6CDD1D + k) & M64) >> 11) * (2.0 / 9007199254740992.0) - 1.0
                  for k in range(n)])
    length, dt, f = 250, 0.004, 25
    t = np.linspace(-length / 2, (length / 2) - dt, length) * dt
    w = (1 - 2 * (np.pi ** 2) * (f ** 2) * (t ** 2)) * np.exp(-(np.pi ** 2) * (f ** 2) * (t ** 2))
    convolve(r, w, mode="same").astype("<f4").tofile(raw)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd.startswith("segy"):
        import segyio
        import segyio.tools
    {"npy-write": npy_write, "npy-check": npy_check, "segy-write": segy_write, "segy-cube": segy_cube,
     "segy-write-fmt": segy_write_fmt,
     "orig-trace": orig_trace}[cmd](
        *sys.argv[2:])
