#!/usr/bin/python3
# fake_traceq.py - stands in for `traceq` in the sweep tests: `op OP --synthetic IxXxS ...` holds 20 MB + 100 B/voxel
# for a moment; shapes with 13 samples fail; `record ... -- CMD` runs CMD without writing a trace.
import os, sys, time
args = sys.argv[1:]
if args and args[0] == "record":
    rest = args[args.index("--") + 1:]
    os.execv(rest[0], rest)
shape = [int(v) for v in args[args.index("--synthetic") + 1].split("x")]
if shape[2] == 13:
    sys.stderr.write("fake: cannot do 13 samples\n")
    sys.exit(3)
block = bytearray(20 * 1000 * 1000 + 100 * shape[0] * shape[1] * shape[2])
for i in range(0, len(block), 4096):
    block[i] = 1
time.sleep(0.15)
