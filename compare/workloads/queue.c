/* queue.c — one thread only allocates, another only frees: the producer
 * mallocs blocks of 32 B – 32 KiB (log-uniform), fills them and appends them
 * in batches of 64 to a mutex-protected FIFO; the consumer takes everything
 * queued at once, checks and frees it. Up to MAX_QUEUED blocks wait in the
 * queue, so the freeing thread returns memory in large bursts, long after
 * and far from where it was allocated (a log writer, a request queue drained
 * by a worker). Unlike prodcons (a lock-free ring, one message at a time),
 * the allocating thread's caches run dry while the freeing thread's fill up.
 *
 * Parameters: BATCH, MAX_QUEUED, 1,000,000 blocks x --scale. No --threads
 * (always 2 threads). A block carries its own link, length and tag in its
 * first 24 bytes; the pattern covers the rest.
 * One op = one block: malloc + fill on one thread, check + free on the other.
 */
#include <pthread.h>
#include <stdlib.h>

#include "compare/workloads/common.h"

enum { BATCH = 64, MAX_QUEUED = 8192, HEADER = 24, MAX_SIZE = 32 << 10 };

typedef struct block {
  struct block *next;
  uint64_t len; /* whole block, header included */
  uint64_t tag;
} block_t;

static struct {
  pthread_mutex_t lock;
  pthread_cond_t changed;
  block_t *head, *tail;
  uint64_t queued;
  int done;
} q = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL, 0, 0};

static uint64_t blocks_total, seed;

static void push(block_t *first, block_t *last, uint64_t n) {
  pthread_mutex_lock(&q.lock);
  while (q.queued >= MAX_QUEUED) pthread_cond_wait(&q.changed, &q.lock);
  if (q.tail)
    q.tail->next = first;
  else
    q.head = first;
  q.tail = last;
  q.queued += n;
  pthread_cond_broadcast(&q.changed);
  pthread_mutex_unlock(&q.lock);
}

static void *producer(void *arg) {
  (void)arg;
  wl_rng_t rng = wl_rng(seed, 500);
  block_t *first = NULL, *last = NULL;
  uint64_t n = 0;
  for (uint64_t i = 0; i < blocks_total; i++) {
    size_t len = wl_small_size(&rng, MAX_SIZE);
    if (len < HEADER + 8) len = HEADER + 8;
    block_t *b = wl_malloc(len);
    b->next = NULL;
    b->len = len;
    b->tag = wl_next(&rng);
    wl_fill((char *)b + HEADER, len - HEADER, b->tag);
    if (last)
      last->next = b;
    else
      first = b;
    last = b;
    if (++n == BATCH) {
      push(first, last, n);
      first = last = NULL;
      n = 0;
    }
  }
  if (n) push(first, last, n);
  pthread_mutex_lock(&q.lock);
  q.done = 1;
  pthread_cond_broadcast(&q.changed);
  pthread_mutex_unlock(&q.lock);
  return NULL;
}

static void *consumer(void *arg) {
  uint64_t *sum = arg, freed = 0;
  for (;;) {
    pthread_mutex_lock(&q.lock);
    while (!q.head && !q.done) pthread_cond_wait(&q.changed, &q.lock);
    block_t *b = q.head;
    q.head = q.tail = NULL;
    q.queued = 0;
    int done = q.done;
    pthread_cond_broadcast(&q.changed);
    pthread_mutex_unlock(&q.lock);
    while (b) {
      block_t *next = b->next;
      *sum += wl_check((char *)b + HEADER, b->len - HEADER, b->tag, "queued block");
      free(b);
      freed++;
      b = next;
    }
    if (done && freed == blocks_total) break;
  }
  return NULL;
}

int main(int argc, char **argv) {
  wl_args_t args;
  wl_parse_args(argc, argv, &args, "queue", 2,
                "One thread allocates 32 B - 32 KiB blocks, another frees them, through a locked queue.");
  blocks_total = wl_scaled(&args, 1000000);
  seed = args.seed;
  uint64_t sum = 0;
  pthread_t prod, cons;
  uint64_t t0 = wl_now_ns(), c0 = wl_cpu_ns();
  if (pthread_create(&cons, NULL, consumer, &sum) != 0 || pthread_create(&prod, NULL, producer, NULL) != 0)
    wl_fail("pthread_create");
  pthread_join(prod, NULL);
  pthread_join(cons, NULL);
  uint64_t t1 = wl_now_ns(), c1 = wl_cpu_ns();

  wl_result_t res = {.ops = blocks_total, .elapsed_ns = t1 - t0, .checksum = sum};
  wl_extra(&res, "cpu_ns_per_op", (double)(c1 - c0) / (double)blocks_total);
  wl_report(&args, &res);
  return 0;
}
