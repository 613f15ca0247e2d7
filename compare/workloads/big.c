/* big.c — a few large blocks, replaced at random and filled completely, the
 * way value-initialised new[] or a read buffer writes every byte of what it
 * gets. Built twice with other parameters (compare/BUILD.bazel):
 *
 *   bigrandom  BIG_LIVE 4 blocks of 4–32 MiB, 60 steps x --scale
 *   bigswap    BIG_LIVE 16 blocks of 4–24 MiB, 80 steps x --scale: the
 *              shape hakmem's learning engine is judged on (how much of the
 *              freed memory to keep for the next block, against peak RSS)
 *
 * Sizes are uniform in [BIG_MIN_MIB, BIG_MAX_MIB] MiB, rounded to 4 KiB
 * plus a random tail, so no two blocks are the same size. All blocks come
 * from one call site (site_block). The live set is filled once before the
 * clock starts; each step then checks and frees a random block and mallocs,
 * fills (memset of every byte, then the pattern) a new one of a new size.
 *
 * One op = one step. extra{}: CPU ns per step, fill ns per step (the memset
 * and pattern alone), setup ms (filling the first live set), live MiB at exit.
 */
#include <stdlib.h>

#include "compare/workloads/common.h"

#ifndef BIG_NAME
#error "BIG_NAME, BIG_LIVE, BIG_MIN_MIB, BIG_MAX_MIB and BIG_STEPS come from compare/BUILD.bazel"
#endif

WL_SITE(site_block)

static size_t block_size(wl_rng_t *rng) {
  size_t mib = (size_t)wl_range(rng, BIG_MIN_MIB, BIG_MAX_MIB - 1);
  return (mib << 20) + (size_t)wl_range(rng, 0, 255) * 4096 + (size_t)wl_range(rng, 0, 4095);
}

static void *new_block(size_t len, uint64_t tag, uint64_t *fill_ns) {
  void *p = site_block(len);
  uint64_t a = wl_now_ns();
  memset(p, (int)(tag & 0x7f) | 1, len);
  wl_fill(p, len, tag);
  *fill_ns += wl_now_ns() - a;
  return p;
}

int main(int argc, char **argv) {
  wl_args_t args;
  wl_parse_args(argc, argv, &args, BIG_NAME, 1,
                "Large blocks, a random one replaced and filled completely each step.");
  wl_name_site("site_block", (void *)site_block);
  const uint64_t steps = wl_scaled(&args, BIG_STEPS);
  wl_rng_t rng = wl_rng(args.seed, 700);
  void *buf[BIG_LIVE];
  size_t len[BIG_LIVE];
  uint64_t tag[BIG_LIVE], sum = 0, fill_ns = 0, setup_fill = 0;

  uint64_t s0 = wl_now_ns();
  for (unsigned k = 0; k < BIG_LIVE; k++) {
    len[k] = block_size(&rng);
    tag[k] = wl_next(&rng);
    buf[k] = new_block(len[k], tag[k], &setup_fill);
  }
  uint64_t t0 = wl_now_ns(), c0 = wl_cpu_ns();
  for (uint64_t i = 0; i < steps; i++) {
    unsigned k = (unsigned)(wl_next(&rng) % BIG_LIVE);
    sum += wl_check(buf[k], len[k], tag[k], "large block");
    free(buf[k]);
    len[k] = block_size(&rng);
    tag[k] = wl_next(&rng);
    buf[k] = new_block(len[k], tag[k], &fill_ns);
  }
  uint64_t t1 = wl_now_ns(), c1 = wl_cpu_ns();
  double live = 0;
  for (unsigned k = 0; k < BIG_LIVE; k++) {
    live += (double)len[k];
    sum += wl_check(buf[k], len[k], tag[k], "large block at exit");
    free(buf[k]);
  }

  wl_result_t res = {.ops = steps, .elapsed_ns = t1 - t0, .checksum = sum};
  wl_extra(&res, "cpu_ns_per_op", (double)(c1 - c0) / (double)steps);
  wl_extra(&res, "fill_ns_per_op", (double)fill_ns / (double)steps);
  wl_extra(&res, "setup_ms", (double)(t0 - s0) / 1e6);
  wl_extra(&res, "live_mib_at_exit", live / (double)(1 << 20));
  wl_report(&args, &res);
  return 0;
}
