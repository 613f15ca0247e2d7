#!/usr/bin/env bash
# replay_test.sh BINARY NAME — runs the fuzzer BINARY once over every file in
# fuzz/corpus/NAME and fuzz/regressions/NAME (no fuzzing: libFuzzer given
# files just executes them). Any crash or failed invariant fails the test.
set -euo pipefail
bin=$1
name=$2
if [[ -z "${ASAN_SYMBOLIZER_PATH:-}" ]] && command -v llvm-symbolizer >/dev/null; then
  export ASAN_SYMBOLIZER_PATH="$(readlink -f "$(command -v llvm-symbolizer)")"
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
