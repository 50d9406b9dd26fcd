#!/usr/bin/env bash
# bench_programs.sh - the real-program table of issue 16: programs from Debian packages (perl, sqlite3, xz, sort,
# git, a shell pipeline, gcc's cc1, a NumPy script under /usr/bin/python3) run bare, under the counting shim
# (libtraceq.so preloaded, as `traceq record` does) and with stacks (TRACEQ_STACKS=1, as `record --stacks`),
# alternating round by round; then once under heaptrack and
# once under valgrind's massif. Per program: CPU-time overhead (median of the per-round ratios, min-max spread),
# peak agreement (traceq's VmHWM against the bare run's max RSS; traceq's peak heap against heaptrack's and
# massif's), trace bytes (ours against heaptrack's), and `traceq report --top 5` against heaptrack_print on the same
# program's recording: time and the analyzer's own max RSS.
# Usage: tools/bench_programs.sh BUILD_DIR (run by tools/bench.sh). BENCH_FULL=1: 7 rounds and bigger inputs
# (sqlite3 1M rows) instead of 3 rounds.
set -euo pipefail
# shellcheck source=tools/bench_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"
bench_start "$0" "$@"
if [[ ${BENCH_FULL:-0} = 1 ]]; then
    rounds=7 rows=1000000 keys=300000 lines=400000 np_rounds=40000
else
    rounds=3 rows=200000 keys=100000 lines=150000 np_rounds=20000
fi

echo
echo "== real programs: bare vs counting shim vs --stacks ($rounds alternating rounds), heaptrack and massif (1 run)"
echo "   machine: $(uname -n), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u '+%F %H:%M UTC')"
missing=""
for c in perl sqlite3 xz sort git gcc heaptrack heaptrack_print valgrind /usr/bin/time /usr/bin/python3; do
    command -v "$c" >/dev/null 2>&1 || missing+=" $c"
done
if [[ -n $missing ]]; then
    echo "(missing:$missing - skipped; make bench installs them)"
    exit 0
fi

# Inputs, made once (not timed).
seq 1 "$lines" | awk '{printf "%d line %d %s\n", ($1 * 7919) % 100003, $1, substr("abcdefghijklmnopqrstuvwxyz", 1 + $1 % 26)}' \
    >"$work/lines.txt"
head -c 800000 "$work/lines.txt" >"$work/xz_input.txt"
gcc -E -std=gnu11 -I"$root" $(pkg-config --cflags jansson 2>/dev/null) "$root/runner/runner.c" -o "$work/input.i"
cc1=$(gcc -print-prog-name=cc1)
git init -q "$work/repo"
for ((i = 0; i < 60; i++)); do
    seq "$i" $((i + 2000)) | sed "s/^/commit $i row /" >"$work/repo/file$((i % 7)).txt"
    git -C "$work/repo" add -A >/dev/null
    git -C "$work/repo" -c user.name=bench -c user.email=bench@example.org commit -q -m "change $i"
done

declare -a names cmds
add() { names+=("$1"); cmds+=("$2"); }
add perl "perl -e 'my %h; for my \$i (1..$keys) { \$h{\"key\$i\"} = \"v\" x (\$i % 100) } my \$s = join(\",\", sort keys %h); print length(\$s)'"
add sqlite3 "sqlite3 :memory: 'CREATE TABLE t(a INTEGER, b TEXT); WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < $rows) INSERT INTO t SELECT x, hex(randomblob(16)) FROM c; CREATE INDEX tb ON t(b); SELECT count(*) FROM t;'"
add xz "xz -6 -T1 -c $work/xz_input.txt"
add sort "sort -S 64M $work/lines.txt"
add git "git --no-pager -C $work/repo log -p --stat"
add pipeline "sh -c 'sort $work/lines.txt | uniq -c | sort -rn | head -3'"
add cc1 "$cc1 -quiet -O2 $work/input.i -o $work/input.s"
add numpy "/usr/bin/python3 $root/tests/bench/numpy_work.py $np_rounds"
echo "   inputs: perl $keys hash keys; sqlite3 $rows rows; xz -6 on 800 KB of text; sort and the pipeline on $lines"
echo "   lines; git log -p of a 60-commit repo; cc1 -O2 on runner/runner.c preprocessed ($(wc -l <"$work/input.i") lines);"
echo "   numpy: tests/bench/numpy_work.py $np_rounds"

