/* mixed.c — the MIXED scenario: one process doing all of the above at once.
 * A window of 256 live blocks; each op replaces a random one with a block
 * drawn from the blend 70% small (8–1024 B), 20% JSON-sized (1–127 KiB),
 * 8% MIR-sized (16–496 KiB), 2% VM-sized (2 MiB).
 *
 * One op = check + free the old block in the slot, malloc + fill a new one.
 */
#include <stdlib.h>

#include "compare/workloads/common.h"

enum { WINDOW = 256 };

static size_t mixed_size(wl_rng_t *rng) {
  uint64_t pick = wl_next(rng) % 100;
  if (pick < 70) return wl_small_size(rng, 1024);
  if (pick < 90) return (size_t)wl_range(rng, 1024, 127 * 1024);
  if (pick < 98) return (size_t)wl_range(rng, 16 * 1024, 496 * 1024);
  return 2u << 20;
}

int main(int argc, char **argv) {
  wl_args_t args;
  wl_parse_args(argc, argv, &args, "mixed", 1,
                "MIXED scenario: 70% small, 20% JSON, 8% MIR, 2% VM-sized blocks, window 256.");
  const uint64_t ops = wl_scaled(&args, 40000);
  wl_rng_t rng = wl_rng(args.seed, 4);
  void **blk = wl_malloc(WINDOW * sizeof *blk);
  size_t *len = wl_malloc(WINDOW * sizeof *len);
  uint64_t *tag = wl_malloc(WINDOW * sizeof *tag);
  for (unsigned s = 0; s < WINDOW; s++) blk[s] = NULL;
  uint64_t sum = 0;

  uint64_t t0 = wl_now_ns();
  for (uint64_t i = 0; i < ops; i++) {
    unsigned s = (unsigned)(wl_next(&rng) % WINDOW);
    if (blk[s]) {
      sum += wl_check(blk[s], len[s], tag[s], "mixed block");
      free(blk[s]);
    }
    len[s] = mixed_size(&rng);
    tag[s] = wl_next(&rng);
    blk[s] = wl_malloc(len[s]);
    wl_fill(blk[s], len[s], tag[s]);
  }
  for (unsigned s = 0; s < WINDOW; s++) {
    if (!blk[s]) continue;
    sum += wl_check(blk[s], len[s], tag[s], "mixed block at exit");
    free(blk[s]);
  }
  uint64_t t1 = wl_now_ns();
  free(blk);
  free(len);
  free(tag);

  wl_result_t res = {.ops = ops, .elapsed_ns = t1 - t0, .checksum = sum};
  wl_report(&args, &res);
  return 0;
}
