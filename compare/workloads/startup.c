/* startup.c — a tiny short-lived program: start, a few hundred small
 * mallocs (8 B – 1 KiB, as argument parsing and a config would), one 64 KiB
 * and one 1 MiB buffer, check, free, print, exit. What it measures is what
 * an allocator costs a process that hardly uses it: start-up (library
 * loading, the allocator's initialisation, its first arenas) and the
 * resident memory that leaves behind.
 *
 * The runner starts it many times per repetition (Workload.launches in
 * compare/tables.py) and judges it on wall time per process from the
 * outside and on peak RSS; --scale changes the number of processes, not
 * the program. Parameters: SMALL blocks, the two buffers.
 * One op (inside) = one malloc + fill + check + free.
 */
#include <stdlib.h>

#include "compare/workloads/common.h"

enum { SMALL = 300 };

int main(int argc, char **argv) {
  wl_args_t args;
  wl_parse_args(argc, argv, &args, "startup", 1, "A tiny short-lived program (the runner starts it many times).");
  wl_rng_t rng = wl_rng(args.seed, 800);
  void *p[SMALL + 2];
  size_t len[SMALL + 2];
  uint64_t tag[SMALL + 2], sum = 0;
  uint64_t t0 = wl_now_ns();
  for (unsigned i = 0; i < SMALL + 2; i++) {
    len[i] = i == SMALL ? 64 << 10 : i == SMALL + 1 ? 1 << 20 : wl_small_size(&rng, 1024);
    tag[i] = wl_next(&rng);
    p[i] = wl_malloc(len[i]);
    wl_fill(p[i], len[i], tag[i]);
  }
  for (unsigned i = 0; i < SMALL + 2; i++) {
    sum += wl_check(p[i], len[i], tag[i], "startup block");
    free(p[i]);
  }
  uint64_t t1 = wl_now_ns();
  wl_result_t res = {.ops = SMALL + 2, .elapsed_ns = t1 - t0, .checksum = sum};
  wl_report(&args, &res);
  return 0;
}
