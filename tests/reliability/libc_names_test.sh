#!/bin/bash
# libc_names_test.sh LIBHAKMEM LIBC_NAMES — the extra libc names reach
# hakmem (release and checked mode), and the placement of large blocks is
# random: across runs their addresses differ in the bits a stack-derived
# start never changed (22..29) and their distance to the stack is never the same.
set -u
lib="$1" prog="$2" failed=0
for check in 0 1; do
  out="$(HAKMEM_CHECK=$check LD_PRELOAD="$lib" "$prog" names 2>&1)"
  if [[ "$out" != "names ok" ]]; then echo "FAIL names (HAKMEM_CHECK=$check): $out"; failed=$((failed + 1)); fi
done
declare -A slots dists
for i in 1 2 3 4 5 6 7 8; do
  read -r addr stack <<< "$(LD_PRELOAD="$lib" "$prog" hint)"
  slots[$(( (0x$addr >> 22) & 0xff ))]=1
  dists[$(( (0x$stack - 0x$addr) >> 22 ))]=1
done
if (( ${#slots[@]} < 4 )); then echo "FAIL hint: bits 22..29 took ${#slots[@]} values in 8 runs"; failed=$((failed + 1)); fi
if (( ${#dists[@]} < 7 )); then echo "FAIL hint: the distance to the stack repeated (${#dists[@]} values in 8 runs)"; failed=$((failed + 1)); fi
[[ $failed == 0 ]] && echo "libc names and hints: ok"
[[ $failed == 0 ]]
