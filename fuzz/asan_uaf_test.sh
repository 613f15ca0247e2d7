#!/usr/bin/env bash
# asan_uaf_test.sh BINARY — ASan reports a use-after-free of memory hakmem
# cached or freed: a large block in BigCache, a HOT spare. The control
# (reading a live block) must run clean, so the test cannot pass by the binary
# merely crashing. A freed small (pool) block must be reported too.
set -uo pipefail
bin=$1
export ASAN_OPTIONS=detect_leaks=0
fail=0
for mode in cached spare; do
  out=$("$bin" "$mode" 2>&1)
  rc=$?
  if ((rc == 0)) || ! grep -q "ERROR: AddressSanitizer: \(use-after-poison\|heap-use-after-free\)" <<<"$out"; then
    echo "FAIL $mode: exit $rc, no AddressSanitizer use-after-free report:"
    echo "$out" | head -20
    fail=1
  else
    echo "ok   $mode: $(grep -o 'AddressSanitizer: [a-z-]*' <<<"$out" | head -1)"
  fi
done
out=$("$bin" small 2>&1)
if grep -q "ERROR: AddressSanitizer: \(use-after-poison\|heap-use-after-free\)" <<<"$out"; then
  echo "ok   small: reported"
else
  echo "FAIL small: a use-after-free of a freed pool block is not reported"
  fail=1
fi
if ! out=$("$bin" live 2>&1); then
  echo "FAIL live: the control run failed:"
  echo "$out" | head -20
  fail=1
else
  echo "ok   live: no report"
fi
exit $fail
