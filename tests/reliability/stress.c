/* stress.c — faults, fork, threads and address-space hygiene, through the
 * libc names of whatever malloc the process has (run by stress_test.sh with
 * libhakmem.so preloaded; every scenario also passes under glibc).
 *
 *   stress oom [threads]   RLIMIT_AS in a child: every failed call returns
 *                          NULL/ENOMEM, nothing aborts, and after freeing,
 *                          the same amount can be allocated again
 *   stress fork N          a non-main thread forks N times while 8 threads
 *                          allocate; each child reuses pre-fork blocks
 *   stress threads         64 threads freeing each other's blocks; threads
 *                          that exit holding blocks; a first call that is free
 *   stress short N         N short-lived threads; RSS stays bounded
 *   stress hygiene N       N random 4 KiB..4 MiB alloc/free: bounded mappings,
 *                          RSS back near the baseline after a trim
 *
 * Prints "ok ..." lines and exits 0, or a FAIL line and exits 1.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FAIL(...)                          \
  do {                                     \
    printf("FAIL " __VA_ARGS__);           \
    printf("\n");                          \
    fflush(stdout);                        \
    _exit(1);                              \
  } while (0)

// --- helpers --------------------------------------------------------------------

static uint64_t rng_next(uint64_t *s) {  // xorshift64*
  uint64_t x = *s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * 0x2545F4914F6CDD1DULL;
}

// A size from 16 B to 8 MiB, mostly small (the shape of real programs).
static size_t mixed_size(uint64_t *s) {
  uint64_t r = rng_next(s);
  unsigned kind = r % 100;
  if (kind < 70) return 16 + (r >> 8) % 1024;
  if (kind < 90) return 1024 + (r >> 8) % (256 << 10);
  if (kind < 98) return (256 << 10) + (r >> 8) % (2 << 20);
  return (2 << 20) + (r >> 8) % (6 << 20);
}

static void stamp(void *p, size_t n, uint32_t id) {  // first and last 8 bytes
  if (n < 16) {
    memset(p, (int)(id & 0xff), n);
    return;
  }
  uint64_t v = id * 0x9E3779B97F4A7C15ULL;
  memcpy(p, &v, 8);
  memcpy((char *)p + n - 8, &v, 8);
}
static int stamped(const void *p, size_t n, uint32_t id) {
  if (n < 16) {
    for (size_t i = 0; i < n; i++)
      if (((const unsigned char *)p)[i] != (id & 0xff)) return 0;
    return 1;
  }
  uint64_t v = id * 0x9E3779B97F4A7C15ULL, a, b;
  memcpy(&a, p, 8);
  memcpy(&b, (const char *)p + n - 8, 8);
  return a == v && b == v;
}

// The head of a stamped block (what survives a realloc to any larger size).
static int stamped_head(const void *p, size_t n, uint32_t id) {
  if (n < 16) return stamped(p, n, id);
  uint64_t v = id * 0x9E3779B97F4A7C15ULL, a;
  memcpy(&a, p, 8);
  return a == v;
}

static size_t page_size(void) { return (size_t)sysconf(_SC_PAGESIZE); }

// Resident and virtual bytes, from /proc/self/statm (no allocation).
static void statm(size_t *vm, size_t *rss) {
  char buf[128] = {0};
  int fd = open("/proc/self/statm", O_RDONLY);
  ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
  if (fd >= 0) close(fd);
  unsigned long a = 0, b = 0;
  if (n > 0) sscanf(buf, "%lu %lu", &a, &b);
  if (vm) *vm = a * page_size();
  if (rss) *rss = b * page_size();
}
static size_t rss_now(void) {
  size_t r;
  statm(NULL, &r);
  return r;
}

static long maps_lines(void) {
  static char buf[1 << 16];
  int fd = open("/proc/self/maps", O_RDONLY);
  if (fd < 0) return -1;
  long lines = 0;
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0)
    for (ssize_t i = 0; i < n; i++) lines += buf[i] == '\n';
  close(fd);
  return lines;
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

// hak_trim when hakmem is the malloc (found by name), else glibc's malloc_trim.
static const char *trim_all(void) {
  size_t (*hak_trim)(void) = (size_t (*)(void))dlsym(RTLD_DEFAULT, "hak_trim");
  if (hak_trim) {
    hak_trim();
    return "hak_trim";
  }
  malloc_trim(0);
  return "malloc_trim";
}

// --- out of memory ----------------------------------------------------------------

typedef struct {
  void **blocks;
  size_t *sizes;
  size_t n, cap;
  uint64_t seed;
  long failures, successes;
  size_t bytes;
} oom_ctx_t;

// One failing call must be NULL + ENOMEM (posix_memalign: ENOMEM returned).
static void *oom_alloc(oom_ctx_t *c, size_t n, int how) {
  void *p = NULL;
  errno = 0;
  switch (how) {
    case 0: p = malloc(n); break;
    case 1: {
      p = calloc(1, n);
      if (p) {  // zero at both ends and in the middle
        const unsigned char *b = p;
        if (b[0] || b[n / 2] || b[n - 1]) FAIL("oom: calloc(%zu) not zero", n);
      }
      break;
    }
    case 2: {
      int r = posix_memalign(&p, (size_t)64 << (rng_next(&c->seed) % 12), n);
      if (r && r != ENOMEM) FAIL("oom: posix_memalign returned %d, not ENOMEM", r);
      if (r) {
        errno = ENOMEM;
        p = NULL;
      }
      break;
    }
    default: p = aligned_alloc(4096, n); break;
  }
  if (!p && errno != ENOMEM) FAIL("oom: a failed allocation of %zu set errno %d, not ENOMEM", n, errno);
  return p;
}

// Allocate until `want_failures` calls have failed; every block stamped.
static void oom_fill(oom_ctx_t *c, long want_failures) {
  long fails = 0;
  while (fails < want_failures && c->n < c->cap) {
    size_t n = mixed_size(&c->seed);
    if (rng_next(&c->seed) % 8 == 0) n = (8 << 20) + rng_next(&c->seed) % (56 << 20);
    void *p = oom_alloc(c, n, (int)(rng_next(&c->seed) % 4));
    if (!p) {
      fails++;
      c->failures++;
      // A failing realloc leaves the block intact.
      if (c->n) {
        size_t i = rng_next(&c->seed) % c->n;
        errno = 0;
        void *q = realloc(c->blocks[i], c->sizes[i] + (64 << 20));
        if (q) {
          c->blocks[i] = q;  // it fit after all: keep the smaller stamp
        } else {
          if (errno != ENOMEM) FAIL("oom: failed realloc set errno %d", errno);
          if (!stamped(c->blocks[i], c->sizes[i], (uint32_t)i)) FAIL("oom: failed realloc damaged the block");
        }
      }
      continue;
    }
    stamp(p, n, (uint32_t)c->n);
    c->blocks[c->n] = p;
    c->sizes[c->n] = n;
    c->n++;
    c->successes++;
    c->bytes += n;
  }
}

static void oom_free_all(oom_ctx_t *c) {
  for (size_t i = 0; i < c->n; i++) {
    if (!stamped(c->blocks[i], c->sizes[i], (uint32_t)i)) FAIL("oom: block %zu damaged", i);
    free(c->blocks[i]);
  }
  c->n = 0;
  c->bytes = 0;
}

#define OOM_CAP 200000
static pthread_barrier_t oom_barrier;
static size_t oom_budget;  // bytes each thread must be able to get again after freeing

static void *oom_thread(void *arg) {
  oom_ctx_t *c = arg;
  pthread_barrier_wait(&oom_barrier);  // the limit is in force
  for (int round = 0; round < 3; round++) {
    oom_fill(c, 50);
    if (!c->failures) FAIL("oom: the limit never bit");
    oom_free_all(c);
    pthread_barrier_wait(&oom_barrier);  // everyone has freed everything
    // Allocation works again: the budget in 1 MiB and 16 KiB blocks.
    size_t got = 0;
    while (got < oom_budget) {
      size_t n = (c->n & 1) ? (1 << 20) : (16 << 10);
      void *p = malloc(n);
      if (!p) FAIL("oom: after freeing everything, malloc(%zu) failed with %zu of %zu MiB in hand (round %d)", n, got >> 20, oom_budget >> 20, round);
      stamp(p, n, (uint32_t)c->n);
      c->blocks[c->n] = p;
      c->sizes[c->n] = n;
      c->n++;
      got += n;
    }
    oom_free_all(c);
    pthread_barrier_wait(&oom_barrier);
  }
  return NULL;
}

static int oom_child(int threads) {
  oom_ctx_t ctx[8];
  pthread_t tid[8];
  pthread_barrier_init(&oom_barrier, NULL, (unsigned)threads + 1);
  for (int t = 0; t < threads; t++) {
    memset(&ctx[t], 0, sizeof ctx[t]);
    ctx[t].cap = OOM_CAP / (size_t)threads;
    ctx[t].blocks = malloc(ctx[t].cap * sizeof(void *));
    ctx[t].sizes = malloc(ctx[t].cap * sizeof(size_t));
    ctx[t].seed = 0x1234567 + (uint64_t)t * 7919;
    if (pthread_create(&tid[t], NULL, oom_thread, &ctx[t])) FAIL("oom: pthread_create");
  }
  // Room for 512 MiB more than the process has now.
  size_t vm;
  statm(&vm, NULL);
  size_t room = (size_t)512 << 20;
  oom_budget = room / 4 / (size_t)threads;
  struct rlimit rl = {vm + room, vm + room};
  if (setrlimit(RLIMIT_AS, &rl)) FAIL("oom: setrlimit");
  for (int round = 0; round < 3; round++) {
    pthread_barrier_wait(&oom_barrier);  // start (round 0) / fill+free done
    pthread_barrier_wait(&oom_barrier);  // realloc phase done
  }
  pthread_barrier_wait(&oom_barrier);
  long fails = 0, ok = 0;
  for (int t = 0; t < threads; t++) {
    pthread_join(tid[t], NULL);
    fails += ctx[t].failures;
    ok += ctx[t].successes;
  }
  printf("ok   oom with %d thread(s): %ld allocations, %ld clean failures, memory reusable after free\n", threads, ok, fails);
  return 0;
}

// Runs the scenario in a child so that the limit and any crash stay there.
static int run_in_child(int (*fn)(int), int arg, int timeout_s, const char *what) {
  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0) FAIL("%s: fork", what);
  if (pid == 0) {
    alarm((unsigned)timeout_s);
    _exit(fn(arg));
  }
  int st;
  if (waitpid(pid, &st, 0) != pid) FAIL("%s: waitpid", what);
  if (WIFSIGNALED(st)) FAIL("%s: child killed by signal %d (%s)", what, WTERMSIG(st), strsignal(WTERMSIG(st)));
  if (WEXITSTATUS(st)) FAIL("%s: child exited with %d", what, WEXITSTATUS(st));
  return 0;
}

// The barrier count above: main takes part in the first wait and the pairs.
static int oom_main(int threads) {
  return run_in_child(oom_child, threads, 120, threads > 1 ? "oom-threads" : "oom");
}

// --- fork while threads allocate ---------------------------------------------------

#define FORK_WORKERS 8
#define STABLE 32
static _Atomic int fork_stop;
static void *stable[FORK_WORKERS + 1][STABLE];  // [FORK_WORKERS]: the forker's own
static size_t stable_n[FORK_WORKERS + 1][STABLE];
static pthread_barrier_t fork_ready;

static void *fork_worker(void *arg) {
  int me = (int)(intptr_t)arg;
  uint64_t seed = 99 + (uint64_t)me;
  for (int i = 0; i < STABLE; i++) {
    size_t n = mixed_size(&seed);
    stable[me][i] = malloc(n);
    stable_n[me][i] = n;
    stamp(stable[me][i], n, (uint32_t)(me * STABLE + i));
  }
  pthread_barrier_wait(&fork_ready);
  void *slot[128] = {0};
  size_t slot_n[128] = {0};
  for (unsigned op = 0; !atomic_load_explicit(&fork_stop, memory_order_relaxed); op++) {
    if (op % 64 == 0) usleep(100);  // 2 cores: leave the forker and its child some time
    unsigned i = (unsigned)(rng_next(&seed) % 128);
    if (slot[i]) {
      if (!stamped(slot[i], slot_n[i], i)) FAIL("fork: worker block damaged");
      if (rng_next(&seed) % 4 == 0) {
        size_t n = mixed_size(&seed);
        void *q = realloc(slot[i], n);
        if (!q) FAIL("fork: realloc failed");
        slot[i] = q;
        slot_n[i] = n;
        stamp(q, n, i);
        continue;
      }
      free(slot[i]);
      slot[i] = NULL;
    } else {
      size_t n = mixed_size(&seed);
      slot[i] = rng_next(&seed) % 3 ? malloc(n) : calloc(1, n);
      if (!slot[i]) FAIL("fork: malloc failed");
      slot_n[i] = n;
      stamp(slot[i], n, i);
    }
  }
  for (int i = 0; i < 128; i++) free(slot[i]);
  return NULL;
}

static void *child_thread(void *arg) {
  (void)arg;
  for (int i = 0; i < 1000; i++) free(malloc(16 + (size_t)i * 40));
  return malloc(100);
}

// In the child: only this thread exists. Every pre-fork block is intact and
// can be realloc'd and freed; new allocations and a new thread work.
static int fork_child_work(int round) {
  for (int t = 0; t <= FORK_WORKERS; t++)
    for (int i = 0; i < STABLE; i++)
      if (!stamped(stable[t][i], stable_n[t][i], (uint32_t)(t * STABLE + i))) return 3;
  for (int t = 0; t <= FORK_WORKERS; t++) {
    for (int i = 0; i < STABLE; i++) {
      if ((i + round) % 2) {
        size_t n = stable_n[t][i] + 1000 + (size_t)i * 4096;
        char *q = realloc(stable[t][i], n);
        if (!q || !stamped_head(q, stable_n[t][i], (uint32_t)(t * STABLE + i))) return 4;
        q[n - 1] = 1;
        free(q);
      } else {
        free(stable[t][i]);
      }
    }
  }
  void *keep[256];
  uint64_t seed = (uint64_t)round + 1;
  for (int i = 0; i < 256; i++) {
    size_t n = mixed_size(&seed);
    keep[i] = malloc(n);
    if (!keep[i]) return 5;
    memset(keep[i], 1, n < 64 ? n : 64);
  }
  for (int i = 0; i < 256; i++) free(keep[i]);
  pthread_t th;
  void *r = NULL;
  if (pthread_create(&th, NULL, child_thread, NULL) || pthread_join(th, &r) || !r) return 6;
  free(r);
  return 0;
}

static int fork_rounds;
static void *forker(void *arg) {
  (void)arg;
  uint64_t seed = 7;
  for (int i = 0; i < STABLE; i++) {
    size_t n = mixed_size(&seed);
    stable[FORK_WORKERS][i] = malloc(n);
    stable_n[FORK_WORKERS][i] = n;
    stamp(stable[FORK_WORKERS][i], n, (uint32_t)(FORK_WORKERS * STABLE + i));
  }
  pthread_barrier_wait(&fork_ready);
  for (int round = 0; round < fork_rounds; round++) {
    // Some churn of our own between forks.
    for (int k = 0; k < 50; k++) free(malloc(mixed_size(&seed)));
    pid_t pid = fork();
    if (pid < 0) FAIL("fork: fork() failed: %s", strerror(errno));
    if (pid == 0) {
      alarm(20);  // a deadlocked child dies of SIGALRM
      _exit(fork_child_work(round));
    }
    int st = 0;  // a hung child dies of its alarm: SIGALRM below
    if (waitpid(pid, &st, 0) != pid) FAIL("fork: waitpid: %s", strerror(errno));
    if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM) FAIL("fork: child of round %d hung (deadlock?)", round);
    if (WIFSIGNALED(st)) FAIL("fork: child of round %d died of signal %d (%s)", round, WTERMSIG(st), strsignal(WTERMSIG(st)));
    if (WEXITSTATUS(st)) FAIL("fork: child of round %d failed with %d", round, WEXITSTATUS(st));
  }
  return NULL;
}

static int fork_main(int rounds) {
  fork_rounds = rounds;
  pthread_t w[FORK_WORKERS], f;
  pthread_barrier_init(&fork_ready, NULL, FORK_WORKERS + 1);
  for (int i = 0; i < FORK_WORKERS; i++) pthread_create(&w[i], NULL, fork_worker, (void *)(intptr_t)i);
  pthread_create(&f, NULL, forker, NULL);
  double t0 = now_s();
  pthread_join(f, NULL);
  atomic_store(&fork_stop, 1);
  for (int i = 0; i < FORK_WORKERS; i++) pthread_join(w[i], NULL);
  for (int t = 0; t <= FORK_WORKERS; t++)
    for (int i = 0; i < STABLE; i++) {
      if (!stamped(stable[t][i], stable_n[t][i], (uint32_t)(t * STABLE + i))) FAIL("fork: parent's block damaged");
      free(stable[t][i]);
    }
  printf("ok   fork from a non-main thread x%d while 8 threads allocate (%.1f s)\n", rounds, now_s() - t0);
  return 0;
}

// --- threads ------------------------------------------------------------------------

#define PING_THREADS 64
#define MAILBOX 64
typedef struct {
  pthread_mutex_t mu;
  void *items[MAILBOX];
  size_t sizes[MAILBOX];
  int n;
} mailbox_t;
static mailbox_t boxes[PING_THREADS];
static _Atomic long ping_received;

static void ping_drain(int me) {
  mailbox_t *b = &boxes[me];
  void *items[MAILBOX];
  size_t sizes[MAILBOX];
  pthread_mutex_lock(&b->mu);
  int n = b->n;
  memcpy(items, b->items, sizeof(void *) * (size_t)n);
  memcpy(sizes, b->sizes, sizeof(size_t) * (size_t)n);
  b->n = 0;
  pthread_mutex_unlock(&b->mu);
  for (int i = 0; i < n; i++) {
    if (!stamped(items[i], sizes[i], (uint32_t)sizes[i])) FAIL("threads: a block passed between threads was damaged");
    free(items[i]);
  }
  atomic_fetch_add(&ping_received, n);
}

static void *ping_thread(void *arg) {
  int me = (int)(intptr_t)arg;
  uint64_t seed = 1000 + (uint64_t)me;
  for (int op = 0; op < 4000; op++) {
    size_t n = mixed_size(&seed);
    if (n > (1 << 20)) n = 1 << 20;
    void *p = malloc(n);
    if (!p) FAIL("threads: malloc");
    stamp(p, n, (uint32_t)n);
    int to = (int)(rng_next(&seed) % PING_THREADS);
    mailbox_t *b = &boxes[to];
    pthread_mutex_lock(&b->mu);
    if (b->n < MAILBOX) {
      b->items[b->n] = p;
      b->sizes[b->n] = n;
      b->n++;
      p = NULL;
    }
    pthread_mutex_unlock(&b->mu);
    free(p);  // the mailbox was full
    if (op % 8 == 0) ping_drain(me);
  }
  return NULL;
}

#define HOLDERS 16
#define HELD 2000
static void *held[HOLDERS][HELD];
static size_t held_n[HOLDERS][HELD];

static void *holder_thread(void *arg) {
  int me = (int)(intptr_t)arg;
  uint64_t seed = 555 + (uint64_t)me;
  for (int i = 0; i < HELD; i++) {
    size_t n = mixed_size(&seed);
    held[me][i] = malloc(n);
    if (!held[me][i]) FAIL("holders: malloc");
    held_n[me][i] = n;
    stamp(held[me][i], n, (uint32_t)(me * HELD + i));
  }
  return NULL;  // exits holding every block
}

static void *release_thread(void *arg) {
  int part = (int)(intptr_t)arg;  // frees every 4th holder's blocks
  for (int t = part; t < HOLDERS; t += 4)
    for (int i = 0; i < HELD; i++) {
      if (!stamped(held[t][i], held_n[t][i], (uint32_t)(t * HELD + i))) FAIL("holders: a dead thread's block was damaged");
      free(held[t][i]);
    }
  // And allocate: this thread may adopt a dead thread's heap.
  void *p[1000];
  for (int i = 0; i < 1000; i++) p[i] = malloc((size_t)i * 13 + 1);
  for (int i = 0; i < 1000; i++) free(p[i]);
  return NULL;
}

static void *first_call_free(void *arg) {
  free(arg);  // this thread's first call into the allocator
  free(NULL);
  return NULL;
}
static void *first_call_free_null(void *arg) {
  (void)arg;
  free(NULL);
  return malloc(10);
}
static void *first_call_realloc(void *arg) { return realloc(arg, 5000); }
static void *first_call_usable(void *arg) { return (void *)(uintptr_t)malloc_usable_size(arg); }

static int threads_main(void) {
  double t0 = now_s();
  pthread_t th[PING_THREADS];
  for (int i = 0; i < PING_THREADS; i++) pthread_mutex_init(&boxes[i].mu, NULL);
  for (int i = 0; i < PING_THREADS; i++) pthread_create(&th[i], NULL, ping_thread, (void *)(intptr_t)i);
  for (int i = 0; i < PING_THREADS; i++) pthread_join(th[i], NULL);
  for (int i = 0; i < PING_THREADS; i++) ping_drain(i);
  printf("ok   64 threads freeing each other's blocks (%ld passed)\n", atomic_load(&ping_received));

  for (int i = 0; i < HOLDERS; i++) pthread_create(&th[i], NULL, holder_thread, (void *)(intptr_t)i);
  for (int i = 0; i < HOLDERS; i++) pthread_join(th[i], NULL);
  // Some freed by main at once, the rest by 4 later threads.
  for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, release_thread, (void *)(intptr_t)i);
  for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
  printf("ok   16 threads exit holding %d blocks each; 4 later threads free them\n", HELD);

  // Threads whose first call is free (small and large), free(NULL), realloc,
  // malloc_usable_size of a block they did not allocate.
  size_t sizes[] = {24, 5000, 100000, 300000, 5 << 20};
  for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
    pthread_t t;
    void *r;
    pthread_create(&t, NULL, first_call_free, malloc(sizes[i]));
    pthread_join(t, NULL);
    pthread_create(&t, NULL, first_call_free_null, NULL);
    pthread_join(t, &r);
    free(r);
    void *p = malloc(sizes[i]);
    stamp(p, 8, 77);
    pthread_create(&t, NULL, first_call_realloc, p);
    pthread_join(t, &r);
    if (!r || !stamped(r, 8, 77)) FAIL("threads: realloc as a thread's first call");
    pthread_create(&t, NULL, first_call_usable, r);
    pthread_join(t, &p);
    if ((size_t)(uintptr_t)p < 5000) FAIL("threads: malloc_usable_size as a thread's first call");
    free(r);
  }
  printf("ok   threads whose first call is free / free(NULL) / realloc / malloc_usable_size (%.1f s)\n", now_s() - t0);
  return 0;
}

// --- many short-lived threads -----------------------------------------------------

static void *short_thread(void *arg) {
  uint64_t seed = (uint64_t)(uintptr_t)arg + 1;
  void *p[64];
  for (int i = 0; i < 64; i++) {
    size_t n = mixed_size(&seed);
    if (n > (1 << 20)) n = 1 << 20;
    p[i] = malloc(n);
    if (!p[i]) FAIL("short: malloc");
    memset(p[i], 1, n < 256 ? n : 256);
  }
  for (int i = 1; i < 64; i++) free(p[i]);
  return p[0];  // the parent frees one block per thread after the thread is gone
}

static int short_main(int n) {
  double t0 = now_s();
  size_t rss0 = rss_now(), peak = 0, at_tenth = 0;
  enum { BATCH = 8 };
  for (int i = 0; i < n; i += BATCH) {
    pthread_t t[BATCH];
    for (int k = 0; k < BATCH; k++)
      if (pthread_create(&t[k], NULL, short_thread, (void *)(uintptr_t)(i + k))) FAIL("short: pthread_create");
    for (int k = 0; k < BATCH; k++) {
      void *r;
      pthread_join(t[k], &r);
      free(r);
    }
    size_t rss = rss_now();
    if (rss > peak) peak = rss;
    if (i / BATCH == n / BATCH / 10) at_tenth = rss;
  }
  size_t end = rss_now();
  printf("ok   %d short-lived threads: RSS %zu MiB at start, %zu after a tenth, %zu at the end, peak %zu (%.1f s)\n", n,
         rss0 >> 20, at_tenth >> 20, end >> 20, peak >> 20, now_s() - t0);
  // Bounded: no more than 64 MiB above the start, and no growth after the first tenth.
  if (peak > rss0 + ((size_t)64 << 20)) FAIL("short: RSS peaked at %zu MiB (start %zu MiB)", peak >> 20, rss0 >> 20);
  if (end > at_tenth + ((size_t)16 << 20)) FAIL("short: RSS grows with the number of threads (%zu -> %zu MiB)", at_tenth >> 20, end >> 20);
  return 0;
}

// --- address-space hygiene -----------------------------------------------------------

static int hygiene_main(long ops) {
  enum { SLOTS = 64 };
  void *slot[SLOTS] = {0};
  size_t slot_n[SLOTS] = {0};
  uint64_t seed = 4242;
  double t0 = now_s();
  trim_all();
  long maps0 = maps_lines(), maps_max = maps0;
  size_t rss0 = rss_now(), rss_peak = rss0;
  for (long op = 0; op < ops; op++) {
    unsigned i = (unsigned)(rng_next(&seed) % SLOTS);
    if (slot[i]) {
      if (!stamped(slot[i], slot_n[i], i)) FAIL("hygiene: block damaged");
      free(slot[i]);
      slot[i] = NULL;
    } else {
      // 4 KiB .. 4 MiB, log-uniform.
      unsigned shift = 12 + (unsigned)(rng_next(&seed) % 10);
      size_t n = ((size_t)1 << shift) + rng_next(&seed) % ((size_t)1 << shift);
      if (n > ((size_t)4 << 20)) n = (size_t)4 << 20;
      slot[i] = malloc(n);
      if (!slot[i]) FAIL("hygiene: malloc(%zu) failed", n);
      slot_n[i] = n;
      stamp(slot[i], n, i);
    }
    if (op % 4096 == 0) {
      long m = maps_lines();
      if (m > maps_max) maps_max = m;
      size_t r = rss_now();
      if (r > rss_peak) rss_peak = r;
    }
  }
  for (int i = 0; i < SLOTS; i++) free(slot[i]);
  size_t rss_freed = rss_now();
  const char *how = trim_all();
  size_t rss_end = rss_now();
  long maps_end = maps_lines();
  printf("ok   %ld random 4 KiB..4 MiB alloc/free: maps %ld at start, max %ld, %ld at the end; RSS %zu MiB at start, peak %zu, "
         "%zu after free, %zu after %s (%.1f s)\n",
         ops, maps0, maps_max, maps_end, rss0 >> 20, rss_peak >> 20, rss_freed >> 20, rss_end >> 20, how, now_s() - t0);
  if (maps_max > maps0 + 1000) FAIL("hygiene: mappings grew from %ld to %ld", maps0, maps_max);
  if (rss_end > rss0 + ((size_t)8 << 20)) FAIL("hygiene: RSS %zu MiB after free and %s, baseline %zu MiB", rss_end >> 20, how, rss0 >> 20);
  return 0;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  const char *cmd = argc > 1 ? argv[1] : "";
  long n = argc > 2 ? atol(argv[2]) : 0;
  if (!strcmp(cmd, "oom")) return oom_main(n > 0 ? (int)(n > 8 ? 8 : n) : 1);
  if (!strcmp(cmd, "fork")) return fork_main(n > 0 ? (int)n : 300);
  if (!strcmp(cmd, "threads")) return threads_main();
  if (!strcmp(cmd, "short")) return short_main(n > 0 ? (int)n : 10000);
  if (!strcmp(cmd, "hygiene")) return hygiene_main(n > 0 ? n : 1000000);
  fprintf(stderr, "usage: stress oom [threads] | fork N | threads | short N | hygiene N\n");
  return 2;
}
