#!/usr/bin/env bash
# fuzz/smoke.sh [SECONDS] — run every fuzzer for SECONDS (default 30) from its
# seed corpus; fail on any finding. Prints executions per fuzzer.
#
# Findings (crash-*, leak-*, timeout-*, oom-*) are written to fuzz/out/<name>/;
# the working corpus is a temporary directory (fuzz/corpus/ is not changed).
# Environment: FUZZERS="a b" runs only those; BAZEL=bazel; BAZEL_FLAGS=... are
# passed to the build (e.g. --config=debug for HAK_DEBUG=3).
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
bazel=${BAZEL:-bazel}
fuzzers=${FUZZERS:-$("$bazel" query 'filter("_fuzzer_bin$", //fuzz:all)' 2>/dev/null | sed 's|//fuzz:||; s|_bin$||' | sort)}
if [[ -z $fuzzers ]]; then
  echo "smoke: no fuzzers found (bazel query failed?)" >&2
  exit 2
fi
targets=()
for f in $fuzzers; do targets+=("//fuzz:${f}_bin"); done
# shellcheck disable=SC2086
"$bazel" build ${BAZEL_FLAGS:-} "${targets[@]}" || exit 2
bin_dir=$("$bazel" info ${BAZEL_FLAGS:-} bazel-bin 2>/dev/null)
# By its real path: the sanitizers refuse a symlink named otherwise. TSan needs
# it for threads_fuzzer's suppression of libFuzzer's own counter race.
if command -v llvm-symbolizer >/dev/null; then
  [[ -n "${ASAN_SYMBOLIZER_PATH:-}" ]] || export ASAN_SYMBOLIZER_PATH="$(readlink -f "$(command -v llvm-symbolizer)")"
  [[ -n "${TSAN_SYMBOLIZER_PATH:-}" ]] || export TSAN_SYMBOLIZER_PATH="$(readlink -f "$(command -v llvm-symbolizer)")"
fi

failed=0
summary=()
for f in $fuzzers; do
  out="fuzz/out/$f"
  work=$(mktemp -d)
  mkdir -p "$out"
  log="$out/smoke.log"
  echo "smoke: $f for ${seconds}s (log: $log)"
  "$bin_dir/fuzz/${f}_bin" -max_total_time="$seconds" -timeout=60 -rss_limit_mb=3072 -print_final_stats=1 \
    -artifact_prefix="$out/" "$work" "fuzz/corpus/$f" >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  rm -rf "$work"
  if ((rc != 0)); then
    failed=1
    summary+=("$(printf '%-24s FAIL (exit %d) after %s execs: see %s' "$f" "$rc" "${execs:-?}" "$log")")
    grep -E "invariant failed|ERROR: |SUMMARY|^  |Test unit written" "$log" | head -8 | sed 's/^/    /'
  else
    summary+=("$(printf '%-24s ok   %10s execs  %7s/s' "$f" "${execs:-?}" "${rate:-?}")")
  fi
done
echo
printf '%s\n' "${summary[@]}"
exit $failed
