/* phase_life.c — a call site whose lifetimes change half-way.
 *
 * One site (site_record), ~384 KiB blocks (352–416 KiB) all the way; only
 * how long they live changes. Phase 1, short-lived: a window of 8 live
 * blocks, each op replacing a random one. Phase 2, long-lived: generations
 * of 128 blocks (~48 MiB) are allocated and kept, then all checked and freed
 * together (a large window freed in a burst, like a GC generation).
 * On hakmem the phases want different strategies: the short-lived blocks
 * are served best by the large engine with its per-site BigCache (threshold
 * <= 256 KiB); a generation overflows BigCache's rings and the spare pool's
 * resident cap (32 MiB), and is served best by the pools (threshold 512 KiB).
 *
 * One op = one malloc + fill, and later its check + free.
 * extra{}: ns and CPU ns per op of each phase.
 */
#include <stdlib.h>

#include "compare/workloads/common.h"

enum { WINDOW = 8, GENERATION = 128 };
#define LO (352 << 10)
#define HI (416 << 10)

WL_SITE(site_record)

int main(int argc, char **argv) {
  wl_args_t args;
  wl_parse_args(argc, argv, &args, "phase-life", 1,
                "Phase-changing lifetimes at one call site: ~384 KiB, window of 8, then generations of 128 freed together.");
  wl_name_site("site_record", (void *)site_record);
  const uint64_t ops1 = wl_scaled(&args, 500000);
  const uint64_t gens = wl_scaled(&args, 800);
  wl_rng_t rng = wl_rng(args.seed, 12);
  void *buf[GENERATION] = {0};
  size_t len[GENERATION] = {0};
  uint64_t tag[GENERATION] = {0};
  uint64_t sum = 0;

  uint64_t t0 = wl_now_ns(), c0 = wl_cpu_ns();
  for (uint64_t i = 0; i < ops1; i++) { /* short-lived: a window of 8, random replacement */
    unsigned s = (unsigned)(wl_next(&rng) % WINDOW);
    if (buf[s]) {
      sum += wl_check(buf[s], len[s], tag[s], "phase-life window block");
      free(buf[s]);
    }
    len[s] = (size_t)wl_range(&rng, LO, HI);
    tag[s] = wl_next(&rng);
    buf[s] = site_record(len[s]);
    wl_fill(buf[s], len[s], tag[s]);
  }
  for (unsigned s = 0; s < WINDOW; s++) {
    if (!buf[s]) continue;
    sum += wl_check(buf[s], len[s], tag[s], "phase-life window block");
    free(buf[s]);
  }
  uint64_t t1 = wl_now_ns(), c1 = wl_cpu_ns();
  for (uint64_t g = 0; g < gens; g++) { /* generations: 64 live, then all freed */
    for (unsigned k = 0; k < GENERATION; k++) {
      len[k] = (size_t)wl_range(&rng, LO, HI);
      tag[k] = wl_next(&rng);
      buf[k] = site_record(len[k]);
      wl_fill(buf[k], len[k], tag[k]);
    }
    for (unsigned k = 0; k < GENERATION; k++) {
      sum += wl_check(buf[k], len[k], tag[k], "phase-life generation block");
      free(buf[k]);
    }
  }
  uint64_t t2 = wl_now_ns(), c2 = wl_cpu_ns();
  const uint64_t ops2 = gens * GENERATION;

  wl_result_t res = {.ops = ops1 + ops2, .elapsed_ns = t2 - t0, .checksum = sum};
  wl_extra(&res, "cpu_ns_per_op", (double)(c2 - c0) / (double)(ops1 + ops2));
  wl_extra(&res, "phase1_ns_per_op", (double)(t1 - t0) / (double)ops1);
  wl_extra(&res, "phase2_ns_per_op", (double)(t2 - t1) / (double)ops2);
  wl_extra(&res, "phase1_cpu_ns_per_op", (double)(c1 - c0) / (double)ops1);
  wl_extra(&res, "phase2_cpu_ns_per_op", (double)(c2 - c1) / (double)ops2);
  wl_report(&args, &res);
  return 0;
}