declare -A over_shim over_stacks bare_cpu peaks bytes analysis
for ((p = 0; p < ${#names[@]}; p++)); do
    name=${names[p]} cmd=${cmds[p]}
    b_cpu="" s_cpu="" k_cpu="" b_rss=""
    for ((r = 0; r < rounds; r++)); do
        measure m bash -c "$cmd"
        b_cpu+="$(cut -d' ' -f2 <<<"$m") " b_rss+="$(cut -d' ' -f3 <<<"$m") "
        rm -rf "$work/shim" && mkdir -p "$work/shim"
        measure m env LD_PRELOAD="$build/libtraceq.so" TRACEQ_OUTPUT_DIR="$work/shim" bash -c "$cmd"
        s_cpu+="$(cut -d' ' -f2 <<<"$m") "
        rm -rf "$work/stacks" && mkdir -p "$work/stacks"
        measure m env LD_PRELOAD="$build/libtraceq.so" TRACEQ_OUTPUT_DIR="$work/stacks" TRACEQ_STACKS=1 bash -c "$cmd"
        k_cpu+="$(cut -d' ' -f2 <<<"$m") "
    done
    bare_cpu[$name]=$(median_spread "$b_cpu")
    over_shim[$name]=$(median_spread "$(ratios "$s_cpu" "$b_cpu")")
    over_stacks[$name]=$(median_spread "$(ratios "$k_cpu" "$b_cpu")")
    # traceq: the bash -c wrapper is a process of its own (a few hundred KiB); the largest process is the program.
    "$build/traceq" report --json "$work"/shim/*.tq >"$work/shim.json"
    "$build/traceq" report --json "$work"/stacks/*.tq >"$work/stacks.json"
    read -r shim_hwm _ _ shim_rss <<<"$($compare tq-peaks "$work/shim.json")"
    read -r stacks_hwm stacks_heap _ _ <<<"$($compare tq-peaks "$work/stacks.json")"
    rm -rf "$work/ht" "$work/ms" && mkdir -p "$work/ht" "$work/ms"
    # heaptrack records the process it starts, not the programs that process execs: run the command itself.
    eval "heaptrack -o \"$work/ht/rec\" $cmd" >/dev/null 2>&1 || true
    ht_file=$(ls -S "$work"/ht/rec* 2>/dev/null | head -1 || true)
    ht_heap="-" ht_rss="-" ht_bytes="-" ht_t="- - -"
    if [[ -n $ht_file ]]; then
        heaptrack_print "$ht_file" >"$work/ht.txt" 2>/dev/null || true
        read -r ht_heap ht_rss <<<"$($compare ht-peak "$work/ht.txt" 2>/dev/null || echo "- -")"
        ht_bytes=$(du -cb "$work"/ht/rec* | tail -1 | cut -f1)
        measure ht_t heaptrack_print "$ht_file"
    fi
    if [[ $ht_heap = - || $ht_heap = 0 ]]; then # nothing recorded (sh -c: the work is in its children)
        ht_heap="-" ht_rss="-" ht_bytes="-" ht_t="- - -"
    fi
    valgrind --tool=massif --trace-children=yes --massif-out-file="$work/ms/massif.%p" bash -c "$cmd" >/dev/null 2>&1 || true
    ms_heap="-"
    for f in "$work"/ms/massif.*; do
        [[ -e $f ]] || continue
        h=$($compare massif-peak "$f" 2>/dev/null | cut -d' ' -f2 || true)
        [[ -n $h ]] && { [[ $ms_heap = - ]] || ((h > ms_heap)); } && ms_heap=$h
    done
    measure tq_t "$build/traceq" report --top 5 "$work"/stacks/*.tq
    bare_rss_kib=$(median "$b_rss" | cut -d. -f1)
    peaks[$name]="$(mib $((bare_rss_kib * 1024))) $(mib "$shim_rss") $(mib "$shim_hwm") $(awk -v a="$shim_hwm" -v b="$bare_rss_kib" \
        'BEGIN{printf "%+.1f%%", 100 * (a / 1024 - b) / b}') $(mib "$stacks_hwm") $(mib "$ht_rss") $(mib "$stacks_heap") $(mib "$ht_heap") $(mib "$ms_heap")"
    tq_bytes=$(du -cb "$work"/stacks/*.tq | tail -1 | cut -f1)
    shim_bytes=$(du -cb "$work"/shim/*.tq | tail -1 | cut -f1)
    bytes[$name]="$shim_bytes $tq_bytes $ht_bytes $([[ $ht_bytes = - ]] && echo - || ratio "$tq_bytes" "$ht_bytes")"
    read -r tw tc tr <<<"$tq_t"
    read -r hw hc hr <<<"$ht_t"
    if [[ $hc = - ]]; then
        analysis[$name]="$tw/$tc $(mib $((tr * 1024))) - - -"
    else
        analysis[$name]="$tw/$tc $(mib $((tr * 1024))) $hw/$hc $(mib $((hr * 1024))) $(ratio "$tc" "$hc")"
    fi
    echo "   done: $name"
done

echo
echo "Overhead: CPU time (user+sys, all processes) over the bare run's, median of $rounds per-round ratios (min-max)"
printf '  %-9s %-24s %-24s %-24s\n' program "bare cpu s" "counting shim" "--stacks"
for name in "${names[@]}"; do
    printf '  %-9s %-24s %-24s %-24s\n' "$name" "${bare_cpu[$name]}" "${over_shim[$name]}" "${over_stacks[$name]}"
done
echo
echo "Peaks in MiB: bare max RSS (GNU time, median); under the counting shim traceq's sampled peak RSS (10 ms) and"
echo "VmHWM (diff: VmHWM over the bare max RSS, the shim's own RSS included); --stacks VmHWM and heaptrack's peak"
echo "RSS (each with its profiler inside); peak heap by traceq --stacks, heaptrack and massif (mem_heap_B)"
printf '  %-9s %-9s %-9s %-9s %-8s %-10s %-10s %-9s %-9s %-9s\n' program "bare RSS" "shim RSS" "shim HWM" diff \
       "stacks HWM" "ht RSS" "tq heap" "ht heap" "ms heap"
for name in "${names[@]}"; do
    read -r a b c d e f g h i <<<"${peaks[$name]}"
    printf '  %-9s %-9s %-9s %-9s %-8s %-10s %-10s %-9s %-9s %-9s\n' "$name" "$a" "$b" "$c" "$d" "$e" "$f" "$g" "$h" "$i"
done
echo
echo "Trace bytes (all processes of the run) and the analyzers: traceq report --top 5 on the --stacks traces vs"
echo "heaptrack_print on heaptrack's file (one run each: wall/cpu s, own max RSS MiB; ratio of CPU times)"
printf '  %-9s %-12s %-12s %-12s %-8s %-14s %-8s %-14s %-8s %s\n' program "shim B" "stacks B" "heaptrack B" \
       "tq/ht" "report w/cpu" "MiB" "ht_print w/cpu" "MiB" "cpu ratio"
for name in "${names[@]}"; do
    read -r a b c d <<<"${bytes[$name]}"
    read -r e f g h i <<<"${analysis[$name]}"
    printf '  %-9s %-12s %-12s %-12s %-8s %-14s %-8s %-14s %-8s %s\n' "$name" "$a" "$b" "$c" "$d" "$e" "$f" "$g" "$h" "$i"
done
echo "Goals (issue 16): counting shim <= 1.05x; --stacks RSS added <= heaptrack's; trace bytes <= heaptrack's;"
echo "report --top <= heaptrack_print's time."
echo "Every run but heaptrack's goes through bash -c (the same wrapper for bare, shim, --stacks and massif, which"
echo "follows children; the shim is preloaded directly, as traceq record does, without traceq's own process);"
echo "heaptrack runs the command itself and records only that process: for the pipeline, sh alone, not its children."
echo "Peaks and VmHWM are the largest single process's; trace bytes and CPU are summed over the processes."
