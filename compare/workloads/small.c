/* small.c — small-object churn: the general-purpose case every allocator
 * must be good at. 16384 slots; each op frees the object in a random slot
 * (after checking it) and allocates a new one of a random size in 8–1024 B,
 * log-uniform (as many 8–16 B requests as 512–1024 B ones). Picking slots at
 * random gives geometric, i.e. mixed short and long, lifetimes.
 *
 * One op = one free + one malloc + fill (one word per 64-byte line).
 */
#include <stdlib.h>

#include "compare/workloads/common.h"

enum { SLOTS = 16384 };

int main(int argc, char **argv) {
  wl_args_t args;
  wl_parse_args(argc, argv, &args, "small", 1,
                "Small-object churn: 8-1024 B, random sizes and lifetimes, 16384 slots.");
  const uint64_t ops = wl_scaled(&args, 3000000);
  wl_rng_t rng = wl_rng(args.seed, 5);
  void **obj = wl_malloc(SLOTS * sizeof *obj);
  uint32_t *len = wl_malloc(SLOTS * sizeof *len);
  uint64_t *tag = wl_malloc(SLOTS * sizeof *tag);
  for (unsigned s = 0; s < SLOTS; s++) obj[s] = NULL;
  uint64_t sum = 0;

  uint64_t t0 = wl_now_ns();
  for (uint64_t i = 0; i < ops; i++) {
    unsigned s = (unsigned)(wl_next(&rng) % SLOTS);
    if (obj[s]) {
      sum += wl_check(obj[s], len[s], tag[s], "small object");
      free(obj[s]);
    }
    len[s] = (uint32_t)wl_small_size(&rng, 1024);
    tag[s] = wl_next(&rng);
    obj[s] = wl_malloc(len[s]);
    wl_fill(obj[s], len[s], tag[s]);
  }
  for (unsigned s = 0; s < SLOTS; s++) {
    if (!obj[s]) continue;
    sum += wl_check(obj[s], len[s], tag[s], "small object at exit");
    free(obj[s]);
  }
  uint64_t t1 = wl_now_ns();
  free(obj);
  free(len);
  free(tag);

  wl_result_t res = {.ops = ops, .elapsed_ns = t1 - t0, .checksum = sum};
  wl_report(&args, &res);
  return 0;
}
