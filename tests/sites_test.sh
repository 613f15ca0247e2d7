#!/usr/bin/env bash
# sites_test.sh — sites are real with libhakmem.so preloaded: a C++
# program's new[] sites are its functions (not libstdc++), an xmalloc-style
# wrapper's requests are keyed by its callers, a function that allocates for
# itself stays one site, and the stats JSON names them ("name", "frames").
# Also: a C program does not load libstdc++, and a free of a pointer hakmem
# never handed out aborts as glibc does (HAKMEM_FOREIGN_FREE=ignore goes on).
# Tagged replaces_malloc.
set -euo pipefail
lib="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
probe="$2"
passed=0
failed=0
check() {  # NAME COMMAND...: the command's status decides
  local name="$1"
  shift
  if "$@"; then echo "ok   $name"; passed=$((passed + 1)); else echo "FAIL $name"; failed=$((failed + 1)); fi
}
sites() {  # PROGRAM [ENV...]: the JSON's sites as "allocs<TAB>frames<TAB>name" lines
  local prog="$1"
  shift
  env "$@" LD_PRELOAD="$lib" "$prog" | python3 -c '
import json, sys
for s in json.load(sys.stdin)["sites"]:
    assert all(f.startswith("0x") for f in s["frames"])
    print("%d\t%d\t%s" % (s["allocs"], len(s["frames"]), s["name"]))'
}
for prog in "${@:3}"; do
  out="$(sites "$prog")"
  echo "$out"
  busy() { echo "$out" | awk -F'\t' -v pat="$1" -v frames="$2" '$1 >= 99 && $2 == frames && $3 ~ pat' | wc -l; }
  check "$(basename "$prog"): three new[] sites, named by their functions" test "$(busy '^new_site_[abc]\+0x' 1)" -ge 3
  check "$(basename "$prog"): three sites through the wrapper, named by its callers" \
    test "$(busy '^xmalloc\+0x.* < wrap_site_[abc]\+0x' 2)" -ge 3
  check "$(basename "$prog"): the function allocating for itself is one site" \
    test "$(echo "$out" | awk -F'\t' '$3 ~ /^own_use\+0x/ && $1 == 300 && $2 == 1' | wc -l)" -eq 1
  off="$(sites "$prog" HAKMEM_SITE_WRAPPERS=0)"
  check "$(basename "$prog"): HAKMEM_SITE_WRAPPERS=0 gives the wrapper one site" \
    test "$(echo "$off" | awk -F'\t' '$3 ~ /^xmalloc\+0x/ && $1 == 300' | wc -l)" -eq 1
done
check "a C program loads no libstdc++" test "$(LD_PRELOAD="$lib" "$probe" maps)" == "no libstdc++"
set +e
msg="$(LD_PRELOAD="$lib" "$probe" foreign 2>&1)"
status=$?
set -e
check "free of a foreign pointer aborts" test "$status" -eq 134
check "... with glibc's message" grep -q "free(): invalid pointer" <<<"$msg"
check "HAKMEM_FOREIGN_FREE=ignore goes on" \
  test "$(HAKMEM_FOREIGN_FREE=ignore LD_PRELOAD="$lib" "$probe" foreign 2>/dev/null)" == "foreign free ignored"
echo "$passed passed, $failed failed"
(( failed == 0 ))
