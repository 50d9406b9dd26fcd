"""numpy_work.py - benchmark load for Python frames in `record --stacks` (tools/bench_pyframes.sh) and the NumPy row
of the real-program table (tools/bench_programs.sh): many small NumPy arrays and Python strings (allocation-heavy),
then one 32 MiB array on a known line (the line that says BIGGEST), held while more small work runs, so that it is
the site holding the most bytes at the heap peak. Usage: /usr/bin/python3 numpy_work.py [ROUNDS (default 20000)]"""
import sys

import numpy as np


def small_work(rounds):
    total = 0.0
    for i in range(rounds):
        a = np.arange(64 + i % 512, dtype=np.float64)
        total += float((a * 2.0).sum())
        total += len(",".join([str(j) for j in range(i % 40)]))
    return total


def big_work(rounds):
    big = np.ones((2048, 2048), dtype=np.float64)  # BIGGEST: 2048 * 2048 * 8 = 33554432 bytes
    return float(big.sum()) + small_work(rounds // 4)


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    print(f"{small_work(rounds) + big_work(rounds):.1f}")


if __name__ == "__main__":
    main()
