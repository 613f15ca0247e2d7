#!/usr/bin/env bash
# startup_test.sh — start-up orders (startup.c): a program whose constructor
# allocates (preloaded, and linked with //hakmem:malloc so that it runs before
# hakmem's own constructor), a preloaded library that allocates listed before
# and after libhakmem.so, dlopen of a library that allocates, dlopen of
# libhakmem.so itself, env -i, and
# posix_memalign as the first call. Tagged replaces_malloc.
set -uo pipefail
abs() { echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; }
lib="$(abs "$1")"; startup="$(abs "$2")"; linked="$(abs "$3")"; early="$(abs "$4")"; dl="$(abs "$5")"
status=0
check() {  # check NAME WANT_ALLOCATOR CMD...
  local name="$1" want="$2"
  shift 2
  local out
  out="$("$@" 2>&1)"
  local rc=$?
  if [[ $rc == 0 ]] && grep -q "^allocator: $want$" <<<"$out" && ! grep -q '^FAIL' <<<"$out"; then
    echo "ok   $name ($(grep -c '^ok' <<<"$out") checks, allocator $want)"
  else
    echo "FAIL $name (exit $rc):"; echo "$out" | tail -5; status=1
  fi
}
check "preloaded" hakmem env LD_PRELOAD="$lib" "$startup" "$dl"
check "preloaded, HAKMEM_MODE=MINIMAL" hakmem env HAKMEM_MODE=MINIMAL LD_PRELOAD="$lib" "$startup" "$dl"
check "libearly.so listed before libhakmem.so" hakmem env LD_PRELOAD="$early $lib" "$startup" "$dl"
check "libearly.so listed after libhakmem.so" hakmem env LD_PRELOAD="$lib $early" "$startup" "$dl"
check "libearly.so with bad HAKMEM_ variables" hakmem env HAKMEM_MODE=nonsense HAKMEM_LARGE_THRESHOLD=1T LD_PRELOAD="$early:$lib" "$startup" "$dl"
check "env -i, preloaded" hakmem env -i LD_PRELOAD="$lib" "$startup" "$dl"
check "linked with //hakmem:malloc (constructor before hakmem's)" hakmem "$linked" "$dl"
check "linked, env -i" hakmem env -i "$linked" "$dl"
check "linked, HAKMEM_VERBOSE=1" hakmem env HAKMEM_VERBOSE=1 "$linked" "$dl"
# A program may dlopen libhakmem.so itself (for its hak_* API): its
# initial-exec thread-local data must fit glibc's static TLS surplus, or the
# dlopen fails with "cannot allocate memory in static TLS block".
check "dlopen of libhakmem.so itself (its TLS fits the static surplus)" hakmem \
  /usr/bin/python3 -c 'import ctypes, sys; ctypes.CDLL(sys.argv[1]).hak_trim; print("allocator: hakmem")' "$lib"
check "glibc alone (the test itself)" glibc env LD_PRELOAD="$early" "$startup" "$dl"
exit $status
