/* threads_fuzzer.c — two threads racing alloc, free and realloc over shared
 * slots (fuzz/, libFuzzer + ThreadSanitizer).
 *
 * The input is split in two programs, one per thread (the libFuzzer thread
 * and a worker that lives as long as the process). Each program is a list of
 * operations on SLOTS shared slots: allocate into a free slot, free a live
 * one, realloc a live one, read one's usable size. Every slot has an atomic
 * state, and a thread acts on a slot only after moving it FREE -> BUSY or
 * LIVE -> BUSY with a compare-and-swap, so the threads race for slots (a
 * block is often freed or realloc'd by the thread that did not allocate
 * it), never for a block. Checked:
 *   - every block is 16-byte aligned and its usable size >= the request;
 *   - no two live blocks overlap (a registry of live ranges, under a lock
 *     the harness takes only after hakmem returned a block and before it
 *     gets one back, so it orders no hakmem call against another);
 *   - each block carries a pattern tied to its id (head, tail, every page up
 *     to 64 KiB, about 16 pages past that)
 *     that is intact when the other thread takes it over, before free and
 *     after realloc (up to the smaller size);
 *   - ThreadSanitizer finds no data race in hakmem (the build is
 *     -fsanitize=fuzzer,thread; halt_on_error makes a race a finding).
 * Sizes are mostly small (the per-thread pools and remote frees), some
 * around the large threshold and a few large (BigCache, spares); calloc's
 * past 64 KiB are folded (why: at CALLOC_KEEP). Which thread
 * wins a slot depends on timing: an input does not always replay the same
 * interleaving.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/fake_os.h"
#include "fuzz/fuzz_input.h"
#include "hakmem/alloc.h"
#include "hakmem/include/hakmem.h"

#define SLOTS 24u
#define MAX_OPS 256u
#define HEAD 64u

enum { FREE, BUSY, LIVE };

typedef struct slot {
  _Atomic int state;
  unsigned char *p;  // these three belong to whoever moved state to BUSY
  size_t req;
  uint32_t id;
} slot_t;

static slot_t slots[SLOTS];
static _Atomic uint32_t next_id;

// --- live ranges: no two may overlap ----------------------------------------------------

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
  uintptr_t lo, hi;
  uint32_t id;
} reg[SLOTS];
static unsigned nreg;

static void reg_add(const slot_t *s) {
  uintptr_t lo = (uintptr_t)s->p, hi = lo + (s->req ? s->req : 1);
  pthread_mutex_lock(&reg_lock);
  for (unsigned i = 0; i < nreg; i++)
    FUZZ_CHECK(hi <= reg[i].lo || reg[i].hi <= lo, "block %u [%p, +%zu) overlaps live block %u [%#lx, %#lx)", s->id,
               (void *)s->p, s->req, reg[i].id, (unsigned long)reg[i].lo, (unsigned long)reg[i].hi);
  FUZZ_CHECK(nreg < SLOTS, "more live ranges than slots");
  reg[nreg].lo = lo;
  reg[nreg].hi = hi;
  reg[nreg].id = s->id;
  nreg++;
  pthread_mutex_unlock(&reg_lock);
}

static void reg_remove(const slot_t *s) {
  pthread_mutex_lock(&reg_lock);
  unsigned i = 0;
  while (i < nreg && reg[i].id != s->id) i++;
  FUZZ_CHECK(i < nreg, "block %u is not registered", s->id);
  reg[i] = reg[--nreg];
  pthread_mutex_unlock(&reg_lock);
}

// --- patterns -----------------------------------------------------------------------------

static inline unsigned char pat(uint32_t id, size_t o) { return (unsigned char)(id * 131u + (o >> 3) * 7u + o + 1u); }

// The bytes [lo, hi) of a block: its head and tail are checked and filled
// 8 bytes at a time (TSan instruments each access: byte by byte, the head
// and tail were a sixth of this fuzzer's time, perf); the pattern stays one
// of bytes, so a block read at any offset compares the same.
FUZZ_UNTRACED static uint64_t pat_word(uint32_t id, size_t o) {
  unsigned char b[8];
  for (unsigned i = 0; i < 8; i++) b[i] = pat(id, o + i);
  uint64_t w;
  memcpy(&w, b, sizeof w);
  return w;
}

FUZZ_UNTRACED static void fill_bytes(unsigned char *p, uint32_t id, size_t lo, size_t hi) {
  size_t o = lo;
  for (uint64_t w; o + 8 <= hi; o += 8) w = pat_word(id, o), memcpy(p + o, &w, sizeof w);
  for (; o < hi; o++) p[o] = pat(id, o);
}

// The first wrong byte is reported: a wrong word leaves the word loop for
// the byte loop, which finds it.
FUZZ_UNTRACED static void check_bytes(const slot_t *s, const unsigned char *p, size_t lo, size_t hi, const char *when) {
  size_t o = lo;
  for (uint64_t w; o + 8 <= hi; o += 8) {
    memcpy(&w, p + o, sizeof w);
    if (w != pat_word(s->id, o)) break;
  }
  for (; o < hi; o++)
    FUZZ_CHECK(p[o] == pat(s->id, o), "%s: block %u (%zu bytes) corrupt at offset %zu", when, s->id, s->req, o);
}

// What is sampled of a block of req bytes, below limit: its head and tail
// (HEAD bytes each, as byte ranges) and one byte of every stride-th page
// (fuzz_stride), at a phase (a page multiple) that moves with the block's
// id, so that blocks between them sample every page.
#define FOR_EACH_SAMPLE(s_, req_, limit_, range, body)                          \
  do {                                                                          \
    size_t lim__ = (limit_) < (req_) ? (limit_) : (req_), st__ = fuzz_stride(req_); \
    size_t ph__ = ((size_t)(s_)->id * 4096u) % st__;                            \
    size_t t__ = (req_) > HEAD ? (req_) - HEAD : HEAD;                          \
    size_t lo = 0, hi = HEAD < lim__ ? HEAD : lim__;                            \
    range;                                                                      \
    lo = t__, hi = lim__;                                                       \
    if (lo < hi) range;                                                         \
    for (size_t o = ph__ ? ph__ : st__; o < lim__; o += st__) body;             \
  } while (0)

FUZZ_UNTRACED static void fill(slot_t *s) {
  FOR_EACH_SAMPLE(s, s->req, s->req, fill_bytes(s->p, s->id, lo, hi), s->p[o] = pat(s->id, o));
}

FUZZ_UNTRACED static void check_pattern(const slot_t *s, const unsigned char *p, size_t upto, const char *when) {
  FOR_EACH_SAMPLE(s, s->req, upto, check_bytes(s, p, lo, hi, when),
                  FUZZ_CHECK(p[o] == pat(s->id, o), "%s: block %u (%zu bytes) corrupt at offset %zu", when, s->id,
                             s->req, o));
}

static void adopt(slot_t *s, void *p, size_t req, const char *what) {
  FUZZ_CHECK((uintptr_t)p % 16 == 0, "%s: %p not 16-byte aligned", what, p);
  size_t usable = hak_usable_size(p);
  FUZZ_CHECK(usable >= req, "%s: usable %zu < request %zu", what, usable, req);
  FUZZ_CHECK(!hak_fake_os_protected(p, usable), "%s: [%p, +%zu) lies on memory hakmem made inaccessible", what, p,
             usable);
  s->p = p;
  s->req = req;
  s->id = atomic_fetch_add_explicit(&next_id, 1, memory_order_relaxed) + 1;
  reg_add(s);
  fill(s);
}

// --- operations -----------------------------------------------------------------------------

static size_t pick_size(fuzz_in_t *in) {
  uint8_t c = in_u8(in);
  switch (c % 8) {
    case 0: return in_u8(in);
    case 1: case 2: case 3: return in_u16(in) % 4097;
    case 4: return in_u16(in) % 32769;
    case 5: return (size_t)(16 << 10) + in_range(in, 0, (size_t)496 << 10);  // the large threshold's range
    // 1 .. 4 MiB for one in four of these, else 512 KiB .. 1 MiB: realloc's
    // copies of such blocks, which TSan checks word by word, were a tenth
    // of the time with all of them up to 4 MiB (perf, __tsan_memcpy).
    case 6: {
      bool big = (c & 0x60) == 0x60;
      return c & 0x80 ? (size_t)in_range(in, (size_t)(big ? 1024 : 512) << 10, (size_t)(big ? 4096 : 1024) << 10)
                      : in_u16(in);
    }
    default: return 16u << (in_u8(in) % 12);
  }
}

// A slot in the wanted state, moved to BUSY; NULL when the other thread holds them all.
static slot_t *claim(fuzz_in_t *in, int want) {
  unsigned start = in_u8(in) % SLOTS;
  for (unsigned k = 0; k < SLOTS; k++) {
    slot_t *s = &slots[(start + k) % SLOTS];
    int expect = want;
    if (atomic_compare_exchange_strong_explicit(&s->state, &expect, BUSY, memory_order_acquire, memory_order_relaxed))
      return s;
  }
  return NULL;
}

static void release(slot_t *s, int to) { atomic_store_explicit(&s->state, to, memory_order_release); }

// calloc of a recycled block clears it with memset, which TSan checks a
// word at a time: calloc's sizes up to 4 MiB made that a sixth of this
// fuzzer's time, folded into 256 .. 384 KiB still a ninth, and with all
// sizes up to 320 KiB kept (most of them 32 .. 320 KiB) a sixth again
// (perf, __tsan_memset under hak_large_alloc_ex and hak_calloc_at). Past
// CALLOC_KEEP one in four is folded into [256, 320) KiB, still large with
// the default threshold (256 KiB: cached, spare or fresh), one in four into
// [CALLOC_KEEP, 2 * CALLOC_KEEP), the others below 32 KiB.
#define CALLOC_KEEP ((size_t)64 << 10)
#define CALLOC_LARGE ((size_t)256 << 10)

static size_t calloc_size(size_t size) {
  if (size <= CALLOC_KEEP) return size;
  switch (size % 4) {
    case 0: return CALLOC_LARGE + size % CALLOC_KEEP;
    case 1: return CALLOC_KEEP + size % CALLOC_KEEP;
    default: return size % (32u << 10);
  }
}

static void op_alloc(fuzz_in_t *in, uintptr_t site, bool zero) {
  size_t size = pick_size(in);
  if (zero) size = calloc_size(size);
  slot_t *s = claim(in, FREE);
  if (!s) return;
  void *p = zero ? hak_calloc_at(1, size, site) : hak_alloc_at(size, site);
  FUZZ_CHECK(p, "%s(%zu) failed", zero ? "calloc" : "malloc", size);
  if (zero) {  // the first 4 KiB, a word at a time (as check_bytes)
    size_t o = 0, n = size < 4096 ? size : 4096;
    for (uint64_t w; o + 8 <= n; o += 8) {
      memcpy(&w, (unsigned char *)p + o, sizeof w);
      if (w) break;
    }
    for (; o < n; o++) FUZZ_CHECK(((unsigned char *)p)[o] == 0, "calloc(%zu): byte %zu is not zero", size, o);
  }
  adopt(s, p, size, zero ? "calloc" : "malloc");
  release(s, LIVE);
}

static void op_free(fuzz_in_t *in) {
  slot_t *s = claim(in, LIVE);
  if (!s) return;
  check_pattern(s, s->p, s->req, "before free");
  reg_remove(s);
  hak_free(s->p);
  s->p = NULL;
  release(s, FREE);
}

static void op_realloc(fuzz_in_t *in) {
  size_t size = pick_size(in);
  slot_t *s = claim(in, LIVE);
  if (!s) return;
  check_pattern(s, s->p, s->req, "before realloc");
  reg_remove(s);
  void *p = hak_realloc(s->p, size);
  if (!size) {  // glibc: frees, returns NULL
    FUZZ_CHECK(!p, "realloc(p, 0) returned %p", p);
    s->p = NULL;
    release(s, FREE);
    return;
  }
  FUZZ_CHECK(p, "realloc(%zu) failed", size);
  check_pattern(s, p, size, "after realloc");
  adopt(s, p, size, "realloc");
  release(s, LIVE);
}

static void op_inspect(fuzz_in_t *in) {
  slot_t *s = claim(in, LIVE);
  if (!s) return;
  FUZZ_CHECK(hak_usable_size(s->p) >= s->req, "usable %zu < request %zu", hak_usable_size(s->p), s->req);
  check_pattern(s, s->p, s->req, "taken over");
  release(s, LIVE);
}

// With HAK_FUZZ_OPS set, the operations both threads interpreted, printed at
// exit (README, Rates); each thread adds its count once per input.
static _Atomic unsigned long long ops;
static void print_ops(void) { fprintf(stderr, "HAK_FUZZ_OPS %llu\n", atomic_load(&ops)); }

static void run(fuzz_in_t *in, uintptr_t site) {
  unsigned n = 0;
  for (; in_more(in) && n < MAX_OPS; n++) {
    uint8_t op = in_u8(in);
    switch (op % 8) {
      case 0: case 1: case 2: op_alloc(in, site + (op >> 5) * 0x40, op & 0x10); break;
      case 3: case 4: op_free(in); break;
      case 5: case 6: op_realloc(in); break;
      default: op_inspect(in); break;
    }
  }
  atomic_fetch_add(&ops, n);
}

// --- the worker thread ----------------------------------------------------------------------

static pthread_barrier_t start, done;
static fuzz_in_t worker_in;

static void *worker(void *arg) {
  (void)arg;
  for (;;) {
    pthread_barrier_wait(&start);
    run(&worker_in, 0x900000);
    pthread_barrier_wait(&done);
  }
  return NULL;
}

// A race report is a finding: stop at the first. (TSan calls this before it
// is initialised: no instrumentation of any kind may run in it.)
const char *__tsan_default_options(void);
__attribute__((disable_sanitizer_instrumentation, no_sanitize("coverage"))) const char *__tsan_default_options(void) {
  return "halt_on_error=1";
}

// libFuzzer's edge counters (a byte per edge, the __sancov_cntrs section)
// are bumped by both threads without synchronisation, and clang 16's TSan
// instruments those stores: that race is the instrumentation's, not
// hakmem's. (Matching it needs llvm-symbolizer; it is the fallback of the
// benign-race declaration below, which needs none.)
const char *__tsan_default_suppressions(void);
__attribute__((disable_sanitizer_instrumentation, no_sanitize("coverage"))) const char *__tsan_default_suppressions(void) {
  return "race:__start___sancov_cntrs\n";
}

// The same race declared benign by address: TSan then drops each report of
// it before it restores the two stacks and matches suppressions, which was
// most of this fuzzer's time (perf: __tsan::RestoreStack; every input races
// on many counters). The range is what each instrumented module hands
// libFuzzer at start-up: the TSan link wraps that call (fuzz.bzl,
// -Wl,--wrap=__sanitizer_cov_8bit_counters_init). The counters' section
// cannot be named here: the coverage pass declares those names in this file.
void __real___sanitizer_cov_8bit_counters_init(uint8_t *lo, uint8_t *hi) __attribute__((weak));
void __wrap___sanitizer_cov_8bit_counters_init(uint8_t *lo, uint8_t *hi);
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define BENIGN_COUNTERS 1
void AnnotateBenignRaceSized(const char *file, int line, const volatile void *mem, size_t size, const char *desc);
#endif
#endif

__attribute__((no_sanitize("coverage"))) void __wrap___sanitizer_cov_8bit_counters_init(uint8_t *lo, uint8_t *hi) {
#ifdef BENIGN_COUNTERS
  if (hi > lo) AnnotateBenignRaceSized(__FILE__, __LINE__, lo, (size_t)(hi - lo), "libFuzzer's edge counters");
#endif
  __real___sanitizer_cov_8bit_counters_init(lo, hi);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static bool started;
  if (!started) {
    started = true;
    if (getenv("HAK_FUZZ_OPS")) atexit(print_ops);
    hak_init();
    pthread_barrier_init(&start, NULL, 2);
    pthread_barrier_init(&done, NULL, 2);
    pthread_t t;
    FUZZ_CHECK(pthread_create(&t, NULL, worker, NULL) == 0, "cannot start the worker thread");
    pthread_detach(t);
  }
  size_t half = size / 2;
  fuzz_in_t mine = {data, half};
  worker_in = (fuzz_in_t){data + half, size - half};
  pthread_barrier_wait(&start);
  run(&mine, 0x800000);
  pthread_barrier_wait(&done);
  // Both threads are done: every block goes back, checked once more.
  for (unsigned i = 0; i < SLOTS; i++) {
    slot_t *s = &slots[i];
    FUZZ_CHECK(atomic_load(&s->state) != BUSY, "slot %u left busy", i);
    if (atomic_load(&s->state) != LIVE) continue;
    check_pattern(s, s->p, s->req, "final free");
    reg_remove(s);
    hak_free(s->p);
    s->p = NULL;
    atomic_store(&s->state, FREE);
  }
  FUZZ_CHECK(nreg == 0, "%u ranges still registered", nreg);
  return 0;
}
