"""pyframes_prog.py MODE - Python programs with known allocation sites for the --stacks Python-frame tests
(tests/test_pyframes.c). Each big allocation's line ends with a "# SITE:<name>" marker the test looks up.
MODE: nested | thread | numpy | fork | nogil."""
import os
import sys
import threading

kept = []


def level2():
    return bytearray(40_000_000)  # SITE:level2


def level1():
    kept.append(level2())  # SITE:level1


def worker():
    kept.append(bytearray(30_000_000))  # SITE:worker


def make_array():
    import numpy as np
    return np.empty(5_000_000, dtype=np.float64)  # SITE:make_array


def sort_worker(a):
    # NumPy's stable sort releases the GIL, then mallocs its merge buffer (up to n/2 float64 = 40 MB)
    kept.append(np.sort(a, kind="stable"))  # SITE:sort_worker


def child_work():
    kept.append(bytearray(20_000_000))  # SITE:child_work


def main(mode):
    if mode == "nested":
        level1()
    elif mode == "thread":
        t = threading.Thread(target=worker)
        t.start()
        t.join()
    elif mode == "numpy":
        kept.append(make_array())
    elif mode == "nogil":
        global np
        import numpy as np
        a = np.random.default_rng(1).random(10_000_000)  # in no order: the sort has runs to merge
        t = threading.Thread(target=sort_worker, args=(a,))
        t.start()
        t.join()
    elif mode == "fork":
        pid = os.fork()
        if pid == 0:
            child_work()
            os._exit(0)
        os.waitpid(pid, 0)
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main(sys.argv[1])
