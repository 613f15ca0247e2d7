#!/usr/bin/env bash
# preload_test.sh — real programs run unchanged with libhakmem.so preloaded:
# each one's output must equal its output under glibc, and hakmem must really
# have served allocations (its exit report, HAKMEM_VERBOSE=1, shows counters).
# Tagged replaces_malloc: sanitizer configs skip it.
set -euo pipefail

lib="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
probe="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"
[[ -f "$lib" ]] || { echo "no library at $1" >&2; exit 1; }
work="$(mktemp -d "${TEST_TMPDIR:-/tmp}/preload.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cd "$work"
export HOME="$work" GIT_CONFIG_NOSYSTEM=1 LC_ALL=C
passed=0
failed=0
verbose=1

# run NAME CMD...: runs CMD under glibc and under hakmem (BALANCED, MINIMAL,
# LEARNING, and BALANCED in checked mode), compares stdout, checks that hakmem was loaded (its exit report,
# when $verbose is 1) and served large blocks (when $want_large is 1).
run() {
  local name="$1"
  shift
  local ref got
  ref="$(timeout 120 "$@" 2>/dev/null)" || { echo "FAIL $name: failed under glibc"; failed=$((failed + 1)); return; }
  for mode in BALANCED MINIMAL LEARNING CHECKED; do
    local check=0 m=$mode
    if [[ $mode == CHECKED ]]; then check=1 m=BALANCED; fi
    if ! got="$(HAKMEM_MODE=$m HAKMEM_CHECK=$check HAKMEM_VERBOSE=$verbose LD_PRELOAD="$lib" timeout 300 "$@" 2>"$work/err")"; then
      echo "FAIL $name ($mode): exit status $?"; tail -5 "$work/err"; failed=$((failed + 1)); continue
    fi
    if [[ "$got" != "$ref" ]]; then
      echo "FAIL $name ($mode): output differs from glibc's"; failed=$((failed + 1)); continue
    fi
    if [[ "$verbose" == 1 ]] && ! grep -q "hakmem statistics (mode $m)" "$work/err"; then
      echo "FAIL $name ($mode): hakmem was not loaded"; failed=$((failed + 1)); continue
    fi
    if [[ "$want_large" == 1 ]] && ! grep -q "large_allocs: [1-9]" "$work/err"; then
      echo "FAIL $name ($mode): no large block was served by hakmem"; failed=$((failed + 1)); continue
    fi
    echo "ok   $name ($mode)"
    passed=$((passed + 1))
  done
}

# --- no request reaches glibc's allocator ------------------------------------------
for mode in BALANCED MINIMAL; do
  got="$(HAKMEM_MODE=$mode LD_PRELOAD="$lib" "$probe" glibc)"
  if [[ "$got" == "arena=0 hblkhd=0 uordblks=0" ]]; then
    echo "ok   glibc untouched ($mode)"; passed=$((passed + 1))
  else
    echo "FAIL glibc's allocator was used ($mode): $got"; failed=$((failed + 1))
  fi
done
got="$(LD_PRELOAD="$lib" "$probe" trim)"
if [[ "$got" == "trim=1" ]]; then
  echo "ok   malloc_trim gives memory back"; passed=$((passed + 1))
else
  echo "FAIL malloc_trim: $got"; failed=$((failed + 1))
fi
ref="$("$probe" glibc)"
if [[ "$ref" == "arena=0 hblkhd=0 uordblks=0" ]]; then
  echo "FAIL the probe cannot tell: glibc alone reports $ref"; failed=$((failed + 1))
fi

# --- coreutils ---------------------------------------------------------------
want_large=0
run ls ls -la /usr/bin
seq 1 400000 | awk '{print ($1 * 7919) % 1000003}' > numbers.txt
want_large=1
run sort sort -n numbers.txt
run sort-unique sort -u -k1,1 numbers.txt

# --- python (Debian's interpreter, its own allocator off) ---------------------
py=/usr/bin/python3
cat > work.py <<'PY'
import hashlib, json, re
blobs = [bytearray(i * 65536 + 1) for i in range(1, 64)]
for i, b in enumerate(blobs):
    b[-1] = i
data = {"k%d" % i: list(range(i % 50)) for i in range(20000)}
text = json.dumps(data, sort_keys=True)
again = json.loads(text)
words = re.findall(r"k\d+", text)
big = b"x" * (8 << 20)
print(len(text), len(words), sum(b[-1] for b in blobs), hashlib.sha256(text.encode() + big).hexdigest())
PY
PYTHONMALLOC=malloc run python "$py" work.py
# A few of Python's own standard-library test suites (Debian's
# libpython3.11-testsuite), every object through malloc. Some of them check
# that child processes print nothing on stderr: no exit report here.
want_large=0
verbose=0
PYTHONMALLOC=malloc run python-stdlib-tests sh -c "$py -m test -q test_json test_re test_collections test_heapq test_struct test_bisect 2>&1 | grep -E '^(Tests result|All [0-9]+ tests)' || true"

verbose=1

# --- sqlite3 ----------------------------------------------------------------------
cat > db.sql <<'SQL'
CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, payload BLOB);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 20000)
INSERT INTO t SELECT x, 'name' || x, zeroblob(x % 3000) FROM c;
CREATE INDEX t_name ON t(name);
SELECT count(*), sum(length(payload)), max(name) FROM t;
PRAGMA integrity_check;
SQL
want_large=0
run sqlite3 sh -c 'rm -f t.db && sqlite3 t.db < db.sql'

# --- git --------------------------------------------------------------------------
cat > git.sh <<'SH'
set -e
rm -rf repo clone
git init -q repo && cd repo
git config user.email t@example.com && git config user.name t
for i in $(seq 1 40); do seq $i 3000 > f$i.txt; done
head -c 3000000 /dev/zero | tr '\0' 'a' > big.txt
git add . && git commit -qm one
sed -i 's/1/one/' f*.txt && git commit -qam two
cd .. && git clone -q repo clone && cd clone
git fsck --no-progress && echo fsck-ok
git log --format=%s
git diff HEAD~1 --stat | tail -1
SH
run git sh git.sh

# --- a compiler run ---------------------------------------------------------------
cat > hello.c <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(void) {
  size_t n = 3u << 20;
  char *p = malloc(n);
  memset(p, 'h', n);
  p = realloc(p, 2 * n);
  printf("%c%zu\n", p[n - 1], n);
  free(p);
  return 0;
}
C
cc=$(command -v clang-16 || command -v cc)
run compile sh -c "$cc -O2 -o hello hello.c && ./hello"

echo "$passed passed, $failed failed"
[[ "$failed" == 0 ]]
