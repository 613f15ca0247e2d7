#!/usr/bin/env bash
# tools/setup.sh — install every Debian package this repository needs.
#
# Idempotent: packages already present are skipped, so a second run takes about
# a second and installs nothing. Prints what it checked and what it installed.
# Usage: tools/setup.sh [--with-extras]
#   --with-extras  also installs the programs used by the optional real-program
#                  and report-rendering checks (chromium).
set -euo pipefail

packages=(
  # build: Debian's Bazel and the local rule repositories WORKSPACE points at
  bazel-bootstrap bazel-platforms
  # compiler + sanitizer/libFuzzer runtimes (the repo builds with clang-16);
  # llvm: llvm-symbolizer, which the sanitizer and fuzz scripts use
  clang-16 libclang-rt-16-dev lld-16 llvm
  # tests
  googletest
  # comparison suite and its report (gperftools' tcmalloc: the minimal build,
  # no heap profiler, as a fourth allocator under the workloads)
  libmimalloc-dev libjemalloc-dev libtcmalloc-minimal4 gnuplot-nox python3
  # real programs that the LD_PRELOAD tests run
  sqlite3 git coreutils libpython3.11-testsuite lua5.4 redis-server redis-tools xz-utils gcc
  # measurement helpers
  valgrind linux-perf hyperfine
  # google-pprof (reads hakmem's heap profiles)
  google-perftools
  # the installer's test: pkg-config builds, man reads the page, pprof --svg draws with dot
  pkg-config man-db graphviz
)
if [[ "${1:-}" == "--with-extras" ]]; then
  packages+=(chromium)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "setup: all ${#packages[@]} packages present, nothing to do"
  exit 0
fi

echo "setup: installing ${missing[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup: done"
