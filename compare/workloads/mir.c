/* mir.c — the MIR scenario: a compiler's intermediate representation, built
 * in blocks of ~256 KiB on average (16–496 KiB, uniform), with a window of 8
 * live blocks; each op retires a random one and builds a new one.
 *
 * One op = check + free the old block in a random slot, malloc + fill a new
 * one (one word per 4 KiB page plus both ends, see wl_fill).
 */
#include <stdlib.h>

#include "compare/workloads/common.h"

enum { WINDOW = 8 };

int main(int argc, char **argv) {
  wl_args_t args;
  wl_parse_args(argc, argv, &args, "mir", 1,
                "MIR scenario: ~256 KiB blocks (16-496 KiB), window of 8 live blocks.");
  const uint64_t ops = wl_scaled(&args, 12000);
  wl_rng_t rng = wl_rng(args.seed, 2);
  void *blk[WINDOW] = {0};
  size_t len[WINDOW] = {0};
  uint64_t tag[WINDOW] = {0};
  uint64_t sum = 0;

  uint64_t t0 = wl_now_ns();
  for (uint64_t i = 0; i < ops; i++) {
    unsigned s = (unsigned)(wl_next(&rng) % WINDOW);
    if (blk[s]) {
      sum += wl_check(blk[s], len[s], tag[s], "mir block");
      free(blk[s]);
    }
    len[s] = (size_t)wl_range(&rng, 16 * 1024, 496 * 1024);
    tag[s] = wl_next(&rng);
    blk[s] = wl_malloc(len[s]);
    wl_fill(blk[s], len[s], tag[s]);
  }
  for (unsigned s = 0; s < WINDOW; s++) {
    if (!blk[s]) continue;
    sum += wl_check(blk[s], len[s], tag[s], "mir block at exit");
    free(blk[s]);
  }
  uint64_t t1 = wl_now_ns();

  wl_result_t res = {.ops = ops, .elapsed_ns = t1 - t0, .checksum = sum};
  wl_extra(&res, "avg_request_bytes", 256 * 1024);
  wl_report(&args, &res);
  return 0;
}
