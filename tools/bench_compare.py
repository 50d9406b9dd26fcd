#!/usr/bin/env python3
"""bench_compare.py - the comparisons `make bench` makes between traceq and heaptrack/massif output (the bench_*.sh
scripts call it; tests/test_bench_compare.c checks it on fixed inputs). Standard library only.

  bench_compare.py leaks HEAPTRACK_FOLDED TRACEQ_LEAKS_JSON
      Leaked bytes by innermost function: heaptrack's `heaptrack_print -F FILE --flamegraph-cost-type leaked`
      against `traceq report --leaks --json`; one row per function, then the totals. Exit 0 when both name the
      same functions with the same bytes, 1 when they differ, 2 on unreadable input.
  bench_compare.py sites EXACT_TOP_JSON SAMPLED_TOP_JSON
      The 10 sites with most bytes allocated in an exact `traceq report --top N --json` against a --sample-bytes
      run's estimates of the same sites: difference in % and in standard errors. Exit 0 when every one is within
      5%, 1 when not, 2 on unreadable input.
  bench_compare.py top1 TOP_JSON
      The first site held at the peak in `traceq report --top N --json`: "site<TAB>bytes<TAB>callers".
  bench_compare.py ht-peak HEAPTRACK_PRINT_OUTPUT
      "HEAP RSS": the "peak heap memory consumption" and "peak RSS (including heaptrack overhead)" heaptrack_print
      prints, in bytes (its K/M/G are powers of 1000; RSS is "-" when it is not printed).
  bench_compare.py ht-leaks HEAPTRACK_PRINT_OUTPUT
      "LEAKED SUPPRESSED": heaptrack_print's "total memory leaked" and "suppressed leaks" (0 when not printed), bytes.
  bench_compare.py tq-peaks REPORT_JSON
      "VMHWM HEAP CALLS RSS" over all traces of `traceq report --json`: the largest VmHWM and peak heap of one
      process, the allocation-function calls of all of them, and the largest sampled peak RSS of one process.
  bench_compare.py massif-peak MASSIF_OUT
      The largest mem_heap_B + mem_heap_extra_B of a massif.out file, and mem_heap_B alone, in bytes.
"""
import json
import re
import sys

# Functions that only pass an allocation on: the site is their caller (traceq names the allocator entry a program
# called when it is not the program's own code, e.g. libstdc++'s operator new).
WRAPPERS = re.compile(r'^(operator new|operator new\[\]|malloc|calloc|realloc|__libc_malloc|__libc_calloc)$')


def function_name(frame):
    """'leak_one (leak_random.c:13)' / 'leak_int()' / '__GI__IO_file_doallocate (genops.c)' -> bare name."""
    name = re.sub(r' \([^()]*\)$', '', frame.strip())          # heaptrack's / traceq's " (file[:line])"
    name = re.sub(r'@@?GLIBC[\w.]*$', '', name)
    if name.endswith(')'):                                      # a C++ argument list: drop it, balanced
        depth = 0
        for i in range(len(name) - 1, -1, -1):
            depth += {')': 1, '(': -1}.get(name[i], 0)
            if depth == 0:
                name = name[:i] if i > 0 else name
                break
    name = re.sub(r'^__GI_', '', name)
    return name.strip()


def heaptrack_leaks(path):
    """{function: leaked bytes} from a heaptrack_print flamegraph file (frames ';'-joined, innermost last)."""
    by_fn = {}
    with open(path, encoding='utf-8', errors='replace') as f:
        for line in f:
            line = line.rstrip('\n')
            m = re.match(r'^(.*);? (\d+)$', line)
            if not m or int(m.group(2)) == 0:
                continue
            frames = [x for x in m.group(1).split(';') if x.strip()]
            names = [function_name(x) for x in frames]
            while len(names) > 1 and WRAPPERS.match(names[-1]):
                names.pop()
            key = names[-1] if names else '?'
            by_fn[key] = by_fn.get(key, 0) + int(m.group(2))
    return by_fn


def traceq_leaks(path):
    """({function: [bytes, blocks]}, total bytes, total blocks) from `traceq report --leaks --json`."""
    with open(path, encoding='utf-8') as f:
        doc = json.load(f)
    by_fn, total, blocks = {}, 0, 0
    for trace in doc.get('traces', []):
        leaks = trace.get('leaks') or {}
        total += leaks.get('leaked_bytes', 0)
        blocks += leaks.get('leaked_blocks', 0)
        for site in leaks.get('sites', []):
            key = function_name(site.get('site', '?'))
            if WRAPPERS.match(key) and site.get('callers'):
                key = function_name(site['callers'].split(' < ')[0])
            row = by_fn.setdefault(key, [0, 0])
            row[0] += site.get('leaked_bytes', 0)
            row[1] += site.get('leaked_blocks', 0)
    return by_fn, total, blocks


def cmd_leaks(ht_path, tq_path):
    ht = heaptrack_leaks(ht_path)
    tq, tq_total, tq_blocks = traceq_leaks(tq_path)
    same = True
    print(f"    {'function':<34} {'heaptrack B':>12} {'traceq B':>12} {'traceq blocks':>14}  same?")
    for fn in sorted(set(ht) | set(tq), key=lambda k: -max(ht.get(k, 0), tq.get(k, [0])[0])):
        h, t = ht.get(fn, 0), tq.get(fn, [0, 0])
        ok = h == t[0]
        same &= ok
        print(f"    {fn[:34]:<34} {h:>12} {t[0]:>12} {t[1]:>14}  {'yes' if ok else 'NO'}")
    ht_total = sum(ht.values())
    listed = sum(v[0] for v in tq.values())
    note = '' if listed == tq_total else f' ({tq_total - listed} B at sites beyond the listed ones)'
    same &= ht_total == tq_total
    print(f"    {'total':<34} {ht_total:>12} {tq_total:>12} {tq_blocks:>14}  {'yes' if ht_total == tq_total else 'NO'}{note}")
    return 0 if same else 1


