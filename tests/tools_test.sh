#!/usr/bin/env bash
# tools_test.sh — the tools users run: the installer, the launcher, hakmem.pc
# and the heap profile, checked as a user would use them.
#
#  1. Every command of the README's "Using hakmem" section (between
#     <!-- using:begin --> and <!-- using:end -->) runs, in order, in a
#     scratch HOME, with `bazel run //:install --`, `//:uninstall --` and
#     `//:hakmem --` standing for the same scripts and launcher this test
#     gets; its output is then checked.
#  2. Then, in a fresh prefix: nothing outside the manifest is installed; a
#     program builds through pkg-config with clang-16 and runs without
#     LD_LIBRARY_PATH; python3 runs through the launcher with --stats and
#     --mode; bad options exit 2 without running the program; exit codes
#     and signals pass through; a C++ program with three allocating
#     functions is profiled and google-pprof names all three, in the order
#     of their bytes; --option PROFILE_SAMPLE=1 counts every object; the
#     interval writes the file while the program runs; uninstall removes
#     everything.
#
# Needs: gcc, clang-16, pkg-config, python3, man, google-pprof (Debian
# google-perftools) and dot (graphviz, for --svg).
# Usage: tools_test.sh INSTALL UNINSTALL README LAUNCHER THREE_SITES_CC -- INSTALL_ARGS...
set -uo pipefail

install_sh="$PWD/$1"
uninstall_sh="$PWD/$2"
readme="$PWD/$3"
launcher="$PWD/$4"
three_src="$PWD/$5"
shift 5
[[ "${1:-}" == "--" ]] && shift
install_args=("$@")

failed=0
passed=0
fail() {
  echo "FAIL: $*"
  failed=$((failed + 1))
}
pass() { passed=$((passed + 1)); }
check() {  # check "what" command...: passes when the command succeeds
  local what="$1"
  shift
  if "$@"; then pass; else fail "$what"; fi
}

for tool in gcc clang-16 clang++-16 pkg-config python3 man; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is missing (tools/setup.sh installs it)"; exit 1; }
done
if ! command -v google-pprof >/dev/null; then
  echo "FAIL: google-pprof is missing: apt-get install google-perftools (tools/setup.sh installs it)"
  exit 1
fi
if ! command -v dot >/dev/null; then
  echo "FAIL: dot is missing (google-pprof --svg needs it): apt-get install graphviz"
  exit 1
fi

tmp="${TEST_TMPDIR:-$(mktemp -d)}/tools"
rm -rf "$tmp"
mkdir -p "$tmp"
export MANPAGER=cat PAGER=cat MANWIDTH=80

# As `bazel run` does: from the runfiles tree, the user's directory in
# BUILD_WORKING_DIRECTORY, //:install's args first.
runfiles="$PWD"
do_install() {
  local wd="${BUILD_WORKING_DIRECTORY:-$PWD}"
  (cd "$runfiles" && BUILD_WORKING_DIRECTORY="$wd" "$install_sh" "${install_args[@]}" "$@")
}
run_launcher() {
  local wd="${BUILD_WORKING_DIRECTORY:-$PWD}"
  (cd "$runfiles" && BUILD_WORKING_DIRECTORY="$wd" "$launcher" "$@")
}

# --- 1. the README's commands --------------------------------------------------------
section="$(sed -n '/<!-- using:begin -->/,/<!-- using:end -->/p' "$readme")"
if [[ -z "$section" ]]; then
  fail "README has no <!-- using:begin --> ... <!-- using:end --> section"
