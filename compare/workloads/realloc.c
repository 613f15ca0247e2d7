/* realloc.c — realloc growth: 64 growing containers, like vectors and
 * strings. Vectors double their capacity (16 B → up to 64 KiB, a few up to
 * 1 MiB); strings grow by half plus a little. Each op grows one container
 * with realloc, checks that the old contents moved intact, and fills the new
 * part; a container at its limit is freed and starts over.
 *
 * One op = one realloc (plus check/fill of the block).
 */
#include <stdlib.h>

#include "compare/workloads/common.h"

enum { CONTAINERS = 64 };

int main(int argc, char **argv) {
  wl_args_t args;
  wl_parse_args(argc, argv, &args, "realloc", 1,
                "Realloc growth: vectors doubling, strings growing by 1.5x, 64 at a time.");
  const uint64_t ops = wl_scaled(&args, 300000);
  wl_rng_t rng = wl_rng(args.seed, 7);
  void *p[CONTAINERS] = {0};
  size_t len[CONTAINERS] = {0}, limit[CONTAINERS] = {0};
  uint64_t tag[CONTAINERS] = {0};
  uint64_t sum = 0, restarts = 0, moved = 0;

  uint64_t t0 = wl_now_ns(), c0 = wl_cpu_ns();
  for (uint64_t i = 0; i < ops; i++) {
    unsigned c = (unsigned)(wl_next(&rng) % CONTAINERS);
    int is_vector = c % 2 == 0;
    if (p[c] && len[c] >= limit[c]) { /* full: drop it and start over */
      sum += wl_check(p[c], len[c], tag[c], "container before free");
      free(p[c]);
      p[c] = NULL;
      restarts++;
    }
    if (!p[c]) {
      len[c] = 0;
      limit[c] = (wl_next(&rng) % 16 == 0) ? (1u << 20) : (64u << 10);
      tag[c] = wl_next(&rng);
    }
    size_t old = len[c];
    size_t grown = old == 0 ? 16 : is_vector ? old * 2 : old + old / 2 + 8;
    if (grown > limit[c]) grown = limit[c];
    if (old) sum += wl_check(p[c], old, tag[c], "container before realloc");
    void *q = realloc(p[c], grown);
    if (!q) wl_fail("realloc(%zu) returned NULL", grown);
    wl_escape(q);
    if (q != p[c]) moved++;
    if (old) sum += wl_check(q, old, tag[c], "contents after realloc moved them");
    p[c] = q;
    len[c] = grown;
    wl_fill(q, grown, tag[c]);
  }
  for (unsigned c = 0; c < CONTAINERS; c++) {
    if (!p[c]) continue;
    sum += wl_check(p[c], len[c], tag[c], "container at exit");
    free(p[c]);
  }
  uint64_t t1 = wl_now_ns(), c1 = wl_cpu_ns();

  wl_result_t res = {.ops = ops, .elapsed_ns = t1 - t0, .checksum = sum};
  wl_extra(&res, "restarts", (double)restarts);
  wl_extra(&res, "moved_fraction", ops ? (double)moved / (double)ops : 0);
  /* CPU time (the process's, user + system) beside the wall time: on a
   * loaded machine it carries less of the other processes' noise */
  wl_extra(&res, "cpu_ns_per_op", (double)(c1 - c0) / (double)ops);
  wl_report(&args, &res);
  return 0;
}
