#!/usr/bin/env bash
# run_fuzzer.sh — what `bazel run //fuzz:<name>` runs (see fuzz/README.md).
#
#   bazel run //fuzz:<name>                  fuzz until stopped (Ctrl-C) or a finding
#   bazel run //fuzz:<name> -- -max_total_time=600 -jobs=2
#   bazel run //fuzz:<name> -- crash-file    replay one input (any libFuzzer usage works)
#
# With no input files or directories given, new inputs go to
# fuzz/out/<name>/corpus (not committed), seeds are read from
# fuzz/corpus/<name>, and findings are written to fuzz/out/<name>/.
# Relative paths are taken from the directory bazel was started in.
set -euo pipefail
name=$1
shift
bin="$(cd "$(dirname "$0")" && pwd)/${name}_bin"
# By its real path: the sanitizers refuse a symlink named otherwise. TSan needs
# it for threads_fuzzer's suppression of libFuzzer's own counter race.
if command -v llvm-symbolizer >/dev/null; then
  [[ -n "${ASAN_SYMBOLIZER_PATH:-}" ]] || export ASAN_SYMBOLIZER_PATH="$(readlink -f "$(command -v llvm-symbolizer)")"
  [[ -n "${TSAN_SYMBOLIZER_PATH:-}" ]] || export TSAN_SYMBOLIZER_PATH="$(readlink -f "$(command -v llvm-symbolizer)")"
fi
[[ -n "${BUILD_WORKING_DIRECTORY:-}" ]] && cd "$BUILD_WORKING_DIRECTORY"

positional=0
for a in "$@"; do [[ $a == -* ]] || positional=1; done
if ((positional == 0)); then
  ws="${BUILD_WORKSPACE_DIRECTORY:-}"
  if [[ -z $ws ]]; then
    echo "$name: give a corpus directory or run through 'bazel run //fuzz:$name'" >&2
    exit 2
  fi
  out="$ws/fuzz/out/$name"
  mkdir -p "$out/corpus"
  set -- "-artifact_prefix=$out/" "$@" "$out/corpus" "$ws/fuzz/corpus/$name"
  echo "$name: new inputs -> $out/corpus, findings -> $out/, seeds from fuzz/corpus/$name" >&2
fi
exec "$bin" "$@"