else
  script="$tmp/readme_commands.sh"
  {
    echo 'set -euo pipefail'
    printf 'install_sh=%q uninstall_sh=%q launcher=%q runfiles=%q\n' "$install_sh" "$uninstall_sh" "$launcher" "$runfiles"
    printf 'install_args=(%s)\n' "$(printf '%q ' "${install_args[@]}")"
    declare -f do_install run_launcher
    echo 'bazel() { echo "a README command runs bazel in a way this test does not know: bazel $*" >&2; return 1; }'
    # The ```sh blocks, in order; bazel run //:X -- becomes this test's copy of X.
    awk '/^```sh$/ {on = 1; n++; print "echo \"=== block " n "\""; next} /^```$/ {on = 0; next} on {print}' <<<"$section" |
      sed -e 's|^bazel run //:install -- |do_install |' \
        -e 's|^bazel run //:uninstall -- |"$uninstall_sh" |' \
        -e 's|^bazel run //:hakmem -- |run_launcher |'
  } >"$script"
  mkdir -p "$tmp/home" "$tmp/work"
  out="$tmp/readme.out"
  (cd "$tmp/work" && HOME="$tmp/home" bash "$script") >"$out" 2>&1
  rc=$?
  if [[ $rc != 0 ]]; then
    fail "the README's commands failed (exit $rc); the script was:"
    cat "$script"
    echo "--- its output:"
    tail -40 "$out"
  else
    pass
    grep -q "^hakmem statistics (mode BALANCED)" "$out" && pass || fail "README: --stats printed no report"
    grep -qx "hello" "$out" && pass || fail "README: python3 under --mode LEARNING did not print hello"
    grep -q "^usage: hakmem " "$out" && pass || fail "README: hakmem --help printed no usage"
    grep -q "HAKMEM_PROFILE_SAMPLE" "$out" && pass || fail "README: man hakmem lacks the option list"
    grep -qx "hakmem in BALANCED mode" "$out" && pass || fail "README: the pkg-config program did not run"
    head -1 "$tmp/work/heap.prof" | grep -q '^heap profile: .* @ heap_v2/524288$' && pass ||
      fail "README: heap.prof has no heap_v2 header: $(head -1 "$tmp/work/heap.prof" 2>&1)"
    grep -q "^Total: " "$out" && pass || fail "README: google-pprof --text printed no Total"
    grep -q "<svg" "$tmp/work/heap.svg" 2>/dev/null && pass || fail "README: google-pprof --svg drew no svg"
    [[ -z "$(find "$tmp/home/.local" -mindepth 1 2>/dev/null)" ]] && pass ||
      fail "README: uninstall left $(find "$tmp/home/.local" -mindepth 1 | head -5)"
  fi
fi

# --- 2. a fresh prefix -----------------------------------------------------------------
prefix="$tmp/prefix"
# A relative PREFIX is the user's (BUILD_WORKING_DIRECTORY), not the runfiles tree.
mkdir -p "$tmp/user"
if ! (BUILD_WORKING_DIRECTORY="$tmp/user" do_install "rel/prefix" >"$tmp/install.out" 2>&1); then
  fail "install into a relative prefix"
  cat "$tmp/install.out"
else
  check "a relative prefix lands under BUILD_WORKING_DIRECTORY" test -f "$tmp/user/rel/prefix/share/hakmem/manifest"
fi
if ! do_install "$prefix" >"$tmp/install.out" 2>&1; then
  fail "install into $prefix"
  cat "$tmp/install.out"
  echo "$passed passed, $failed failed"
  exit 1
fi
bin="$prefix/bin/hakmem"

# Exactly the manifest's files, and the library's names and soname.
listed="$(sed -n 's/^file //p' "$prefix/share/hakmem/manifest" | sort)"
present="$(cd "$prefix" && find . \( -type f -o -type l \) | sed 's|^\./||' | sort)"
[[ "$listed" == "$present" ]] && pass || fail "installed files differ from the manifest: $(diff <(echo "$listed") <(echo "$present"))"
[[ "$(readlink "$prefix/lib/libhakmem.so")" == libhakmem.so.0 && -f "$prefix/lib/libhakmem.so.0.1.0" ]] && pass ||
  fail "lib/libhakmem.so -> libhakmem.so.0 -> libhakmem.so.0.1.0 missing: $(ls -l "$prefix/lib")"
dyn="$(readelf -d "$prefix/lib/libhakmem.so.0.1.0")"
grep -q 'SONAME.*\[libhakmem.so.0\]' <<<"$dyn" && pass || fail "soname is not libhakmem.so.0"

# A program through pkg-config, with clang-16, run without LD_LIBRARY_PATH.
cat >"$tmp/api.c" <<'END'
#include <hakmem.h>
#include <stdio.h>
#include <stdlib.h>
int main(void) {
  void *big = hak_alloc_cs(4 << 20), *p = malloc(100);  // malloc is hakmem's too
  hak_stats_t s;
  if (!big || !p || hak_stats_get(&s, sizeof s) != 0) return 1;
  printf("large_allocs=%llu usable=%d\n", (unsigned long long)s.large_allocs, hak_usable_size(p) >= 100);
  hak_free(big);
  free(p);
  return 0;
}
END
if PKG_CONFIG_PATH="$prefix/lib/pkgconfig" clang-16 -Werror "$tmp/api.c" \
  $(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags --libs hakmem) -o "$tmp/api" 2>"$tmp/cc.err"; then
  got="$(env -u LD_LIBRARY_PATH "$tmp/api")"
  [[ "$got" == "large_allocs=1 usable=1" ]] && pass || fail "pkg-config program printed '$got'"
  # (ldd's output first: under pipefail, grep -q leaving early would fail ldd with SIGPIPE)
  deps="$(ldd "$tmp/api")"
  grep -qF "libhakmem.so.0 => $prefix/lib/libhakmem.so.0" <<<"$deps" && pass || fail "program does not load $prefix/lib/libhakmem.so.0"
