#!/usr/bin/env bash
# fastpath_test.sh — a guard on the length of the malloc/free fast path,
# measured in instructions by callgrind (repeatable, unlike time): the cost of
# one malloc(32)+free pair with libhakmem.so preloaded, BALANCED, must stay
# within GOLDEN. Raise GOLDEN only with a reason in the commit message.
set -euo pipefail
lib="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
probe="$2"
GOLDEN=80   # instructions per malloc+free pair, loop included; measured 77 (malloc 20, free 40, loop 9, rest the pair's emptied-page check)
command -v valgrind >/dev/null || { echo "valgrind missing (tools/setup.sh installs it)"; exit 1; }
ir() {  # total instructions of one run
  local out="${TEST_TMPDIR:-/tmp}/cg.$1"
  LD_PRELOAD="$lib" valgrind --tool=callgrind --callgrind-out-file="$out" "$probe" pairs "$1" >/dev/null 2>&1
  awk '/^summary:/ {print $2}' "$out"
}
base=$(ir 0)
full=$(ir 200000)
per=$(( (full - base) / 200000 ))
echo "malloc(32)+free pair: $per instructions (golden $GOLDEN)"
if (( per > GOLDEN )); then
  echo "0 passed, 1 failed"
  exit 1
fi
echo "1 passed, 0 failed"
