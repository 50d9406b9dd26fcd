#!/usr/bin/env bash
# check_layout.sh - the rooms rule of ARCHITECTURE.md: a file includes headers only from its own room or rooms listed
# before it (lower in the pipeline). Usage: tests/check_layout.sh ROOM... (lowest first, as the Makefile's ROOMS).
# Prints every offending include and exits 1; exits 0 when the layout holds.
set -euo pipefail
cd "$(dirname "$0")/.."
declare -A rank
i=0
for room in "$@"; do rank[$room]=$i; i=$((i + 1)); done
bad=0
for room in "$@"; do
    for f in "$room"/*.c "$room"/*.h; do
        [ -e "$f" ] || continue
        while IFS= read -r inc; do
            target=$(realpath -m --relative-to=. "$room/$inc")
            troom=${target%%/*}
            [ "$target" = "$troom" ] && continue          # not inside a room
            [ -n "${rank[$troom]+x}" ] || { echo "$f: includes $inc, outside every room"; bad=1; continue; }
            if [ "${rank[$troom]}" -gt "${rank[$room]}" ]; then
                echo "$f: includes $inc from room $troom, which lies above $room"
                bad=1
            fi
        done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
    done
done
exit $bad
