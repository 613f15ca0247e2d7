/* scaling.c — thread-local churn over N threads, built twice with other
 * parameters (compare/BUILD.bazel; the defaults below are scaling's):
 *
 *   scaling       small objects, 16–256 B, 4096 slots per thread,
 *                 4,000,000 ops x --scale; run at 1, 2, 4 and 8 threads.
 *                 A perfect allocator scales with the cores and only shared
 *                 locks or false sharing hold it back. On a 2-core machine
 *                 expect no gain past 2.
 *   mixed-random  mixed sizes 8 B – 64 KiB (log-uniform: as many 8–16 B
 *                 requests as 32–64 KiB ones), 2048 slots per thread,
 *                 1,000,000 ops x --scale; run at 1 and 2 threads. Blocks
 *                 die in random order and every size class is busy at once.
 *
 * Each thread replaces a random slot's block per op (wl_churn), so frees
 * come in no particular order; no block crosses threads. The total work is
 * fixed (divided among the threads).
 *
 * One op = check + free + malloc + fill, on any thread. extra{}: million
 * ops per second, CPU ns per op.
 */
#include <pthread.h>
#include <stdlib.h>

#include "compare/workloads/common.h"

#ifndef CHURN_NAME
#define CHURN_NAME "scaling"
#define CHURN_SLOTS 4096
#define CHURN_MAX_SIZE 256
#define CHURN_OPS 4000000
#define CHURN_STREAM 300
#endif

typedef struct {
  int id;
  uint64_t ops;
  uint64_t seed;
  uint64_t sum;
  char pad[64]; /* keep workers' results on separate lines */
} churn_worker_t;

static void *churn_run(void *arg) {
  churn_worker_t *w = arg;
  wl_rng_t rng = wl_rng(w->seed, CHURN_STREAM + (uint64_t)w->id);
  void **obj = wl_malloc(CHURN_SLOTS * sizeof *obj);
  size_t *len = wl_malloc(CHURN_SLOTS * sizeof *len);
  uint64_t *tag = wl_malloc(CHURN_SLOTS * sizeof *tag);
  for (unsigned s = 0; s < CHURN_SLOTS; s++) obj[s] = NULL;
  w->sum = wl_churn(&rng, obj, len, tag, CHURN_SLOTS, w->ops, CHURN_MAX_SIZE, CHURN_NAME " block");
  free(obj);
  free(len);
  free(tag);
  return NULL;
}

int main(int argc, char **argv) {
  wl_args_t args;
  wl_parse_args(argc, argv, &args, CHURN_NAME, 1,
                "Thread-local churn: fixed total work split over --threads threads.");
  const int t = args.threads;
  const uint64_t total = wl_scaled(&args, CHURN_OPS);
  const uint64_t per = total / (uint64_t)t > 0 ? total / (uint64_t)t : 1;
  churn_worker_t *w = wl_malloc((size_t)t * sizeof *w);
  pthread_t *tids = wl_malloc((size_t)t * sizeof *tids);

  uint64_t t0 = wl_now_ns(), c0 = wl_cpu_ns();
  for (int i = 0; i < t; i++) {
    w[i] = (churn_worker_t){.id = i, .ops = per, .seed = args.seed};
    if (pthread_create(&tids[i], NULL, churn_run, &w[i]) != 0) wl_fail("pthread_create");
  }
  uint64_t sum = 0;
  for (int i = 0; i < t; i++) {
    pthread_join(tids[i], NULL);
    sum += w[i].sum;
  }
  uint64_t t1 = wl_now_ns(), c1 = wl_cpu_ns();
  free(tids);
  free(w);

  uint64_t ops = per * (uint64_t)t;
  wl_result_t res = {.ops = ops, .elapsed_ns = t1 - t0, .checksum = sum};
  wl_extra(&res, "mops_per_s", (double)ops / ((double)(t1 - t0) / 1e9) / 1e6);
  wl_extra(&res, "cpu_ns_per_op", (double)(c1 - c0) / (double)ops);
  wl_report(&args, &res);
  return 0;
}
