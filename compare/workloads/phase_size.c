/* phase_size.c — a call site whose request sizes change half-way.
 *
 * One site (site_buffer), a window of 8 live buffers, each op replacing a
 * random one. Phase 1: ~96 KiB buffers (88–104 KiB); phase 2: ~1.5 MiB
 * buffers (1.4–1.6 MiB). For a per-site strategy this is a size-class drift:
 * what was learned on the small buffers (large engine or pools at 96 KiB) is
 * not what decides the big ones (BigCache admission at 1.5 MiB: thresholds
 * up to 1 MiB cache them, 2 MiB does not). A learning allocator should notice
 * the drift and re-decide; a fixed strategy keeps what it had.
 *
 * One op = check + free the old buffer in the slot, malloc + fill a new one
 * (every 4 KiB page touched). extra{}: ns and CPU ns per op of each phase.
 */
#include <stdlib.h>

#include "compare/workloads/common.h"

enum { WINDOW = 8 };

WL_SITE(site_buffer)

typedef struct {
  void *buf[WINDOW];
  size_t len[WINDOW];
  uint64_t tag[WINDOW];
} window_t;

static uint64_t run_phase(window_t *w, wl_rng_t *rng, uint64_t ops, size_t lo, size_t hi) {
  uint64_t sum = 0;
  for (uint64_t i = 0; i < ops; i++) {
    unsigned s = (unsigned)(wl_next(rng) % WINDOW);
    if (w->buf[s]) {
      sum += wl_check(w->buf[s], w->len[s], w->tag[s], "phase-size buffer");
      free(w->buf[s]);
    }
    w->len[s] = (size_t)wl_range(rng, lo, hi);
    w->tag[s] = wl_next(rng);
    w->buf[s] = site_buffer(w->len[s]);
    wl_fill(w->buf[s], w->len[s], w->tag[s]);
  }
  return sum;
}

int main(int argc, char **argv) {
  wl_args_t args;
  wl_parse_args(argc, argv, &args, "phase-size", 1,
                "Phase-changing sizes at one call site: ~96 KiB buffers, then ~1.5 MiB buffers (window of 8).");
  wl_name_site("site_buffer", (void *)site_buffer);
  const uint64_t ops1 = wl_scaled(&args, 2000000), ops2 = wl_scaled(&args, 100000);
  wl_rng_t rng = wl_rng(args.seed, 11);
  window_t w = {0};
  uint64_t sum = 0;

  uint64_t t0 = wl_now_ns(), c0 = wl_cpu_ns();
  sum += run_phase(&w, &rng, ops1, 88 << 10, 104 << 10);
  uint64_t t1 = wl_now_ns(), c1 = wl_cpu_ns();
  sum += run_phase(&w, &rng, ops2, 1400 << 10, 1600 << 10);
  for (unsigned s = 0; s < WINDOW; s++) {
    if (!w.buf[s]) continue;
    sum += wl_check(w.buf[s], w.len[s], w.tag[s], "phase-size buffer at exit");
    free(w.buf[s]);
  }
  uint64_t t2 = wl_now_ns(), c2 = wl_cpu_ns();

  wl_result_t res = {.ops = ops1 + ops2, .elapsed_ns = t2 - t0, .checksum = sum};
  wl_extra(&res, "cpu_ns_per_op", (double)(c2 - c0) / (double)(ops1 + ops2));
  wl_extra(&res, "phase1_ns_per_op", (double)(t1 - t0) / (double)ops1);
  wl_extra(&res, "phase2_ns_per_op", (double)(t2 - t1) / (double)ops2);
  wl_extra(&res, "phase1_cpu_ns_per_op", (double)(c1 - c0) / (double)ops1);
  wl_extra(&res, "phase2_cpu_ns_per_op", (double)(c2 - c1) / (double)ops2);
  wl_report(&args, &res);
  return 0;
}
