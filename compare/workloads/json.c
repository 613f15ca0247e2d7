/* json.c — the JSON scenario: a document service parsing requests into
 * buffers of ~64 KiB on average (1–127 KiB, uniform), keeping a small window
 * of 16 live buffers and replacing a random one per request.
 *
 * One op = free the old buffer in a random slot (after checking it) + malloc
 * a new one + fill it. Buffers are touched once per 4 KiB page and at both
 * ends (see wl_fill), so page-fault costs of the allocator are visible.
 */
#include <stdlib.h>

#include "compare/workloads/common.h"

enum { WINDOW = 16 };

int main(int argc, char **argv) {
  wl_args_t args;
  wl_parse_args(argc, argv, &args, "json", 1,
                "JSON scenario: ~64 KiB buffers (1-127 KiB), window of 16 live buffers.");
  const uint64_t ops = wl_scaled(&args, 200000);
  wl_rng_t rng = wl_rng(args.seed, 1);
  void *buf[WINDOW] = {0};
  size_t len[WINDOW] = {0};
  uint64_t tag[WINDOW] = {0};
  uint64_t sum = 0;

  uint64_t t0 = wl_now_ns();
  for (uint64_t i = 0; i < ops; i++) {
    unsigned s = (unsigned)(wl_next(&rng) % WINDOW);
    if (buf[s]) {
      sum += wl_check(buf[s], len[s], tag[s], "json buffer");
      free(buf[s]);
    }
    len[s] = (size_t)wl_range(&rng, 1024, 127 * 1024);
    tag[s] = wl_next(&rng);
    buf[s] = wl_malloc(len[s]);
    wl_fill(buf[s], len[s], tag[s]);
  }
  for (unsigned s = 0; s < WINDOW; s++) {
    if (!buf[s]) continue;
    sum += wl_check(buf[s], len[s], tag[s], "json buffer at exit");
    free(buf[s]);
  }
  uint64_t t1 = wl_now_ns();

  wl_result_t res = {.ops = ops, .elapsed_ns = t1 - t0, .checksum = sum};
  wl_extra(&res, "avg_request_bytes", 64 * 1024);
  wl_report(&args, &res);
  return 0;
}
