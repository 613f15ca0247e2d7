#!/bin/bash
# run.sh — the misuse suite: every kind x size run in its own process under
# glibc, hakmem (release) and hakmem checked (HAKMEM_CHECK=1).
#   run.sh LIBHAKMEM MISUSE MISUSE_CC [--table]
# Outcomes: abort (SIGABRT: the allocator's message), segv (the access
# faulted: SIGSEGV/SIGBUS), refused (NULL where a valid call cannot fail),
# silent (nothing stopped it), n/a (the allocator made the call legal),
# hang, other. Caught = abort, segv or refused.
# Fails unless checked mode catches every case outside CHECKED_NOT_CAUGHT
# and PENDING_ELSEWHERE, and release mode catches every case glibc catches
# outside RELEASE_DIFFERS and PENDING_ELSEWHERE. --table prints the
# README's Misuse table (markdown) instead of the verdict lines.
set -u
lib="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
c_prog="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"
cc_prog="$(cd "$(dirname "$3")" && pwd)/$(basename "$3")"
table=0
[[ "${4:-}" == "--table" ]] && table=1

C_KINDS="double-free double-free-interleaved double-free-after-reuse double-free-cross-thread
double-free-realloced-away double-free-realloc-zero realloc-after-free
free-stack free-alloca free-static free-far free-near free-interior free-unaligned realloc-interior
overflow-store-1 overflow-store-32 overflow-store-1m overflow-memcpy-1 overflow-memcpy-32 overflow-memcpy-1m
underflow-store-1 underflow-store-32 underflow-store-1m underflow-memcpy-1 underflow-memcpy-32 underflow-memcpy-1m
write-after-free read-after-free zero-size-write"
CC_KINDS="new-free new-array-free malloc-delete new-delete-array new-array-delete sized-delete-mismatch"
SIZES="8 4096 262144"

# Cases waiting for work elsewhere ("kind:size:mode" entries, "*" matching
# any size or mode): none.
PENDING_ELSEWHERE="
"
# Checked mode cannot catch these (README, Misuse): none (a freed pool block
# within the guard budget faults on a read; past it, the read is not caught).
CHECKED_NOT_CAUGHT=""
# Release mode catches every case glibc catches: none differs.
RELEASE_DIFFERS=""

in_set() {  # case set
  local k="$1" s="$2" m="$3" e ek es em
  for e in $4; do
    IFS=: read -r ek es em <<< "$e"
    # shellcheck disable=SC2053
    [[ "$k" == $ek ]] && [[ "$es" == "*" || "$es" == "$s" ]] && [[ "$em" == "*" || "$em" == "$m" ]] && return 0
  done
  return 1
}

outcome() {  # mode prog kind size
  local rc
  case "$1" in
    glibc) timeout 20 "$2" "$3" "$4" > /dev/null 2>&1; rc=$? ;;
    release) LD_PRELOAD="$lib" timeout 20 "$2" "$3" "$4" > /dev/null 2>&1; rc=$? ;;
    checked) HAKMEM_CHECK=1 LD_PRELOAD="$lib" timeout 20 "$2" "$3" "$4" > /dev/null 2>&1; rc=$? ;;
  esac
  case $rc in
    0) echo silent ;; 134) echo abort ;; 139 | 135) echo segv ;; 3) echo refused ;; 4) echo n/a ;;
    124) echo hang ;; *) echo "other($rc)" ;;
  esac
}
caught() { [[ "$1" == abort || "$1" == segv || "$1" == refused ]]; }

failed=0 total=0 checked_caught=0 release_caught=0 glibc_caught=0 pending=0
[[ $table == 1 ]] && { echo "| kind | size | release | checked | glibc |"; echo "|---|---|---|---|---|"; }
for k in $C_KINDS $CC_KINDS; do
  prog="$c_prog"
  [[ " $CC_KINDS " == *" $k "* ]] && prog="$cc_prog"
  for s in $SIZES; do
    total=$((total + 1))
    g=$(outcome glibc "$prog" "$k" "$s")
    r=$(outcome release "$prog" "$k" "$s")
    c=$(outcome checked "$prog" "$k" "$s")
    caught "$g" && glibc_caught=$((glibc_caught + 1))
    caught "$r" && release_caught=$((release_caught + 1))
    caught "$c" && checked_caught=$((checked_caught + 1))
    verdict=ok
    if ! caught "$c" && [[ "$c" != n/a ]]; then
      if in_set "$k" "$s" checked "$PENDING_ELSEWHERE"; then verdict=pending
      elif ! in_set "$k" "$s" checked "$CHECKED_NOT_CAUGHT"; then verdict=FAIL; fi
    fi
    if caught "$g" && ! caught "$r" && [[ "$r" != n/a ]]; then
      if in_set "$k" "$s" release "$PENDING_ELSEWHERE"; then [[ $verdict == ok ]] && verdict=pending
      elif ! in_set "$k" "$s" release "$RELEASE_DIFFERS"; then verdict=FAIL; fi
    fi
    [[ $verdict == pending ]] && pending=$((pending + 1))
    [[ $verdict == FAIL ]] && failed=$((failed + 1))
    if [[ $table == 1 ]]; then echo "| $k | $s | $r | $c | $g |"
    else echo "$verdict $k $s: release=$r checked=$c glibc=$g"; fi
  done
done
echo
echo "$total cases: checked caught $checked_caught, release $release_caught, glibc $glibc_caught; $pending pending elsewhere, $failed failed"
[[ $failed == 0 ]]
