#!/bin/sh
# run_py.sh — runs one of this repo's Python 3 programs from Bazel runfiles.
#
# Why not py_binary: Bazel 4's py_binary stub starts with `#!/usr/bin/env
# python`, and Debian has only `python3`, so it fails unless a Python toolchain
# is registered. The suite uses only the standard library, so calling python3
# directly is all it needs.
# Usage (from BUILD args): run_py.sh <path/in/workspace.py> [args...]
set -eu
script="$1"
shift
if [ -n "${TEST_SRCDIR:-}" ]; then
  root="$TEST_SRCDIR"
elif [ -n "${RUNFILES_DIR:-}" ]; then
  root="$RUNFILES_DIR"
elif [ -d "$0.runfiles" ]; then
  root="$0.runfiles"
else
  echo "run_py.sh: cannot find the runfiles of $0" >&2
  exit 2
fi
exec python3 "$root/hakmem/$script" "$@"