def top_lists(path, which):
    """{site: entry} of the top.WHICH lists of all traces in `traceq report --top N --json` (in their order)."""
    with open(path, encoding='utf-8') as f:
        doc = json.load(f)
    sites = {}
    for trace in doc.get('traces', []):
        for entry in (trace.get('top') or {}).get(which, []):
            sites.setdefault(entry['site'], entry)
    return sites


def cmd_sites(exact_path, sampled_path, count=10, tolerance=5.0):
    exact = top_lists(exact_path, 'allocated')
    sampled = top_lists(sampled_path, 'allocated')
    ranked = sorted(exact.values(), key=lambda e: -e['allocated_bytes'])[:count]
    if not ranked:
        print(f"bench_compare.py: no sites in {exact_path}", file=sys.stderr)
        return 2
    worst = 0.0
    print(f"    {'site':<30} {'exact B':>14} {'sampled est. B':>16} {'diff':>8} {'est. error':>11}")
    for e in ranked:
        s = sampled.get(e['site'])
        est = s['allocated_bytes'] if s else 0
        err = s.get('allocated_bytes_err', 0.0) if s else 0.0
        diff = 100.0 * (est - e['allocated_bytes']) / e['allocated_bytes'] if e['allocated_bytes'] else 0.0
        worst = max(worst, abs(diff))
        sigmas = f"{abs(est - e['allocated_bytes']) / err:.1f} sd" if err > 0 else '-'
        print(f"    {e['site'][:30]:<30} {e['allocated_bytes']:>14} {est:>16} {diff:>+7.2f}% {sigmas:>11}")
    print(f"    worst difference {worst:.2f}% (goal <= {tolerance:.0f}%): {'met' if worst <= tolerance else 'NOT met'}")
    return 0 if worst <= tolerance else 1


def cmd_top1(path):
    peak = top_lists(path, 'peak')
    if not peak:
        print(f"bench_compare.py: no sites held at the peak in {path}", file=sys.stderr)
        return 2
    first = next(iter(peak.values()))
    print(f"{first['site']}\t{first['peak_bytes']}\t{first.get('callers', '')}")
    return 0


def scaled(number, unit):
    return float(number) * {'': 1, 'B': 1, 'K': 1e3, 'M': 1e6, 'G': 1e9, 'T': 1e12}[unit]


def print_ht_figures(path, pattern, first, second_default, what):
    """Print heaptrack_print's two figures of the lines matching pattern (groups: label, number, unit): the one whose
    label starts with `first` (exit 2 when missing), then the other (second_default when missing)."""
    a, b = None, second_default
    with open(path, encoding='utf-8', errors='replace') as f:
        for line in f:
            m = re.match(pattern, line)
            if m and m.group(1).startswith(first):
                a = int(round(scaled(m.group(2), m.group(3))))
            elif m:
                b = int(round(scaled(m.group(2), m.group(3))))
    if a is None:
        print(f"bench_compare.py: no '{what}' line in {path}", file=sys.stderr)
        return 2
    print(a, b)
    return 0


def cmd_ht_peak(path):
    return print_ht_figures(path,
                            r'^peak (heap memory consumption|RSS \(including heaptrack overhead\)): ([\d.]+)([KMGT]?)B?',
                            'heap', '-', 'peak heap memory consumption')


def cmd_ht_leaks(path):
    return print_ht_figures(path, r'^(total memory leaked|suppressed leaks): ([\d.]+)([KMGT]?)B?', 'total', 0,
                            'total memory leaked')


def cmd_tq_peaks(path):
    with open(path, encoding='utf-8') as f:
        doc = json.load(f)
    traces = doc.get('traces', [])
    if not traces:
        print(f"bench_compare.py: no traces in {path}", file=sys.stderr)
        return 2
    print(max(t.get('vm_hwm', 0) for t in traces), max(t.get('peak_heap', 0) for t in traces),
          sum(t.get('calls_total', 0) for t in traces), max(t.get('peak_rss', 0) for t in traces))
    return 0


def cmd_massif_peak(path):
    best_total, best_heap, heap, extra = 0, 0, None, 0
    with open(path, encoding='utf-8', errors='replace') as f:
        for line in f:
            if line.startswith('mem_heap_B='):
                heap = int(line.split('=', 1)[1])
            elif line.startswith('mem_heap_extra_B=') and heap is not None:
                extra = int(line.split('=', 1)[1])
                if heap + extra > best_total:
                    best_total = heap + extra
                best_heap = max(best_heap, heap)
                heap = None
    if best_total == 0 and best_heap == 0:
        print(f"bench_compare.py: no mem_heap_B snapshots in {path}", file=sys.stderr)
        return 2
    print(best_total, best_heap)
    return 0


def main(argv):
    commands = {'leaks': (cmd_leaks, 2), 'sites': (cmd_sites, 2), 'top1': (cmd_top1, 1), 'ht-peak': (cmd_ht_peak, 1), 'ht-leaks': (cmd_ht_leaks, 1),
                'tq-peaks': (cmd_tq_peaks, 1), 'massif-peak': (cmd_massif_peak, 1)}
    if len(argv) < 2 or argv[1] not in commands or len(argv) - 2 != commands[argv[1]][1]:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        return commands[argv[1]][0](*argv[2:])
    except (OSError, ValueError, KeyError, AttributeError, TypeError) as e:
        print(f"bench_compare.py: {e}", file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv))
