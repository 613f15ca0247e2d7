#!/bin/bash
# aslr_test.sh LIBHAKMEM ASLR [RUNS] — how random the addresses hakmem hands
# out are: RUNS (64) processes print where a fresh 32 B, 300 KiB, 64 MiB,
# 4 KiB, 16 KiB and 128 KiB block land, and the test counts the distinct
# values each group of bits takes.
#   bits 22..29 (which 4 MiB slot: os.c's random placement) of every block;
#   bits 16..21 (which 64 KiB page of its segment: the segment hands out its
#   pages from a random one on, segment.h) of the 32 B and 4 KiB pool blocks:
#   with the slot's 23.6 bits (os.c), log2(63) = 6 more, 29.6 in all; a
#   segment that starts at its first page every time gives 1 value here;
#   bits 6..21 (where a large block's pointer sits in its slot: a random
#   number of cache lines and pages, large.c) of the 300 KiB and 64 MiB ones;
#   bits 12..21 (the page) of the 64 MiB one (its class leaves 16 MiB of room);
#   the medium 16 KiB block (a heap's first medium block): bits 19..21 (which
#   512 KiB page of its segment: the first page a segment takes is a random
#   one of its 8, the short page 0 included), its place in that page (a
#   page's first carve is a run of 1..8 blocks, handed out from its last:
#   segment.c, hak_page_extend) and bits 12..21 (both: its offset in its
#   segment, 64 places); so a medium block has the slot's 23.6 bits, log2(8)
#   = 3 for the page and log2(8) = 3 for the place, 29.6 in all (29.5 for
#   the 64 KiB class, two of whose pages hold 7); before, a heap's first
#   medium block was always at its segment's offset 64 KiB (1 value here);
#   the 128 KiB block (the one-page kind: one page of 4028 KiB, carved one
#   block at a time from its start): its slot's bits 22..29 only (23.6);
# and that no two runs hand out the same large or pool address. With N runs
# over V equally likely values about V (1 - e^(-N/V)) distinct ones are
# expected: for 64 runs 56 of 256 slots (the test wants 40), 40 of 63 pages
# and 28 of 32 (wants 20, 5 standard deviations below), 8 of 8 (wants 6), 40
# of 64 (wants 20); a fixed offset gives 1.
set -u
lib="$1" prog="$2" runs="${3:-64}" failed=0
declare -A slot0 slot1 slot2 slot3 pg0 pg3 in1 in2 page2 all0 all1 all2 all3
declare -A slot4 pg4 at4 off4 all4 slot5 all5
for ((i = 0; i < runs; i++)); do
  read -r a b c d e f <<< "$(LD_PRELOAD="$lib" "$prog")"
  if [[ -z "${f:-}" ]]; then echo "FAIL: run $i printed '$a $b $c ${d:-} ${e:-}'"; exit 1; fi
  a=$((0x$a)) b=$((0x$b)) c=$((0x$c)) d=$((0x$d)) e=$((0x$e)) f=$((0x$f))
  # The medium block's page (512 KiB) and its place there (page 0's blocks
  # start after the 64 KiB header).
  epage=$(( (e >> 19) & 7 )) ebase=$(( (e >> 19 & 7) ? 0 : 0x10000 ))
  slot4[$(( (e >> 22) & 0xff ))]=1 pg4[$epage]=1 at4[$(( ((e & 0x7ffff) - ebase) / 16384 ))]=1
  off4[$(( (e >> 12) & 0x3ff ))]=1 all4[$e]=1
  slot5[$(( (f >> 22) & 0xff ))]=1 all5[$f]=1
  slot3[$(( (d >> 22) & 0xff ))]=1 pg0[$(( (a >> 16) & 0x3f ))]=1 pg3[$(( (d >> 16) & 0x3f ))]=1
  all0[$a]=1 all3[$d]=1
  slot0[$(( (a >> 22) & 0xff ))]=1 slot1[$(( (b >> 22) & 0xff ))]=1 slot2[$(( (c >> 22) & 0xff ))]=1
  in1[$(( (b >> 6) & 0xffff ))]=1 in2[$(( (c >> 6) & 0xffff ))]=1 page2[$(( (c >> 12) & 0x3ff ))]=1
  all1[$b]=1 all2[$c]=1
done
want() {  # want NAME COUNT MIN
  echo "$1: $2 distinct values in $runs runs"
  if (( $2 < $3 )); then echo "FAIL: $1 took $2 values, want at least $3"; failed=$((failed + 1)); fi
}
want "32 B block, bits 22..29" ${#slot0[@]} $((runs * 5 / 8))
want "300 KiB block, bits 22..29" ${#slot1[@]} $((runs * 5 / 8))
want "64 MiB block, bits 22..29" ${#slot2[@]} $((runs * 5 / 8))
want "4 KiB block, bits 22..29" ${#slot3[@]} $((runs * 5 / 8))
want "32 B block, bits 16..21" ${#pg0[@]} $((runs * 5 / 16))
want "4 KiB block, bits 16..21" ${#pg3[@]} $((runs * 5 / 16))
want "300 KiB block, bits 6..21" ${#in1[@]} $((runs * 5 / 8))
want "64 MiB block, bits 6..21" ${#in2[@]} $((runs * 5 / 8))
want "64 MiB block, bits 12..21" ${#page2[@]} $((runs * 5 / 16))
want "32 B block, whole address" ${#all0[@]} $runs
want "4 KiB block, whole address" ${#all3[@]} $runs
want "300 KiB block, whole address" ${#all1[@]} $runs
want "64 MiB block, whole address" ${#all2[@]} $runs
want "16 KiB block, bits 22..29" ${#slot4[@]} $((runs * 5 / 8))
want "16 KiB block, its page (bits 19..21)" ${#pg4[@]} $(( runs < 16 ? 2 : 6 ))
want "16 KiB block, its place in its page" ${#at4[@]} $(( runs < 16 ? 2 : 6 ))
want "16 KiB block, bits 12..21" ${#off4[@]} $((runs * 5 / 16))
want "16 KiB block, whole address" ${#all4[@]} $runs
want "128 KiB block, bits 22..29" ${#slot5[@]} $((runs * 5 / 8))
want "128 KiB block, whole address" ${#all5[@]} $runs
[[ $failed == 0 ]] && echo "aslr: ok"
[[ $failed == 0 ]]
