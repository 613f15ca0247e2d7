#!/usr/bin/env bash
# replay_test.sh BINARY NAME — runs the fuzzer BINARY once over every file in
# fuzz/corpus/NAME and fuzz/regressions/NAME (no fuzzing: libFuzzer given
# files just executes them). Any crash or failed invariant fails the test.
set -euo pipefail
bin=$1
name=$2
# By its real path: the sanitizers refuse a symlink named otherwise. TSan needs
# it for threads_fuzzer's suppression of libFuzzer's own counter race.
if command -v llvm-symbolizer >/dev/null; then
  [[ -n "${ASAN_SYMBOLIZER_PATH:-}" ]] || export ASAN_SYMBOLIZER_PATH="$(readlink -f "$(command -v llvm-symbolizer)")"
  [[ -n "${TSAN_SYMBOLIZER_PATH:-}" ]] || export TSAN_SYMBOLIZER_PATH="$(readlink -f "$(command -v llvm-symbolizer)")"
fi
inputs=()
for d in "fuzz/corpus/$name" "fuzz/regressions/$name"; do
  [[ -d $d ]] || continue
  while IFS= read -r -d '' f; do inputs+=("$f"); done < <(find -L "$d" -type f ! -name '.*' -print0 | sort -z)
done
if ((${#inputs[@]} == 0)); then
  echo "no inputs for $name: fuzz/corpus/$name is empty" >&2
  exit 1
fi
echo "replaying ${#inputs[@]} inputs through $name"
exec "$bin" "-artifact_prefix=${TEST_UNDECLARED_OUTPUTS_DIR:-${TEST_TMPDIR:-/tmp}}/" "${inputs[@]}"
