#!/usr/bin/env bash
# fuzz/ci.sh — what .ci/run runs after the README's test command: the
# sanitizer test runs, then every fuzzer for a bounded time. Fails on any
# failing test or fuzzer finding. About 10 minutes on 2 cores with a cold cache.
#   FUZZ_SECONDS  seconds per fuzzer (default 30)
set -euo pipefail
cd "$(dirname "$0")/.."
bazel=${BAZEL:-bazel}
echo "== bazel test --config=asan //..."
"$bazel" test --config=asan //...
echo "== bazel test --config=tsan //..."
"$bazel" test --config=tsan //...
echo "== fuzz/smoke.sh ${FUZZ_SECONDS:-30}"
fuzz/smoke.sh "${FUZZ_SECONDS:-30}"
