/* wrapper.c — large blocks allocated through a malloc wrapper (xmalloc: one
 * noinline function that calls malloc and checks the result, as most C
 * programs have), from three callers whose blocks behave differently:
 *
 *   site_reuse  512 KiB blocks, freed right after use, 48 per round: the
 *               same size again and again (a cache of freed blocks pays)
 *   site_hold   6 live blocks of 4–8 MiB held for a long time, one replaced
 *               per round (memory kept back for them is mostly waste)
 *   site_burst  bursts of 16 blocks of 256 KiB – 2 MiB, all freed together
 *               at the end of the burst (a per-request arena)
 *
 * To an allocator that takes the return address of malloc as the call
 * site, every block comes from ONE site, inside xmalloc; one that sees
 * through wrappers (hakmem with HAKMEM_SITE_WRAPPERS on, its default) can
 * give each caller its own policy. The runner compares hakmem-BALANCED with
 * hakmem-BALANCED-nowrap (HAKMEM_SITE_WRAPPERS=0) on it.
 *
 * Parameters: 120 rounds x --scale. One op = one block: malloc through
 * xmalloc + fill, later its check + free. extra{}: CPU ns per op.
 */
#include <stdlib.h>

#include "compare/workloads/common.h"

enum { REUSE_PER_ROUND = 48, REUSE_SIZE = 512 << 10, HOLD = 6, BURST = 16 };

/* The wrapper: not inlined, and not a tail call (the NULL check and the
 * escape come after malloc returns), so malloc's caller is always here. */
static __attribute__((noinline)) void *xmalloc(size_t n) {
  void *p = malloc(n);
  if (!p) wl_oom(n);
  wl_escape(p);
  return p;
}

/* The three callers: tiny, each its own body, none inlined into main. */
#define CALLER(fn)                                      \
  static __attribute__((noinline)) void *fn(size_t n) { \
    __asm__ volatile("# caller " #fn);                  \
    void *p = xmalloc(n);                               \
    wl_escape(p);                                       \
    return p;                                           \
  }
CALLER(site_reuse)
CALLER(site_hold)
CALLER(site_burst)

int main(int argc, char **argv) {
  wl_args_t args;
  wl_parse_args(argc, argv, &args, "wrapper", 1,
                "Large blocks through one xmalloc wrapper from three callers that want different policies.");
  wl_name_site("xmalloc", (void *)xmalloc);
  wl_name_site("site_reuse", (void *)site_reuse);
  wl_name_site("site_hold", (void *)site_hold);
  wl_name_site("site_burst", (void *)site_burst);
  const uint64_t rounds = wl_scaled(&args, 120);
  wl_rng_t rng = wl_rng(args.seed, 900);
  void *hold[HOLD] = {0}, *burst[BURST];
  size_t hold_len[HOLD] = {0}, burst_len[BURST];
  uint64_t hold_tag[HOLD] = {0}, burst_tag[BURST], sum = 0, ops = 0;

  uint64_t t0 = wl_now_ns(), c0 = wl_cpu_ns();
  for (uint64_t r = 0; r < rounds; r++) {
    for (unsigned k = 0; k < REUSE_PER_ROUND; k++) {
      uint64_t tag = wl_next(&rng);
      void *p = site_reuse(REUSE_SIZE);
      wl_fill(p, REUSE_SIZE, tag);
      sum += wl_check(p, REUSE_SIZE, tag, "wrapper reuse block");
      free(p);
    }
    unsigned h = (unsigned)(wl_next(&rng) % HOLD);
    if (hold[h]) {
      sum += wl_check(hold[h], hold_len[h], hold_tag[h], "wrapper held block");
      free(hold[h]);
    }
    hold_len[h] = (size_t)wl_range(&rng, 4 << 20, 8 << 20);
    hold_tag[h] = wl_next(&rng);
    hold[h] = site_hold(hold_len[h]);
    wl_fill(hold[h], hold_len[h], hold_tag[h]);
    for (unsigned k = 0; k < BURST; k++) {
      burst_len[k] = (size_t)wl_range(&rng, 256 << 10, 2 << 20);
      burst_tag[k] = wl_next(&rng);
      burst[k] = site_burst(burst_len[k]);
      wl_fill(burst[k], burst_len[k], burst_tag[k]);
    }
    for (unsigned k = 0; k < BURST; k++) {
      sum += wl_check(burst[k], burst_len[k], burst_tag[k], "wrapper burst block");
      free(burst[k]);
    }
    ops += REUSE_PER_ROUND + 1 + BURST;
  }
  for (unsigned h = 0; h < HOLD; h++) {
    if (!hold[h]) continue;
    sum += wl_check(hold[h], hold_len[h], hold_tag[h], "wrapper held block at exit");
    free(hold[h]);
  }
  uint64_t t1 = wl_now_ns(), c1 = wl_cpu_ns();

  wl_result_t res = {.ops = ops, .elapsed_ns = t1 - t0, .checksum = sum};
  wl_extra(&res, "cpu_ns_per_op", (double)(c1 - c0) / (double)ops);
  wl_report(&args, &res);
  return 0;
}
