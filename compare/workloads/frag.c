/* frag.c — fragmentation: how much memory stays resident when a program's
 * live data shrinks. Phase 1 allocates a mixed-size heap (95% 16 B–4 KiB,
 * 5% 4–256 KiB) up to 96 MiB of requests; phase 2 frees 90% of the blocks
 * at random, keeping 10%; phase 3 allocates new blocks of slightly different
 * sizes up to half the original volume (is the freed space reused?). RSS is
 * read from /proc/self/statm after each phase.
 *
 * One op = one malloc or free. Headline numbers (extra{}): rss_after_free_kb
 * against live_kb_after_free, and rss_after_refill_kb.
 */
#include <stdlib.h>

#include "compare/workloads/common.h"

static size_t frag_size(wl_rng_t *rng, size_t shift) {
  if (wl_next(rng) % 20 != 0) return wl_small_size(rng, 4096) + shift;
  return (size_t)wl_range(rng, 4096, 256 * 1024) + shift;
}

int main(int argc, char **argv) {
  wl_args_t args;
  wl_parse_args(argc, argv, &args, "frag", 1,
                "Fragmentation: fill 96 MiB of mixed sizes, free 90%, refill 50%; RSS after each.");
  const uint64_t volume = wl_scaled(&args, 96.0 * 1024 * 1024);
  wl_rng_t rng = wl_rng(args.seed, 8);
  /* The block table is sized up front (not grown) so it does not fragment. */
  const size_t cap = (size_t)(volume / 1024) + 1024; /* mean request is ~7 KiB */
  void **blk = wl_malloc(cap * sizeof *blk);
  size_t *len = wl_malloc(cap * sizeof *len);
  uint64_t *tag = wl_malloc(cap * sizeof *tag);
  size_t n = 0;
  uint64_t sum = 0, ops = 0, bytes = 0;
  uint64_t rss_start = wl_rss_kb();

  uint64_t t0 = wl_now_ns();
  while (bytes < volume && n < cap) { /* phase 1: build the heap */
    len[n] = frag_size(&rng, 0);
    tag[n] = wl_next(&rng);
    blk[n] = wl_malloc(len[n]);
    wl_fill(blk[n], len[n], tag[n]);
    bytes += len[n];
    n++;
    ops++;
  }
  uint64_t rss_full = wl_rss_kb();

  uint64_t live = 0; /* phase 2: free 90% at random, keep 10% */
  for (size_t i = 0; i < n; i++) {
    if (wl_next(&rng) % 10 == 0) {
      live += len[i];
      continue;
    }
    sum += wl_check(blk[i], len[i], tag[i], "block before free");
    free(blk[i]);
    blk[i] = NULL;
    ops++;
  }
  uint64_t rss_freed = wl_rss_kb();

  uint64_t refill = 0; /* phase 3: new sizes into the freed slots */
  for (size_t i = 0; i < n && refill < volume / 2; i++) {
    if (blk[i]) continue;
    len[i] = frag_size(&rng, 8);
    tag[i] = wl_next(&rng);
    blk[i] = wl_malloc(len[i]);
    wl_fill(blk[i], len[i], tag[i]);
    refill += len[i];
    ops++;
  }
  uint64_t rss_refill = wl_rss_kb();

  for (size_t i = 0; i < n; i++) { /* survivors and newcomers must be intact */
    if (!blk[i]) continue;
    sum += wl_check(blk[i], len[i], tag[i], "block at exit");
    free(blk[i]);
    ops++;
  }
  uint64_t t1 = wl_now_ns();
  free(blk);
  free(len);
  free(tag);

  wl_result_t res = {.ops = ops, .elapsed_ns = t1 - t0, .checksum = sum};
  wl_extra(&res, "requested_kb", (double)bytes / 1024);
  wl_extra(&res, "rss_start_kb", (double)rss_start);
  wl_extra(&res, "rss_full_kb", (double)rss_full);
  wl_extra(&res, "live_kb_after_free", (double)live / 1024);
  wl_extra(&res, "rss_after_free_kb", (double)rss_freed);
  wl_extra(&res, "refill_kb", (double)refill / 1024);
  wl_extra(&res, "rss_after_refill_kb", (double)rss_refill);
  wl_report(&args, &res);
  return 0;
}
