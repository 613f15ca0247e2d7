#!/usr/bin/env bash
# edge_test.sh — the malloc API's edges (edge.c) answer as glibc does: the
# program's output under glibc and with libhakmem.so preloaded, in several
# modes, must be the same list of "ok" lines. Tagged replaces_malloc.
set -uo pipefail
lib="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
edge="$2"
ref="$("$edge")" || { echo "FAIL: edge.c fails under glibc itself:"; echo "$ref" | grep -v '^ok'; exit 1; }
status=0
for env in "HAKMEM_MODE=BALANCED" "HAKMEM_MODE=MINIMAL" "HAKMEM_MODE=FAST" "HAKMEM_MODE=RESEARCH HAKMEM_VERBOSE=0" \
           "HAKMEM_LARGE_THRESHOLD=32K" "HAKMEM_LARGE_THRESHOLD=512K HAKMEM_BIGCACHE_SLOTS=1 HAKMEM_HOT_MAX=0 HAKMEM_COLD_MIN=0"; do
  got="$(env $env LD_PRELOAD="$lib" "$edge" 2>&1)"
  if [[ "$got" == "$ref" ]]; then
    echo "ok   same answers as glibc ($env): $(grep -c '^ok' <<<"$got") checks"
  else
    echo "FAIL answers differ from glibc's ($env):"
    diff <(echo "$ref") <(echo "$got") | head -20
    status=1
  fi
done
exit $status