else
  fail "clang-16 with pkg-config --cflags --libs hakmem: $(cat "$tmp/cc.err")"
fi

# python3 through the launcher: --stats and --mode reach the library.
got="$("$bin" --stats --mode fast -- python3 -c 'x = bytearray(8 << 20); print("ran")' 2>&1)"
grep -qx "ran" <<<"$got" && pass || fail "python3 did not run under the launcher: $got"
grep -q "^hakmem statistics (mode FAST)" <<<"$got" && pass || fail "--stats --mode fast: no FAST report: $got"
grep -Eq "large_allocs: [1-9]" <<<"$got" && pass || fail "--stats: the report shows no large allocation: $got"
# --option NAME=VALUE (any case) reaches the library: with a 32K threshold
# python's 40 KB buffers are large blocks.
got="$("$bin" --stats --option large_threshold=32K -- python3 -c 'x = [bytearray(40000) for _ in range(200)]' 2>&1)"
n="$(sed -n 's/^  large_allocs: //p' <<<"$got")"
[[ "${n:-0}" -ge 200 ]] && pass || fail "--option large_threshold=32K: large_allocs '${n:-}' (want >= 200)"

# What the program sees: each flag as its variable, canonical names and
# values, an absolute profile path, and the caller's LD_PRELOAD kept after
# hakmem's.
got="$(cd "$tmp" && LD_PRELOAD=/lib/x86_64-linux-gnu/libm.so.6 "$bin" --check --mode fast --profile p.heap \
  --option evo_learner=ELO -- sh -c 'echo "$HAKMEM_CHECK $HAKMEM_MODE $HAKMEM_PROFILE $HAKMEM_EVO_LEARNER|$LD_PRELOAD"')"
want="1 FAST $tmp/p.heap ELO|$prefix/lib/libhakmem.so.0.1.0 /lib/x86_64-linux-gnu/libm.so.6"
[[ "$got" == "$want" ]] && pass || fail "the program's environment: '$got', want '$want'"

# Bad flags: exit 2, a message naming the problem, and the program never runs.
bad_case() {  # bad_case "expected message" launcher-args...
  local want="$1"
  shift
  rm -f "$tmp/ran"
  local err rc
  err="$("$bin" "$@" -- touch "$tmp/ran" 2>&1)"
  rc=$?
  if [[ $rc == 2 && ! -e "$tmp/ran" ]] && grep -q -- "$want" <<<"$err"; then pass
  else fail "hakmem $*: exit $rc (want 2), ran=$([[ -e "$tmp/ran" ]] && echo yes || echo no), message: $err"; fi
}
bad_case "bad mode 'SPEEDY'" --mode SPEEDY
bad_case "unknown option NO_SUCH" --option NO_SUCH=1
bad_case "bad value 'maybe' for THP: one of off, on, auto" --option THP=maybe
bad_case "bad value '1K' for LARGE_THRESHOLD" --option LARGE_THRESHOLD=1K
bad_case "bad value '2x' for BIGCACHE" --option bigcache=2x
bad_case "wants NAME=VALUE" --option THP
bad_case "unknown flag --frobnicate" --frobnicate
bad_case "needs a value" --profile

# Exit status and signals pass through (the launcher execs the program).
"$bin" -- sh -c 'exit 7'
rc=$?
[[ $rc == 7 ]] && pass || fail "exit 7 came back as $rc"
{ "$bin" -- python3 -c 'import os, signal; os.kill(os.getpid(), signal.SIGUSR1)'; rc=$?; } 2>/dev/null
[[ $rc == $((128 + 10)) ]] && pass || fail "SIGUSR1 came back as exit $rc (want 138)"
sig="$(python3 -c 'import subprocess, sys; p = subprocess.run([sys.argv[1], "--", "sh", "-c", "kill -TERM $$"]); print(-p.returncode)' "$bin")"
[[ "$sig" == 15 ]] && pass || fail "the launcher's own wait status: killed by signal '$sig', want 15"
"$bin" -- "$tmp/no-such-program" 2>/dev/null
rc=$?
[[ $rc == 127 ]] && pass || fail "a missing program exits $rc (want 127)"

# --help lists every option; --version is the release.
help="$("$bin" --help)"
for name in LARGE_THRESHOLD THP SITE_SAMPLE CHECK EVO PROFILE PROFILE_INTERVAL PROFILE_SAMPLE VERBOSE; do
  grep -q "^  $name " <<<"$help" || fail "--help does not list $name"
