/* vm.c — the VM scenario (the headline number): repeatedly malloc a 2 MiB
 * buffer, write one byte in each 4 KiB page, read them all back, free it.
 *
 * This is the pattern of a VM or GC that maps a fresh heap region per cycle.
 * An allocator that returns the region to the OS on every free pays 512 page
 * faults (and the kernel's zeroing) per iteration; one that caches it pays
 * none. One op = one iteration. Each iteration is timed on its own, and the
 * median and p95 per-iteration times are reported in extra{} (the VM table of
 * the report uses the median).
 */
#include <stdlib.h>

#include "compare/workloads/common.h"

enum { BUF_BYTES = 2 << 20, PAGE = 4096, PAGES = BUF_BYTES / PAGE };

int main(int argc, char **argv) {
  wl_args_t args;
  wl_parse_args(argc, argv, &args, "vm", 1,
                "VM scenario: malloc 2 MiB, write one byte per 4 KiB page, verify, free.");
  const uint64_t iters = wl_scaled(&args, 2000);
  uint64_t *iter_ns = wl_malloc(iters * sizeof *iter_ns); /* allocated before timing */
  uint64_t sum = 0;

  uint64_t t0 = wl_now_ns();
  for (uint64_t it = 0; it < iters; it++) {
    uint64_t a = wl_now_ns();
    volatile unsigned char *p = wl_malloc(BUF_BYTES);
    unsigned char salt = (unsigned char)(it * 131 + args.seed);
    for (unsigned pg = 0; pg < PAGES; pg++) p[(size_t)pg * PAGE] = (unsigned char)(pg ^ salt);
    for (unsigned pg = 0; pg < PAGES; pg++) {
      unsigned char v = p[(size_t)pg * PAGE];
      if (v != (unsigned char)(pg ^ salt))
        wl_fail("vm iteration %llu: page %u holds %u, wrote %u", (unsigned long long)it, pg, v,
                (unsigned)(unsigned char)(pg ^ salt));
      sum += v;
    }
    free((void *)p);
    iter_ns[it] = wl_now_ns() - a;
  }
  uint64_t t1 = wl_now_ns();

  uint64_t median = wl_median_u64(iter_ns, iters); /* sorts iter_ns */
  uint64_t p95 = wl_pct_sorted_u64(iter_ns, iters, 0.95);
  free(iter_ns);

  wl_result_t res = {.ops = iters, .elapsed_ns = t1 - t0, .checksum = sum};
  wl_extra(&res, "iter_median_ns", (double)median);
  wl_extra(&res, "iter_p95_ns", (double)p95);
  wl_extra(&res, "buffer_bytes", BUF_BYTES);
  wl_extra(&res, "pages_touched_per_iter", PAGES);
  wl_report(&args, &res);
  return 0;
}
