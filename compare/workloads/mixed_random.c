/* mixed_random.c — mixed sizes freed in random order: each of --threads
 * threads keeps 2048 live blocks of 8 B – 64 KiB (log-uniform: as many
 * 8–16 B requests as 32–64 KiB ones) and replaces a random one per op, so
 * blocks die in no particular order and every size class is busy at once.
 * No block crosses threads. The total work is fixed (split over the
 * threads); the runner runs it at 1 and 2 threads (mixed-random-t1, -t2).
 *
 * Parameters: SLOTS live blocks per thread, MAX_SIZE, 1,000,000 ops x --scale.
 * One op = check + free the block in a random slot + malloc + fill a new one.
 */
#include <pthread.h>
#include <stdlib.h>

#include "compare/workloads/common.h"

enum { SLOTS = 2048, MAX_SIZE = 64 << 10 };

typedef struct {
  int id;
  uint64_t ops;
  uint64_t seed;
  uint64_t sum;
  char pad[64]; /* keep workers' results on separate lines */
} mixed_random_worker_t;

static void *mixed_random_run(void *arg) {
  mixed_random_worker_t *w = arg;
  wl_rng_t rng = wl_rng(w->seed, 400 + (uint64_t)w->id);
  void **obj = wl_malloc(SLOTS * sizeof *obj);
  size_t *len = wl_malloc(SLOTS * sizeof *len);
  uint64_t *tag = wl_malloc(SLOTS * sizeof *tag);
  for (unsigned s = 0; s < SLOTS; s++) obj[s] = NULL;
  uint64_t sum = 0;
  for (uint64_t i = 0; i < w->ops; i++) {
    unsigned s = (unsigned)(wl_next(&rng) % SLOTS);
    if (obj[s]) {
      sum += wl_check(obj[s], len[s], tag[s], "mixed-random block");
      free(obj[s]);
    }
    len[s] = wl_small_size(&rng, MAX_SIZE);
    tag[s] = wl_next(&rng);
    obj[s] = wl_malloc(len[s]);
    wl_fill(obj[s], len[s], tag[s]);
  }
  for (unsigned s = 0; s < SLOTS; s++) {
    if (!obj[s]) continue;
    sum += wl_check(obj[s], len[s], tag[s], "mixed-random block at exit");
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
  wl_parse_args(argc, argv, &args, "mixed-random", 1,
                "Mixed sizes 8 B - 64 KiB, 2048 live per thread, freed in random order.");
  const int t = args.threads;
  const uint64_t total = wl_scaled(&args, 1000000);
  const uint64_t per = total / (uint64_t)t > 0 ? total / (uint64_t)t : 1;
  mixed_random_worker_t *w = wl_malloc((size_t)t * sizeof *w);
  pthread_t *tids = wl_malloc((size_t)t * sizeof *tids);

  uint64_t t0 = wl_now_ns(), c0 = wl_cpu_ns();
  for (int i = 0; i < t; i++) {
    w[i] = (mixed_random_worker_t){.id = i, .ops = per, .seed = args.seed};
    if (pthread_create(&tids[i], NULL, mixed_random_run, &w[i]) != 0) wl_fail("pthread_create");
  }
  uint64_t sum = 0;
  for (int i = 0; i < t; i++) {
    pthread_join(tids[i], NULL);
    sum += w[i].sum;
  }
  uint64_t t1 = wl_now_ns(), c1 = wl_cpu_ns();
  free(tids);
  free(w);

  const uint64_t ops = per * (uint64_t)t;
  wl_result_t res = {.ops = ops, .elapsed_ns = t1 - t0, .checksum = sum};
  wl_extra(&res, "cpu_ns_per_op", (double)(c1 - c0) / (double)ops);
  wl_report(&args, &res);
  return 0;
}
