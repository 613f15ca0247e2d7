#!/usr/bin/env bash
# fuzz/ci.sh — what .ci/run runs after the README's test command: the ASan and
# TSan test runs, then every fuzzer for a bounded time (fuzz/smoke.sh: the
# four ASan fuzzers and threads_fuzzer under TSan). Runs every step even
# after a failure, then fails if any step failed. About 6-10 minutes on 2
# cores with a cold Bazel cache.
#   FUZZ_SECONDS  seconds per fuzzer (default 20: five fuzzers in less than
#                 the two minutes four took at 30, for the TSan copy's build)
set -uo pipefail
cd "$(dirname "$0")/.."
bazel=${BAZEL:-bazel}
failed=()
step() {
  local name=$1
  shift
  echo "== $name"
  local t0=$SECONDS
  if "$@"; then
    echo "== $name: ok ($((SECONDS - t0)) s)"
  else
    echo "== $name: FAILED ($((SECONDS - t0)) s)"
    failed+=("$name")
  fi
}
step "bazel test --config=asan //..." "$bazel" test --config=asan //...
step "bazel test --config=tsan //..." "$bazel" test --config=tsan //...
step "fuzz/smoke.sh ${FUZZ_SECONDS:-20}" fuzz/smoke.sh "${FUZZ_SECONDS:-20}"
if ((${#failed[@]})); then
  printf 'fuzz/ci.sh: FAILED: %s\n' "${failed[@]}"
  exit 1
fi
echo "fuzz/ci.sh: all passed"
