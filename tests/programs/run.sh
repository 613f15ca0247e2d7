#!/usr/bin/env bash
# run.sh — real programs with libhakmem.so preloaded, each compared with its
# output under glibc, each under a timeout.
# Extends tests/preload_test.sh (which runs ls, sort, a Python script, six
# Python suites, a small sqlite3 database, a small git repository and a
# clang compile) with bigger and different work:
#   python3 -m test on other standard-library suites (PYTHONMALLOC=malloc),
#   sqlite3 building, querying and checking a 200k-row database,
#   git clone --no-hardlinks + fsck --full of a repository with 200 commits,
#   lua5.4 table/string churn, xz -T2 on a 96 MiB file (and back),
#   redis-server driven by redis-benchmark on 127.0.0.1,
#   gcc -O2 compiling hakmem's own sources (object files must be identical),
#   and the long fork series of //tests/reliability:stress (400 rounds).
#
# Usage: tests/programs/run.sh [--quick] [LIBHAKMEM] [STRESS]
#   Outside Bazel it builds //hakmem:libhakmem.so and the stress program.
#   --quick: smaller inputs, fewer suites (what //tests/programs:programs_test runs).
# About 8.5 minutes on 2 cores, xz being half of it (--quick: about 40 s). Needs: python3 with
# libpython3.11-testsuite, sqlite3, git, lua5.4, xz-utils, redis-server,
# redis-tools, gcc. A missing program is reported as SKIP, not as a pass.
set -uo pipefail
quick=0
one_mode=0  # 1: hakmem in BALANCED only (--quick), else BALANCED and MINIMAL
if [[ "${1:-}" == --quick ]]; then quick=1; one_mode=1; shift; fi
root="$(cd "$(dirname "$0")/../.." && pwd)"
if [[ $# -ge 1 ]]; then
  lib="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
  stress="${2:+$(cd "$(dirname "$2")" && pwd)/$(basename "$2")}"
else
  (cd "$root" && bazel build -c opt //hakmem:libhakmem.so //tests/reliability:stress >/dev/null 2>&1) || { echo "FAIL: bazel build"; exit 1; }
  lib="$(cd "$root" && bazel info -c opt bazel-bin 2>/dev/null)/hakmem/libhakmem.so"
  stress="$(dirname "$(dirname "$lib")")/tests/reliability/stress"
fi
[[ -f "$lib" ]] || { echo "no library at $lib"; exit 1; }
src="${TEST_SRCDIR:+$TEST_SRCDIR/${TEST_WORKSPACE:-hakmem}}"
src="${src:-$root}"
work="$(mktemp -d "${TEST_TMPDIR:-/tmp}/programs.XXXXXX")"
redis_pid=
cleanup() {
  [[ -n "$redis_pid" ]] && kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
export HOME="$work" GIT_CONFIG_NOSYSTEM=1 LC_ALL=C
passed=0 failed=0 skipped=0
start=$SECONDS

have() { command -v "$1" >/dev/null 2>&1; }
skip() { echo "SKIP $1: $2"; skipped=$((skipped + 1)); }

# run NAME TIMEOUT CMD...: stdout under glibc, then under hakmem (BALANCED;
# MINIMAL too unless $one_mode), must be equal.
run() {
  local name="$1" t="$2"
  shift 2
  local ref got t0=$SECONDS
  if ! ref="$(timeout "$t" "$@" 2>"$work/err.ref")"; then
    echo "FAIL $name: failed under glibc"; tail -3 "$work/err.ref"; failed=$((failed + 1)); return
  fi
  local modes="BALANCED MINIMAL"
  [[ $one_mode == 1 ]] && modes=BALANCED
  for mode in $modes; do
    t0=$SECONDS
    if ! got="$(HAKMEM_MODE=$mode LD_PRELOAD="$lib" timeout "$t" "$@" 2>"$work/err")"; then
      echo "FAIL $name ($mode): exit status $? (timeout $t s)"; tail -5 "$work/err"; failed=$((failed + 1)); continue
    fi
    if [[ "$got" != "$ref" ]]; then
      echo "FAIL $name ($mode): output differs from glibc's"
      diff <(echo "$ref") <(echo "$got") | head -10
      failed=$((failed + 1)); continue
    fi
    echo "ok   $name ($mode, $((SECONDS - t0)) s)"
    passed=$((passed + 1))
  done
}

# --- python: standard-library suites not in preload_test.sh ----------------------
py=/usr/bin/python3
if [[ -d /usr/lib/python3.11/test/test_json ]]; then
  suites="test_dict test_list test_set test_unicode test_bytes test_pickle test_deque test_itertools test_functools test_array"
  [[ $quick == 1 ]] && suites="test_dict test_set test_deque"
  # Only the verdict is compared (timings and order are not).
  PYTHONMALLOC=malloc run "python3 -m test ($suites)" 600 \
    sh -c "$py -m test -q $suites 2>&1 | grep -E '^(Tests result|All [0-9]+ tests)' || true"
else
  skip python "libpython3.11-testsuite not installed"
fi

# --- sqlite3 --------------------------------------------------------------------------
rows=200000
[[ $quick == 1 ]] && rows=30000
cat > db.sql <<SQL
PRAGMA cache_size = -65536;
CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT, v BLOB, n REAL);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < $rows)
INSERT INTO t SELECT x, printf('key-%08d', (x * 7919) % $rows), zeroblob(x % 4000), x / 7.0 FROM c;
CREATE INDEX t_k ON t(k);
CREATE INDEX t_n ON t(n DESC);
UPDATE t SET v = zeroblob(length(v) * 2) WHERE id % 3 = 0;
DELETE FROM t WHERE id % 5 = 0;
VACUUM;
SELECT count(*), sum(length(v)), min(k), max(k), round(sum(n), 3) FROM t;
SELECT k, count(*) FROM t GROUP BY substr(k, 1, 8) ORDER BY 2 DESC LIMIT 3;
PRAGMA integrity_check;
SQL
if have sqlite3; then
  run sqlite3 300 sh -c 'rm -f t.db && sqlite3 t.db < db.sql && sqlite3 t.db "PRAGMA quick_check; SELECT count(*) FROM t;"'
else skip sqlite3 "not installed"; fi

# --- git ------------------------------------------------------------------------------
commits=200
[[ $quick == 1 ]] && commits=40
cat > git.sh <<SH
set -e
rm -rf repo clone
git init -q repo && cd repo
git config user.email t@example.com && git config user.name t
export GIT_AUTHOR_DATE='2024-01-01T00:00:00Z' GIT_COMMITTER_DATE='2024-01-01T00:00:00Z'
for i in \$(seq 1 $commits); do
  seq \$i \$((i * 50)) > f\$((i % 17)).txt
  head -c \$((i * 1000)) /dev/zero | tr '\0' "\$((i % 10))" > blob\$((i % 5)).bin
  git add -A && git commit -qm "c\$i"
done
git gc -q
cd .. && git clone -q --no-hardlinks repo clone && cd clone
git fsck --full --no-progress --strict && echo fsck-ok
git rev-parse HEAD
git log --format=%s | wc -l
git diff HEAD~10 --stat | tail -1
git count-objects -v | grep -E '^(count|in-pack)'
SH
if have git; then run git 300 sh git.sh; else skip git "not installed"; fi

# --- lua: table and string churn -------------------------------------------------------
n=400000
[[ $quick == 1 ]] && n=100000
cat > churn.lua <<LUA
local t, sum = {}, 0
for i = 1, $n do
  t[i] = string.rep(string.char(65 + i % 26), i % 300) .. tostring(i)
  if i % 3 == 0 then t[i - 1] = nil end
end
local keys = {}
for k, v in pairs(t) do keys[#keys + 1] = k; sum = sum + #v end
table.sort(keys)
local parts = {}
for i = 1, #keys, 97 do parts[#parts + 1] = t[keys[i]]:sub(1, 5) end
local s = table.concat(parts, ",")
local m = {}
for w in s:gmatch("[^,]+") do m[w] = (m[w] or 0) + 1 end
local big = {}
for i = 1, 2000 do big[i] = string.rep("x", 4096 * (i % 64 + 1)) end
collectgarbage()
print(#keys, sum, #s, m["AAAAA"] or 0, #big[100])
LUA
if have lua5.4; then run lua5.4 300 lua5.4 churn.lua; else skip lua5.4 "not installed (apt-get install lua5.4)"; fi

# --- xz -T2 on a large file --------------------------------------------------------------
mb=96
[[ $quick == 1 ]] && mb=4
if have xz; then
  # Compressible but not trivial: numbers and repeated text.
  { seq 1 3000000 | awk '{print $1 * 2654435761 % 4294967296, "line", $1 % 977}'; yes "hakmem reliability" | head -2000000; } | head -c "${mb}M" > big.txt
  run "xz -T2 (${mb} MiB)" 300 sh -c 'xz -T2 -6 -c big.txt > big.xz && xz -T2 -d -c big.xz | sha256sum && sha256sum < big.xz && xz -l big.xz | tail -1'
else skip xz "not installed"; fi

# --- redis-server + redis-benchmark on loopback -----------------------------------------
requests=100000
[[ $quick == 1 ]] && requests=5000
redis_run() {  # the server under $1 (glibc or hakmem), driven on 127.0.0.1
  local how="$1" port
  port=$(( (RANDOM % 20000) + 30000 ))
  mkdir -p "redis-$how" && cd "redis-$how"
  if [[ $how == hakmem ]]; then
    LD_PRELOAD="$lib" redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no --daemonize no --logfile "$work/redis-$how.log" &
  else
    redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no --daemonize no --logfile "$work/redis-$how.log" &
  fi
  redis_pid=$!
  cd "$work"
  for _ in $(seq 1 100); do redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  local out
  out="$(timeout 300 redis-benchmark -h 127.0.0.1 -p "$port" -n "$requests" -c 20 -r 100000 -d 512 -q -t set,get,lpush,lpop,sadd,hset,mset 2>&1)" || { echo "benchmark failed"; echo "$out" | tail -3; }
  # Deterministic content, then checks that do not depend on timing.
  for i in $(seq 1 2000); do echo "SET key:$i $(printf 'v%.0s' $(seq 1 $((i % 50 + 1))))"; echo "RPUSH list $i"; done | redis-cli -h 127.0.0.1 -p "$port" >/dev/null
  echo "benchmark lines: $(echo "$out" | grep -c 'requests per second')"
  redis-cli -h 127.0.0.1 -p "$port" get key:777
  redis-cli -h 127.0.0.1 -p "$port" llen list
  redis-cli -h 127.0.0.1 -p "$port" lrange list 1995 2000 | tr '\n' ' '; echo
  redis-cli -h 127.0.0.1 -p "$port" flushall
  redis-cli -h 127.0.0.1 -p "$port" dbsize
  redis-cli -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1
  wait "$redis_pid" 2>/dev/null
  echo "server exit: $?"
  redis_pid=
}
if have redis-server && have redis-benchmark; then
  t0=$SECONDS
  ref="$(redis_run glibc)"; got="$(redis_run hakmem)"
  if [[ "$ref" == "$got" ]] && grep -q "benchmark lines: 7" <<<"$got"; then
    echo "ok   redis-server + redis-benchmark ($requests requests x 7 tests, $((SECONDS - t0)) s)"; passed=$((passed + 1))
  else
    echo "FAIL redis-server under hakmem:"; diff <(echo "$ref") <(echo "$got") | head; tail -3 "$work/redis-hakmem.log"; failed=$((failed + 1))
  fi
else skip redis "not installed (apt-get install redis-server redis-tools)"; fi

# --- gcc compiling hakmem's sources (in Bazel: the reliability tests' own C files) ------------
cfiles=("$src"/hakmem/*.c "$src"/hakmem/policy/*.c)
[[ -f "${cfiles[0]}" ]] || cfiles=("$src"/tests/reliability/*.c)
if have gcc && [[ -f "${cfiles[0]}" ]]; then
  printf '%s\n' "${cfiles[@]}" > cfiles.txt
  cat > cc.sh <<SH
set -e
rm -rf obj && mkdir obj
while read -r f; do gcc -std=gnu11 -D_GNU_SOURCE -O2 -g0 -I"$src" -c "\$f" -o obj/\$(basename "\$f" .c).o; done < cfiles.txt
cd obj && sha256sum *.o
SH
  run "gcc -O2 (${#cfiles[@]} files)" 300 sh cc.sh
else skip gcc "gcc or the sources not found"; fi

# --- the long fork series ------------------------------------------------------------------
if [[ $quick == 0 && -n "${stress:-}" && -x "$stress" ]]; then
  t0=$SECONDS
  if out="$(LD_PRELOAD="$lib" timeout 600 "$stress" fork 400 2>&1)"; then
    echo "$out"; passed=$((passed + 1))
  else
    echo "FAIL stress fork 400: $out" | tail -3; failed=$((failed + 1))
  fi
fi

echo "$passed passed, $failed failed, $skipped skipped ($((SECONDS - start)) s)"
[[ $failed == 0 ]]
