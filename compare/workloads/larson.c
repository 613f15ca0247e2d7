/* larson.c — a larson-style server simulation: worker threads serve
 * "connections", each owning an array of small objects (16–512 B). In every
 * round each worker takes over the array another worker filled in the
 * previous round, so most frees hit objects that a different thread
 * allocated (the remote-free path). Rounds are separated by a barrier.
 *
 * One op = check + free one object (usually remote) + malloc + fill a new one.
 */
#include <pthread.h>
#include <stdlib.h>

#include "compare/workloads/common.h"

enum { SLOTS = 2048, OPS_PER_ROUND = 10000 };

typedef struct {
  void *obj[SLOTS];
  uint32_t len[SLOTS];
  uint64_t tag[SLOTS];
} larson_array_t;

typedef struct {
  int id;
  int threads;
  uint64_t rounds;
  uint64_t seed;
  larson_array_t *arrays;
  pthread_barrier_t *barrier;
  uint64_t sum;
} larson_worker_t;

static void *larson_run(void *arg) {
  larson_worker_t *w = arg;
  wl_rng_t rng = wl_rng(w->seed, 100 + (uint64_t)w->id);
  uint64_t sum = 0;
  for (uint64_t r = 0; r < w->rounds; r++) {
    larson_array_t *a = &w->arrays[(uint64_t)(w->id + (int)r) % (uint64_t)w->threads];
    for (unsigned i = 0; i < OPS_PER_ROUND; i++) {
      unsigned s = (unsigned)(wl_next(&rng) % SLOTS);
      if (a->obj[s]) {
        sum += wl_check(a->obj[s], a->len[s], a->tag[s], "larson object");
        free(a->obj[s]);
      }
      a->len[s] = (uint32_t)wl_range(&rng, 16, 512);
      a->tag[s] = wl_next(&rng);
      a->obj[s] = wl_malloc(a->len[s]);
      wl_fill(a->obj[s], a->len[s], a->tag[s]);
    }
    pthread_barrier_wait(w->barrier);
  }
  w->sum = sum;
  return NULL;
}

int main(int argc, char **argv) {
  wl_args_t args;
  wl_parse_args(argc, argv, &args, "larson", 2,
                "Larson-style server: threads free objects other threads allocated.");
  const int t = args.threads;
  const uint64_t rounds = wl_scaled(&args, 800.0 / t); /* same total work at any -t */
  larson_array_t *arrays = wl_malloc((size_t)t * sizeof *arrays);
  memset(arrays, 0, (size_t)t * sizeof *arrays);
  larson_worker_t *workers = wl_malloc((size_t)t * sizeof *workers);
  pthread_t *tids = wl_malloc((size_t)t * sizeof *tids);
  pthread_barrier_t barrier;
  pthread_barrier_init(&barrier, NULL, (unsigned)t);

  uint64_t t0 = wl_now_ns();
  for (int i = 0; i < t; i++) {
    workers[i] = (larson_worker_t){.id = i, .threads = t, .rounds = rounds, .seed = args.seed,
                                   .arrays = arrays, .barrier = &barrier};
    if (pthread_create(&tids[i], NULL, larson_run, &workers[i]) != 0) wl_fail("pthread_create");
  }
  uint64_t sum = 0;
  for (int i = 0; i < t; i++) {
    pthread_join(tids[i], NULL);
    sum += workers[i].sum;
  }
  for (int i = 0; i < t; i++)
    for (unsigned s = 0; s < SLOTS; s++) {
      if (!arrays[i].obj[s]) continue;
      sum += wl_check(arrays[i].obj[s], arrays[i].len[s], arrays[i].tag[s], "larson at exit");
      free(arrays[i].obj[s]);
    }
  uint64_t t1 = wl_now_ns();
  pthread_barrier_destroy(&barrier);
  free(tids);
  free(workers);
  free(arrays);

  wl_result_t res = {.ops = rounds * OPS_PER_ROUND * (uint64_t)t, .elapsed_ns = t1 - t0,
                     .checksum = sum};
  wl_extra(&res, "rounds", (double)rounds);
  wl_report(&args, &res);
  return 0;
}
