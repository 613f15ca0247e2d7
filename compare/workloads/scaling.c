/* scaling.c — thread scalability: N threads each churn their own small
 * objects (16–256 B, 4096 slots per thread, random replacement). No object
 * crosses threads, so a perfect allocator scales with the cores and only
 * shared locks or false sharing hold it back. The total work is fixed
 * (divided among the threads); the runner runs it at 1, 2, 4 and 8 threads
 * and reports throughput. On a 2-core machine expect no gain past 2.
 *
 * One op = one free + one malloc + fill, on any thread.
 */
#include <pthread.h>
#include <stdlib.h>

#include "compare/workloads/common.h"

enum { SLOTS = 4096 };

typedef struct {
  int id;
  uint64_t ops;
  uint64_t seed;
  uint64_t sum;
  char pad[64]; /* keep workers' results on separate lines */
} scaling_worker_t;

static void *scaling_run(void *arg) {
  scaling_worker_t *w = arg;
  wl_rng_t rng = wl_rng(w->seed, 300 + (uint64_t)w->id);
  void **obj = wl_malloc(SLOTS * sizeof *obj);
  uint32_t *len = wl_malloc(SLOTS * sizeof *len);
  uint64_t *tag = wl_malloc(SLOTS * sizeof *tag);
  for (unsigned s = 0; s < SLOTS; s++) obj[s] = NULL;
  uint64_t sum = 0;
  for (uint64_t i = 0; i < w->ops; i++) {
    unsigned s = (unsigned)(wl_next(&rng) % SLOTS);
    if (obj[s]) {
      sum += wl_check(obj[s], len[s], tag[s], "thread-local object");
      free(obj[s]);
    }
    len[s] = (uint32_t)wl_small_size(&rng, 256);
    tag[s] = wl_next(&rng);
    obj[s] = wl_malloc(len[s]);
    wl_fill(obj[s], len[s], tag[s]);
  }
  for (unsigned s = 0; s < SLOTS; s++) {
    if (!obj[s]) continue;
    sum += wl_check(obj[s], len[s], tag[s], "thread-local object at exit");
    free(obj[s]);
  }
  free(obj);
  free(len);
  free(tag);
  w->sum = sum;
  return NULL;
}

int main(int argc, char **argv) {
  wl_args_t args;
  wl_parse_args(argc, argv, &args, "scaling", 1,
                "Thread scaling: fixed total small-object churn split over --threads threads.");
  const int t = args.threads;
  const uint64_t total = wl_scaled(&args, 4000000);
  const uint64_t per = total / (uint64_t)t > 0 ? total / (uint64_t)t : 1;
  scaling_worker_t *w = wl_malloc((size_t)t * sizeof *w);
  pthread_t *tids = wl_malloc((size_t)t * sizeof *tids);

  uint64_t t0 = wl_now_ns();
  for (int i = 0; i < t; i++) {
    w[i] = (scaling_worker_t){.id = i, .ops = per, .seed = args.seed};
    if (pthread_create(&tids[i], NULL, scaling_run, &w[i]) != 0) wl_fail("pthread_create");
  }
  uint64_t sum = 0;
  for (int i = 0; i < t; i++) {
    pthread_join(tids[i], NULL);
    sum += w[i].sum;
  }
  uint64_t t1 = wl_now_ns();
  free(tids);
  free(w);

  uint64_t ops = per * (uint64_t)t;
  wl_result_t res = {.ops = ops, .elapsed_ns = t1 - t0, .checksum = sum};
  wl_extra(&res, "mops_per_s", (double)ops / ((double)(t1 - t0) / 1e9) / 1e6);
  wl_report(&args, &res);
  return 0;
}
