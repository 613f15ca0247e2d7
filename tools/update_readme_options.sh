#!/usr/bin/env bash
# Regenerates the option table in README.md from the option table in
# hakmem/options.h (via //hakmem:options_doc). tests/readme_test.sh checks it.
set -euo pipefail
cd "$(dirname "$0")/.."
bazel build //hakmem:options_doc 2>/dev/null
table="$(bazel-bin/hakmem/options_doc)"
TABLE="$table" python3 - <<'PY'
import os, re
text = open("README.md").read()
new = "<!-- options:begin -->\n" + os.environ["TABLE"] + "\n<!-- options:end -->"
text, n = re.subn(r"<!-- options:begin -->.*?<!-- options:end -->", lambda m: new, text, flags=re.S)
assert n == 1, "README.md has no options markers"
open("README.md", "w").write(text)
PY
echo "README.md option table updated"
