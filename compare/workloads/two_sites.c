/* two_sites.c — two call sites that want different strategies, in one
 * program, at the same time.
 *
 * site_window keeps a window of 8 live ~384 KiB blocks (352–416 KiB), each op
 * replacing a random one: on hakmem it is served best by the large engine and
 * its BigCache (threshold <= 256 KiB). site_batch allocates generations of
 * 128 SMALLER blocks (~320 KiB, 288–352 KiB; ~40 MiB) and frees each
 * generation together: served best by the pools (threshold 512 KiB). The
 * site with the larger blocks wants the lower threshold, so no single size
 * threshold serves both; only a per-site choice can. Each round does 128
 * window ops, then one generation.
 *
 * One op = one malloc + fill, and later its check + free (either site).
 * extra{}: CPU ns per op, ns per op of each site's part.
 */
#include <stdlib.h>

#include "compare/workloads/common.h"

enum { WINDOW = 8, GENERATION = 128, WINDOW_OPS = 128 };

WL_SITE(site_window)
WL_SITE(site_batch)

int main(int argc, char **argv) {
  wl_args_t args;
  wl_parse_args(argc, argv, &args, "two-sites", 1,
                "Two call sites: ~384 KiB window of 8, and ~320 KiB generations of 128 freed together.");
  wl_name_site("site_window", (void *)site_window);
  wl_name_site("site_batch", (void *)site_batch);
  const uint64_t rounds = wl_scaled(&args, 2500);
  wl_rng_t rng = wl_rng(args.seed, 13);
  void *win[WINDOW] = {0};
  size_t wlen[WINDOW] = {0};
  uint64_t wtag[WINDOW] = {0};
  void *buf[GENERATION];
  size_t len[GENERATION];
  uint64_t tag[GENERATION];
  uint64_t sum = 0, window_ns = 0, batch_ns = 0;

  uint64_t t0 = wl_now_ns(), c0 = wl_cpu_ns();
  for (uint64_t r = 0; r < rounds; r++) {
    uint64_t a = wl_now_ns();
    for (unsigned k = 0; k < WINDOW_OPS; k++) {
      unsigned s = (unsigned)(wl_next(&rng) % WINDOW);
      if (win[s]) {
        sum += wl_check(win[s], wlen[s], wtag[s], "two-sites window block");
        free(win[s]);
      }
      wlen[s] = (size_t)wl_range(&rng, 352 << 10, 416 << 10);
      wtag[s] = wl_next(&rng);
      win[s] = site_window(wlen[s]);
      wl_fill(win[s], wlen[s], wtag[s]);
    }
    uint64_t b = wl_now_ns();
    for (unsigned k = 0; k < GENERATION; k++) {
      len[k] = (size_t)wl_range(&rng, 288 << 10, 352 << 10);
      tag[k] = wl_next(&rng);
      buf[k] = site_batch(len[k]);
      wl_fill(buf[k], len[k], tag[k]);
    }
    for (unsigned k = 0; k < GENERATION; k++) {
      sum += wl_check(buf[k], len[k], tag[k], "two-sites batch block");
      free(buf[k]);
    }
    uint64_t c = wl_now_ns();
    window_ns += b - a;
    batch_ns += c - b;
  }
  for (unsigned s = 0; s < WINDOW; s++) {
    if (!win[s]) continue;
    sum += wl_check(win[s], wlen[s], wtag[s], "two-sites window block at exit");
    free(win[s]);
  }
  uint64_t t1 = wl_now_ns(), c1 = wl_cpu_ns();
  const uint64_t ops = rounds * (WINDOW_OPS + GENERATION);

  wl_result_t res = {.ops = ops, .elapsed_ns = t1 - t0, .checksum = sum};
  wl_extra(&res, "cpu_ns_per_op", (double)(c1 - c0) / (double)ops);
  wl_extra(&res, "window_ns_per_op", (double)window_ns / (double)(rounds * WINDOW_OPS));
  wl_extra(&res, "batch_ns_per_op", (double)batch_ns / (double)(rounds * GENERATION));
  wl_report(&args, &res);
  return 0;
}
