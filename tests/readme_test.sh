#!/usr/bin/env bash
# readme_test.sh — the README stays true: its option table is exactly what
# //hakmem:options_doc prints from the option table, and its quick-start test
# line is the command .ci/run runs.
set -euo pipefail
options_doc="$1"
readme="$2"
ci="$3"
failed=0
want="$("$options_doc")"
have="$(sed -n '/<!-- options:begin -->/,/<!-- options:end -->/p' "$readme" | sed '1d;$d')"
if [[ "$want" != "$have" ]]; then
  echo "FAIL: README option table is out of date; paste the output of: bazel run //hakmem:options_doc"
  diff <(echo "$want") <(echo "$have") | head -20 || true
  failed=$((failed + 1))
fi
test_line="$(grep -E '^tools/setup.sh && bazel test' "$readme" | head -1)"
main_line="$(grep -E '^tools/setup.sh && bazel run' "$readme" | head -1)"
if [[ -z "$test_line" || -z "$main_line" ]]; then
  echo "FAIL: README quick start lacks its two lines"
  failed=$((failed + 1))
elif ! grep -qxF "${test_line} || status=1" "$ci"; then
  echo "FAIL: .ci/run does not run the README's test line: $test_line"
  failed=$((failed + 1))
fi
echo "$((2 - failed)) passed, $failed failed"
[[ $failed == 0 ]]
