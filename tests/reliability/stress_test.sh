#!/usr/bin/env bash
# stress_test.sh — faults, fork, threads and address-space hygiene (stress.c)
# with libhakmem.so preloaded, in BALANCED and MINIMAL. Bounded: about 40 s
# on 2 cores. tests/programs/run.sh runs the longer fork series (400 rounds).
# Tagged replaces_malloc.
set -uo pipefail
lib="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
stress="$2"
fork_rounds="${3:-100}"
status=0
run() {  # run MODE ARGS...
  local mode="$1"
  shift
  local out
  if out="$(HAKMEM_MODE=$mode LD_PRELOAD="$lib" timeout 300 "$stress" "$@" 2>&1)"; then
    echo "$out" | sed "s/^ok  /ok   [$mode]/"
  else
    echo "FAIL [$mode] stress $* (exit $?):"
    echo "$out" | tail -5
    status=1
  fi
}
for mode in BALANCED MINIMAL; do
  run $mode oom
  run $mode oom 8
  run $mode threads
done
run BALANCED short 10000
run BALANCED hygiene 1000000
run MINIMAL hygiene 100000
run BALANCED fork "$fork_rounds"
run MINIMAL fork $((fork_rounds / 4))
exit $status