done
pass
[[ "$("$bin" --version)" =~ ^hakmem\ [0-9]+\.[0-9]+\.[0-9]+$ ]] && pass || fail "--version: $("$bin" --version)"

# bazel run //:hakmem: the program runs where the user started bazel.
mkdir -p "$tmp/wd"
got="$(cd "$tmp/wd" && run_launcher -- pwd)"
[[ "$got" == "$tmp/wd" ]] && pass || fail "the bazel-built launcher ran the program in '$got', not $tmp/wd"
got="$(run_launcher --stats -- python3 -c 'pass' 2>&1)"
grep -q "^hakmem statistics" <<<"$got" && pass || fail "the bazel-built launcher found no libhakmem.so: $got"

# The heap profile of a C++ program with three allocating functions.
if clang++-16 -g -O1 "$three_src" -o "$tmp/three_sites" 2>"$tmp/cxx.err"; then
  (cd "$tmp" && "$bin" --profile three.prof -- ./three_sites >/dev/null)
  if [[ -s "$tmp/three.prof" ]]; then
    text="$(cd "$tmp" && google-pprof --text ./three_sites three.prof 2>/dev/null)"
    funcs="$(awk '$6 ~ /^make_/ {print $6}' <<<"$text" | tr '\n' ' ')"
    [[ "$funcs" == "make_images make_buffers make_names " ]] && pass ||
      fail "google-pprof --text names '$funcs', want make_images make_buffers make_names in that order; output: $text"
    grep -q "^MAPPED_LIBRARIES:" "$tmp/three.prof" && pass || fail "three.prof has no MAPPED_LIBRARIES section"
  else
    fail "--profile wrote no three.prof"
  fi
  # Every allocation sampled: pprof's in-use objects are the exact counts.
  (cd "$tmp" && "$bin" --profile all.prof --option PROFILE_SAMPLE=1 -- ./three_sites >/dev/null)
  if [[ -s "$tmp/all.prof" ]]; then
    objs="$(cd "$tmp" && google-pprof --text --inuse_objects ./three_sites all.prof 2>/dev/null | awk '$6 ~ /^make_/ {print $6 "=" $1}' | sort | tr '\n' ' ')"
    [[ "$objs" == "make_buffers=1600 make_images=48 make_names=120000 " ]] && pass ||
      fail "PROFILE_SAMPLE=1: in-use objects '$objs', want make_buffers=1600 make_images=48 make_names=120000"
  else
    fail "--profile with PROFILE_SAMPLE=1 wrote no all.prof"
  fi
else
  fail "clang++-16 could not build three_sites.cc: $(cat "$tmp/cxx.err")"
fi

# Frees are seen: a program that frees what it allocated shows nothing in use.
got="$("$bin" --profile "$tmp/freed.prof" --option PROFILE_SAMPLE=1 -- python3 -c '
import ctypes
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
ps = [libc.malloc(n) for n in (24, 5000, 300000, 3 << 20) for _ in range(50)]
for p in ps: libc.free(p)
' 2>&1)"
# ctypes calls malloc from one site (in libffi): one record per size bucket,
# each with 50 allocations and nothing left in use.
if [[ -s "$tmp/freed.prof" ]]; then
  for rec in '0: 0 [50: 1200]' '0: 0 [50: 250000]' '0: 0 [50: 15000000]' '0: 0 [50: 157286400]'; do
    grep -qF "$rec @" "$tmp/freed.prof" && pass || fail "freed.prof lacks the record '$rec': $(grep -F '[50: ' "$tmp/freed.prof")"
  done
else
  fail "no freed.prof: $got"
fi

# HAKMEM_PROFILE_INTERVAL: the file appears while the program still runs.
got="$("$bin" --profile "$tmp/interval.prof" --option PROFILE_INTERVAL=1 -- python3 -c '
import os, sys, time
start = time.time()
keep = []
while not os.path.exists(sys.argv[1]) and time.time() - start < 60:
    keep.append(bytearray(256 << 10))
    keep = keep[-64:]
print("seen" if os.path.exists(sys.argv[1]) else "never written")
' "$tmp/interval.prof" 2>&1)"
[[ "$got" == seen ]] && pass || fail "PROFILE_INTERVAL=1: $got"

# Uninstall removes every file and the directories the install made.
if "$uninstall_sh" "$prefix" >"$tmp/uninstall.out" 2>&1; then
  left="$(find "$prefix" -mindepth 1 2>/dev/null)"
  [[ -z "$left" ]] && pass || fail "uninstall left: $left"
else
  fail "uninstall: $(cat "$tmp/uninstall.out")"
fi

echo "$passed passed, $failed failed"
[[ $failed == 0 ]]
