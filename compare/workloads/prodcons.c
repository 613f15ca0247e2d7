/* prodcons.c — producer/consumer cross-thread frees: producers malloc
 * messages (16–512 B, now and then a 4–16 KiB one), fill them and pass them
 * through a bounded single-producer/single-consumer ring; consumers check and
 * free them. Every free is of a block another thread allocated, in the order
 * it was allocated — the pipeline pattern of servers and loggers.
 *
 * --threads N gives N/2 producer/consumer pairs (at least one pair).
 * One op = one message: malloc + fill on one thread, check + free on another.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "compare/workloads/common.h"

enum { RING = 1024 }; /* power of two */

typedef struct {
  _Alignas(64) _Atomic uint64_t head; /* next slot the producer writes */
  _Alignas(64) _Atomic uint64_t tail; /* next slot the consumer reads */
  _Alignas(64) void *slot[RING];
  uint64_t messages;
  uint64_t seed;
  int pair;
  uint64_t sum; /* consumer's checksum */
} prodcons_pair_t;

/* Both sides derive the size and tag of message i from the same stream. */
static void message_shape(wl_rng_t *rng, size_t *len, uint64_t *tag) {
  *len = (wl_next(rng) % 64 == 0) ? (size_t)wl_range(rng, 4096, 16384)
                                    : (size_t)wl_range(rng, 16, 512);
  *tag = wl_next(rng);
}

static void *producer(void *arg) {
  prodcons_pair_t *p = arg;
  wl_rng_t rng = wl_rng(p->seed, 200 + (uint64_t)p->pair);
  for (uint64_t i = 0; i < p->messages; i++) {
    size_t len;
    uint64_t tag;
    message_shape(&rng, &len, &tag);
    void *m = wl_malloc(len);
    wl_fill(m, len, tag);
    while (i - atomic_load_explicit(&p->tail, memory_order_acquire) >= RING) sched_yield();
    p->slot[i & (RING - 1)] = m;
    atomic_store_explicit(&p->head, i + 1, memory_order_release);
  }
  return NULL;
}

static void *consumer(void *arg) {
  prodcons_pair_t *p = arg;
  wl_rng_t rng = wl_rng(p->seed, 200 + (uint64_t)p->pair);
  uint64_t sum = 0;
  for (uint64_t i = 0; i < p->messages; i++) {
    size_t len;
    uint64_t tag;
    message_shape(&rng, &len, &tag);
    while (atomic_load_explicit(&p->head, memory_order_acquire) <= i) sched_yield();
    void *m = p->slot[i & (RING - 1)];
    atomic_store_explicit(&p->tail, i + 1, memory_order_release);
    sum += wl_check(m, len, tag, "message received by the consumer");
    free(m);
  }
  p->sum = sum;
  return NULL;
}

int main(int argc, char **argv) {
  wl_args_t args;
  wl_parse_args(argc, argv, &args, "prodcons", 2,
                "Producer/consumer: messages allocated on one thread, freed on another.");
  const int pairs = args.threads / 2 > 0 ? args.threads / 2 : 1;
  const uint64_t total = wl_scaled(&args, 1000000);
  const uint64_t per_pair = total / (uint64_t)pairs > 0 ? total / (uint64_t)pairs : 1;
  prodcons_pair_t *pp = aligned_alloc(64, (size_t)pairs * sizeof *pp);
  if (!pp) wl_fail("aligned_alloc for the rings returned NULL");
  pthread_t *tids = wl_malloc((size_t)pairs * 2 * sizeof *tids);

  uint64_t t0 = wl_now_ns();
  for (int i = 0; i < pairs; i++) {
    atomic_init(&pp[i].head, 0);
    atomic_init(&pp[i].tail, 0);
    pp[i].messages = per_pair;
    pp[i].seed = args.seed;
    pp[i].pair = i;
    pp[i].sum = 0;
    if (pthread_create(&tids[2 * i], NULL, consumer, &pp[i]) != 0 ||
        pthread_create(&tids[2 * i + 1], NULL, producer, &pp[i]) != 0)
      wl_fail("pthread_create");
  }
  uint64_t sum = 0;
  for (int i = 0; i < pairs * 2; i++) pthread_join(tids[i], NULL);
  for (int i = 0; i < pairs; i++) sum += pp[i].sum;
  uint64_t t1 = wl_now_ns();
  free(tids);
  free(pp);

  wl_result_t res = {.ops = per_pair * (uint64_t)pairs, .elapsed_ns = t1 - t0, .checksum = sum};
  wl_extra(&res, "pairs", pairs);
  wl_report(&args, &res);
  return 0;
}
