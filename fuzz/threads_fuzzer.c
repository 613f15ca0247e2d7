/* threads_fuzzer.c — two threads racing alloc, free and realloc over shared
 * slots (fuzz/, libFuzzer + ThreadSanitizer).
 *
 * The input is a stream of operations dealt to two threads in turn (the
 * libFuzzer thread and a worker that lives as long as the process), at most
 * MAX_OPS each. The operations act on SLOTS shared slots: allocate into a
 * free slot, free a live one, realloc a live one, read one's usable size.
 * Every slot has an atomic state, and a thread acts on a slot only after
 * moving it FREE -> BUSY or LIVE -> BUSY with a compare-and-swap, so the
 * threads race for slots (a block is often freed or realloc'd by the thread
 * that did not allocate it), never for a block. Checked:
 *   - every block is 16-byte aligned and its usable size >= the request;
 *   - no two live blocks overlap (a registry of live ranges, under a lock
 *     the harness takes only after hakmem returned a block and before it
 *     gets one back, so it orders no hakmem call against another);
 *   - each block carries a pattern tied to its id (head, tail, every page up
 *     to 16 KiB, about 4 pages past that, at a phase that moves with the id)
 *     that is intact when the other thread takes it over, before free and
 *     after realloc (up to the smaller size);
 *   - ThreadSanitizer finds no data race in hakmem (the build is
 *     -fsanitize=fuzzer,thread; halt_on_error makes a race a finding).
 * Sizes are mostly pool sizes (the per-thread pools and remote frees),
 * spread over the doublings up to 64 KiB; one pick in 64 is past that
 * (whole pool pages, the large threshold's range, large classes up to
 * 4 MiB: BigCache, spares; why so few: at pick_size), at most two of them
 * an input (why: at BIG_PICKS); calloc's past 4 KiB are mostly folded
 * (why: at CALLOC_KEEP). Which thread wins a slot depends on timing: an
 * input does not always replay the same interleaving, and a race found
 * between inputs (at handoff_t) depends on the ones before it.
 */
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fuzz/fake_os.h"
#include "fuzz/fuzz_input.h"
#include "hakmem/alloc.h"
#include "hakmem/include/hakmem.h"

// The harness's own functions get no coverage instrumentation: their
// branches (which operation, which size, a claim that found no slot) say
// nothing about hakmem, and their edge counters' stores, which TSan
// instruments (__tsan_write1), and comparison callbacks were a tenth of this
// fuzzer's time (perf). hakmem's code keeps all of its coverage.
#define HARNESS __attribute__((no_sanitize("coverage")))

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TSAN_BUILD 1
#endif
#endif

#define SLOTS 24u
#define HEAD 64u

// The operations of each thread's program, at most. An operation costs
// about 2.5 us under TSan wherever it is in a program, and an input's own
// cost (libFuzzer's feature collection and corpus upkeep, the threads'
// meeting, the final frees) about 100 us, so short programs make many more
// inputs a second (with 256, about 131 operations an input: 2,300 a
// second), and each is a race from empty slots. A race that spans inputs
// is still seen: TSan does not see the inputs' boundaries (at handoff_t).
#define MAX_OPS 16u

// An input's picks past 64 KiB (POOL_PICK), at most; the later ones are
// folded below it. Each such block costs tens of microseconds (its fresh
// pages and their TSan shadow faulted in, copies into and out of it checked
// a word at a time), and those picks reach more of hakmem's code (the large
// engine, BigCache, spares), so the corpus drifted towards them: merged
// after 140,000 runs, its inputs made 7.5 such picks each (the corpus of
// the two-halves format 0.9 in 83 operations) and ran at 1,050 inputs a
// second. Two keep a large block's realloc to another large size within
// one input; longer histories build up across inputs (hakmem's state is
// not reset).
#define POOL_PICK ((size_t)64 << 10)
#define BIG_PICKS 2u

// How often the libFuzzer thread looks for the worker's end before it
// sleeps (a few microseconds; a sleep and its wake-up cost both threads
// more than that).
#define DONE_SPINS 256u

enum { FREE, BUSY, LIVE };

typedef struct block {
  unsigned char *p;
  size_t req;
  uint32_t id;
} block_t;

typedef struct slot {
  _Atomic int state;
  block_t b;  // belongs to whoever moved state to BUSY
} slot_t;

// A slot's state orders the threads only where a block changes hands: LIVE
// is stored with release and claimed with acquire (the other thread then
// sees the block's pattern, as a program that passes a pointer would). A
// FREE slot holds no block, and its hand-over orders nothing (relaxed both
// ways): a free in one thread and the next allocation of that memory in the
// other are then ordered by hakmem's own synchronisation or not at all, so
// TSan sees a missing release or acquire in hakmem (a remote free's push, a
// page changing hands) instead of the harness's. The slot's fields are read
// and written only in TSan-unchecked code (slot_get, slot_set, below), since
// a FREE slot passes them on with no order; their values are checked by
// what the harness does with them.

static slot_t slots[SLOTS];

#ifdef TSAN_BUILD
#define SLOT_FIELDS __attribute__((noinline, no_sanitize("thread", "coverage")))
#else
#define SLOT_FIELDS __attribute__((noinline)) HARNESS
#endif

SLOT_FIELDS static block_t slot_get(const slot_t *s) { return s->b; }
SLOT_FIELDS static void slot_set(slot_t *s, block_t b) { s->b = b; }
static _Atomic uint32_t next_id;

// --- live ranges: no two may overlap ----------------------------------------------------

// The registry is the harness's own state, always under its lock: TSan
// would only check the harness against itself there, so its loops are not
// instrumented. The lock is a spin lock: its holder runs a few dozen
// instructions, and TSan's pthread_mutex interceptors (the deadlock
// detector, a futex wait when the other thread held it) made the two lock
// pairs of an operation a sixteenth of this fuzzer's time (perf). On x86-64
// TSan does not see it either (an xchg in inline assembly, a plain store to
// release: TSan instruments atomics in every function): taken around every
// allocation and free of both threads, a lock TSan saw ordered each
// operation after all of the other thread's earlier ones, which hid a
// missing release or acquire in hakmem (a relaxed remote push) whenever a
// registry lock pair fell between the two threads' accesses.
#ifdef TSAN_BUILD
#define REGISTRY __attribute__((no_sanitize("thread", "coverage")))
#else
#define REGISTRY HARNESS
#endif

#if defined(__x86_64__)
static int reg_held;

REGISTRY static void reg_lock(void) {
  for (unsigned spins = 0;; spins++) {
    int was = 1;
    if (!*(volatile int *)&reg_held) __asm__ volatile("xchgl %0, %1" : "+r"(was), "+m"(reg_held) : : "memory");
    if (!was) return;
    if (spins >= 64) sched_yield();
    else __builtin_ia32_pause();
  }
}

REGISTRY static void reg_unlock(void) {
  __asm__ volatile("" : : : "memory");  // x86 stores are releases
  *(volatile int *)&reg_held = 0;
}
#else
static atomic_int reg_held;

REGISTRY static void reg_lock(void) {
  for (unsigned spins = 0;; spins++) {
    if (!atomic_load_explicit(&reg_held, memory_order_relaxed) &&
        !atomic_exchange_explicit(&reg_held, 1, memory_order_acquire))
      return;
    if (spins >= 64) sched_yield();
  }
}

REGISTRY static void reg_unlock(void) { atomic_store_explicit(&reg_held, 0, memory_order_release); }
#endif

static struct {
  uintptr_t lo, hi;
  uint32_t id;
} reg[SLOTS];
static unsigned nreg;

// (The slot's fields are read by the callers, where TSan checks the slot
// protocol: these get their values.)
REGISTRY static void reg_add(const void *p, size_t req, uint32_t id) {
  uintptr_t lo = (uintptr_t)p, hi = lo + (req ? req : 1);
  reg_lock();
  for (unsigned i = 0; i < nreg; i++)
    FUZZ_CHECK(hi <= reg[i].lo || reg[i].hi <= lo, "block %u [%p, +%zu) overlaps live block %u [%#lx, %#lx)", id, p,
               req, reg[i].id, (unsigned long)reg[i].lo, (unsigned long)reg[i].hi);
  FUZZ_CHECK(nreg < SLOTS, "more live ranges than slots");
  reg[nreg].lo = lo;
  reg[nreg].hi = hi;
  reg[nreg].id = id;
  nreg++;
  reg_unlock();
}

REGISTRY static void reg_remove(uint32_t id) {
  reg_lock();
  unsigned i = 0;
  while (i < nreg && reg[i].id != id) i++;
  FUZZ_CHECK(i < nreg, "block %u is not registered", id);
  reg[i] = reg[--nreg];
  reg_unlock();
}

// --- patterns -----------------------------------------------------------------------------

// (always_inline: also into the loops below, which TSan does not instrument
// and which would otherwise call them.)
__attribute__((always_inline)) static inline unsigned char pat(uint32_t id, size_t o) {
  return (unsigned char)(id * 131u + (o >> 3) * 7u + o + 1u);
}

// The pattern's 8 bytes at o, a multiple of 8: pat(id, o) + 0 .. 7, each
// byte on its own (a SWAR add without carries between bytes).
__attribute__((always_inline)) static inline uint64_t pat_word(uint32_t id, size_t o) {
  const uint64_t ones = 0x0101010101010101u, high = 0x8080808080808080u, steps = 0x0706050403020100u;
  uint64_t b = pat(id, o) * ones;
  return ((b & ~high) + steps) ^ (b & high);
}

// How the harness's own reads and writes of block bytes reach TSan. The
// loops over a block's head and tail (and calloc's zero check) are not
// instrumented access by access (a __tsan_read8 per word made them a
// seventh of this fuzzer's time, perf): each range is declared to TSan
// once, before it is touched, with __tsan_read_range / __tsan_write_range,
// which checks it against the other thread's accesses exactly as the
// instrumented loop did (the same shadow cells, as plain reads or writes).
// A write of hakmem's into a live block is then still a race report, and
// still a corrupt pattern. Under --config=asan (an ASan build of this
// harness) the loops are ASan's as usual.
#ifdef TSAN_BUILD
void __tsan_read_range(void *addr, unsigned long size);
void __tsan_write_range(void *addr, unsigned long size);
void __tsan_ignore_thread_begin(void);
void __tsan_ignore_thread_end(void);
#define TOUCHED_R(p, n) __tsan_read_range((void *)(p), (n))
#define TOUCHED_W(p, n) __tsan_write_range((void *)(p), (n))
#define UNCHECKED_LOOP __attribute__((noinline, no_sanitize("thread", "coverage")))
#else
#define TOUCHED_R(p, n) ((void)(p), (void)(n))
#define TOUCHED_W(p, n) ((void)(p), (void)(n))
#define UNCHECKED_LOOP __attribute__((noinline, no_sanitize("coverage")))
#endif

// The bytes [lo, hi) of a block, filled a word at a time where o is a
// multiple of 8; the pattern stays one of bytes, so a block read at any
// offset compares the same.
UNCHECKED_LOOP static void fill_bytes(unsigned char *p, uint32_t id, size_t lo, size_t hi) {
  if (lo >= hi) return;
  TOUCHED_W(p + lo, hi - lo);
  size_t o = lo;
  for (; o < hi && o % 8; o++) p[o] = pat(id, o);
  for (uint64_t w; o + 8 <= hi; o += 8) w = pat_word(id, o), memcpy(p + o, &w, sizeof w);
  for (; o < hi; o++) p[o] = pat(id, o);
}

// The first wrong byte is reported: a wrong word leaves the word loop for
// the byte loop, which finds it.
// (id and req are passed, not the slot: the slot's fields are read where
// TSan checks the slot protocol, in the callers.)
UNCHECKED_LOOP static void check_bytes(uint32_t id, size_t req, const unsigned char *p, size_t lo, size_t hi,
                                       const char *when) {
  if (lo >= hi) return;
  TOUCHED_R(p + lo, hi - lo);
  size_t o = lo;
  for (; o < hi && o % 8; o++)
    FUZZ_CHECK(p[o] == pat(id, o), "%s: block %u (%zu bytes) corrupt at offset %zu", when, id, req, o);
  for (uint64_t w; o + 8 <= hi; o += 8) {
    memcpy(&w, p + o, sizeof w);
    if (w != pat_word(id, o)) break;
  }
  for (; o < hi; o++) FUZZ_CHECK(p[o] == pat(id, o), "%s: block %u (%zu bytes) corrupt at offset %zu", when, id, req, o);
}

// calloc's zero check of [0, n): the same way.
UNCHECKED_LOOP static void check_zero(const unsigned char *p, size_t n, size_t size) {
  TOUCHED_R(p, n);
  size_t o = 0;
  for (uint64_t w; o + 8 <= n; o += 8) {
    memcpy(&w, p + o, sizeof w);
    if (w) break;
  }
  for (; o < n; o++) FUZZ_CHECK(p[o] == 0, "calloc(%zu): byte %zu is not zero", size, o);
}

// The stride of the pages sampled in a block of req bytes: every page up to
// 16 KiB, about four past that (a power of two). The samples' phase moves
// with the block's id, so every page of a size is still sampled, in some
// blocks. Each sample of a fresh page is two page faults (the page and its
// TSan shadow) and an instrumented store: with every page up to 64 KiB
// (fuzz_stride, as malloc_api samples) they were a tenth of this fuzzer's
// time (perf: fill), where an operation's other checks cost less.
static inline size_t sample_stride(size_t req) {
  size_t s = 4096;
  while (s < req / 4) s <<= 1;
  return s;
}

// What is sampled of a block of req bytes, below limit: its head and tail
// (HEAD bytes each, as byte ranges) and one byte of every stride-th page
// (sample_stride), at a phase (a page multiple) that moves with the block's
// id, so that blocks between them sample every page.
#define FOR_EACH_SAMPLE(b_, req_, limit_, range, body)                          \
  do {                                                                          \
    size_t lim__ = (limit_) < (req_) ? (limit_) : (req_), st__ = sample_stride(req_); \
    size_t ph__ = ((size_t)(b_)->id * 4096u) % st__;                            \
    size_t t__ = (req_) > HEAD ? (req_) - HEAD : HEAD;                          \
    size_t lo = 0, hi = HEAD < lim__ ? HEAD : lim__;                            \
    range;                                                                      \
    lo = t__, hi = lim__;                                                       \
    if (lo < hi) range;                                                         \
    for (size_t o = ph__ ? ph__ : st__; o < lim__; o += st__) body;             \
  } while (0)

FUZZ_UNTRACED HARNESS static void fill(const block_t *b) {
  FOR_EACH_SAMPLE(b, b->req, b->req, fill_bytes(b->p, b->id, lo, hi), b->p[o] = pat(b->id, o));
}

FUZZ_UNTRACED HARNESS static void check_pattern(const block_t *b, const unsigned char *p, size_t upto, const char *when) {
  FOR_EACH_SAMPLE(b, b->req, upto, check_bytes(b->id, b->req, p, lo, hi, when),
                  FUZZ_CHECK(p[o] == pat(b->id, o), "%s: block %u (%zu bytes) corrupt at offset %zu", when, b->id,
                             b->req, o));
}

// hak_fake_os_protected reads the fake's range list under the fake's lock.
// TSan would see that lock, taken by both threads at every allocation, as
// ordering each one after all of the other thread's earlier operations
// (what hid hakmem's missing releases, at the registry lock above), so
// the call is made with TSan ignoring its synchronisation and its reads
// (the lookup is the harness's, not hakmem's; the lock still excludes
// hakmem's changes to the list).
#ifdef TSAN_BUILD
void AnnotateIgnoreSyncBegin(const char *file, int line);
void AnnotateIgnoreSyncEnd(const char *file, int line);
void AnnotateIgnoreReadsBegin(const char *file, int line);
void AnnotateIgnoreReadsEnd(const char *file, int line);
#endif

HARNESS static bool protected_memory(const void *p, size_t len) {
#ifdef TSAN_BUILD
  AnnotateIgnoreSyncBegin(__FILE__, __LINE__);
  AnnotateIgnoreReadsBegin(__FILE__, __LINE__);
#endif
  bool hit = hak_fake_os_protected(p, len);
#ifdef TSAN_BUILD
  AnnotateIgnoreReadsEnd(__FILE__, __LINE__);
  AnnotateIgnoreSyncEnd(__FILE__, __LINE__);
#endif
  return hit;
}

HARNESS static void adopt(slot_t *s, void *p, size_t req, const char *what) {
  FUZZ_CHECK((uintptr_t)p % 16 == 0, "%s: %p not 16-byte aligned", what, p);
  size_t usable = hak_usable_size(p);
  FUZZ_CHECK(usable >= req, "%s: usable %zu < request %zu", what, usable, req);
  FUZZ_CHECK(!protected_memory(p, usable), "%s: [%p, +%zu) lies on memory hakmem made inaccessible", what, p, usable);
  block_t b = {p, req, atomic_fetch_add_explicit(&next_id, 1, memory_order_relaxed) + 1};
  reg_add(b.p, b.req, b.id);
  fill(&b);
  slot_set(s, b);
}

// --- operations -----------------------------------------------------------------------------

// Two threads race over the pools above all (remote frees, a page or a
// heap changing hands), so most sizes are pool sizes, spread evenly over
// the doublings (every class as often as any other, and fewer bytes an
// operation than sizes spread evenly up to 4 KiB): small pages (up to
// 8 KiB), medium pages (up to 64 KiB), powers of two and multiples of 16
// (class boundaries). One pick in 64 is past 64 KiB, one in 256 each of
// whole pool pages (64 .. 256 KiB), the large threshold's range (192 ..
// 512 KiB), the large engine's low classes (512 KiB .. 1 MiB) and 1 ..
// 4 MiB, so every path stays reachable without the per-byte cost that made such blocks most of this fuzzer's time (TSan checks
// hakmem's memset and memcpy of them word by word and each fresh page is a
// fault, perf). The single-threaded malloc_api_fuzzer covers the size space
// up to 12 MiB.

// [2^b, 2^(b+1)) for b = lo_log + (c >> 4) % logs (c: the pick's first byte).
HARNESS static size_t doubling(fuzz_in_t *in, uint8_t c, unsigned lo_log, unsigned logs) {
  unsigned b = lo_log + (unsigned)(c >> 4) % logs;
  return ((size_t)1 << b) + in_u16(in) % ((size_t)1 << b);
}

HARNESS static size_t pick_size(fuzz_in_t *in) {
  uint8_t c = in_u8(in);
  switch (c % 16) {
    case 0: case 1: return in_u8(in);
    case 2: case 3: case 4: case 5: case 6: case 7: case 8: return doubling(in, c, 4, 9);  // 16 .. 8 KiB
    case 9: case 10: return doubling(in, c, 13, 3);                                        // 8 .. 64 KiB
    case 11: return (size_t)16 << ((c >> 4) % 13);                                      // 16 .. 64 KiB
    case 12: return (size_t)in_u8(in) * 16;
    case 13: return in_u16(in) % 4097;
    case 14:
      switch (c >> 4) {
        case 0: return (size_t)(64 << 10) + in_range(in, 0, (size_t)192 << 10);   // whole pool pages
        case 1: return (size_t)(192 << 10) + in_range(in, 0, (size_t)320 << 10);  // the threshold's range
        case 2: return (size_t)(512 << 10) + in_range(in, 0, (size_t)512 << 10);  // large classes
        case 3: return (size_t)(1 << 20) + in_range(in, 0, (size_t)3 << 20);
        default: return doubling(in, c, 4, 9);
      }
    default: return doubling(in, c, 4, 9);
  }
}

// A slot in the wanted state, moved to BUSY; NULL when the other thread holds
// them all. A LIVE one is acquired (its block's bytes come with it), a FREE
// one is not (why: at slot_t).
HARNESS static slot_t *claim(uint8_t from, int want) {
  memory_order order = want == LIVE ? memory_order_acquire : memory_order_relaxed;
  unsigned start = from % SLOTS;
  for (unsigned k = 0; k < SLOTS; k++) {
    slot_t *s = &slots[(start + k) % SLOTS];
    int expect = want;
    // A relaxed look first: under TSan a compare-and-swap costs a lookup of
    // its sync object even when it fails, and most slots are not in the
    // wanted state.
    if (atomic_load_explicit(&s->state, memory_order_relaxed) != want) continue;
    if (atomic_compare_exchange_strong_explicit(&s->state, &expect, BUSY, order, memory_order_relaxed))
      return s;
  }
  return NULL;
}

HARNESS static void release(slot_t *s, int to) {
  atomic_store_explicit(&s->state, to, to == LIVE ? memory_order_release : memory_order_relaxed);
}

// calloc of a recycled block clears it with memset, which TSan checks a
// word at a time (each 8 bytes about as much as a small operation's other
// work, perf: __tsan_memset under hak_calloc_at, counted and
// hak_large_alloc_ex). Up to CALLOC_KEEP (the bytes the zero check reads)
// a calloc keeps its size; up to 64 KiB one in eight does (the rest of the
// small pages, medium pages), one in eight of those past 64 KiB is folded
// into [256, 320) KiB (still large with the default threshold: cached,
// spare or fresh), one in eight below 64 KiB, the others below CALLOC_KEEP
// (also a size of zero bytes from the input: the usual filler). (8 KiB and
// one in four up to 64 KiB before: a third more bytes cleared a calloc.)
#define CALLOC_KEEP ((size_t)4 << 10)
#define CALLOC_LARGE ((size_t)256 << 10)

HARNESS static size_t calloc_size(size_t size) {
  if (size <= CALLOC_KEEP) return size;
  if (size <= ((size_t)64 << 10)) return size % 8 == 7 ? size : size % CALLOC_KEEP;
  switch (size % 8) {
    case 7: return CALLOC_LARGE + size % ((size_t)64 << 10);
    case 6: return size % ((size_t)64 << 10);
    default: return size % CALLOC_KEEP;
  }
}

// An operation as the input spells it: its byte, the size it picked (alloc,
// realloc) and where its search for a slot starts.
typedef struct op {
  size_t size;
  uint8_t code, from;
} op_t;

HARNESS static void op_alloc(const op_t *op, uintptr_t site, bool zero) {
  size_t size = zero ? calloc_size(op->size) : op->size;
  slot_t *s = claim(op->from, FREE);
  if (!s) return;
  void *p = zero ? hak_calloc_at(1, size, site) : hak_alloc_at(size, site);
  FUZZ_CHECK(p, "%s(%zu) failed", zero ? "calloc" : "malloc", size);
  if (zero) check_zero(p, size < CALLOC_KEEP ? size : CALLOC_KEEP, size);
  adopt(s, p, size, zero ? "calloc" : "malloc");
  release(s, LIVE);
}

HARNESS static void op_free(const op_t *op) {
  slot_t *s = claim(op->from, LIVE);
  if (!s) return;
  block_t b = slot_get(s);
  check_pattern(&b, b.p, b.req, "before free");
  reg_remove(b.id);
  hak_free(b.p);
  release(s, FREE);
}

HARNESS static void op_realloc(const op_t *op) {
  size_t size = op->size;
  slot_t *s = claim(op->from, LIVE);
  if (!s) return;
  block_t b = slot_get(s);
  check_pattern(&b, b.p, b.req, "before realloc");
  reg_remove(b.id);
  void *p = hak_realloc(b.p, size);
  if (!size) {  // glibc: frees, returns NULL
    FUZZ_CHECK(!p, "realloc(p, 0) returned %p", p);
    release(s, FREE);
    return;
  }
  FUZZ_CHECK(p, "realloc(%zu) failed", size);
  check_pattern(&b, p, size, "after realloc");
  adopt(s, p, size, "realloc");
  release(s, LIVE);
}

HARNESS static void op_inspect(const op_t *op) {
  slot_t *s = claim(op->from, LIVE);
  if (!s) return;
  block_t b = slot_get(s);
  FUZZ_CHECK(hak_usable_size(b.p) >= b.req, "usable %zu < request %zu", hak_usable_size(b.p), b.req);
  check_pattern(&b, b.p, b.req, "taken over");
  release(s, LIVE);
}

// With HAK_FUZZ_OPS set, the operations both threads interpreted, printed at
// exit (README, Rates); each thread adds its count once per input.
static _Atomic unsigned long long ops;
static void print_ops(void) { fprintf(stderr, "HAK_FUZZ_OPS %llu\n", atomic_load(&ops)); }

// The programs are read before either runs: which bytes an operation takes
// does not depend on what happened (its byte, the size's bytes for alloc
// and realloc, then the slot's). The input is one stream of operations dealt
// to the two threads in turn, so every byte up to the last operation read
// is used whatever the input's length, and a short input still gives both
// threads work. TSan ignores the reading (each byte was an instrumented
// load and each step a store of the reader's position, perf: about 4% of
// this fuzzer's time): the programs are written before the worker is
// started (go, below) and so have no writes TSan could pair with the
// worker's reads.
typedef struct program {
  op_t op[MAX_OPS];
  unsigned n;
} program_t;

static program_t programs[2];

HARNESS static void decode(fuzz_in_t *in) {
#ifdef TSAN_BUILD
  __tsan_ignore_thread_begin();
#endif
  programs[0].n = programs[1].n = 0;
  unsigned big = 0;
  for (unsigned t = 0; in_more(in) && programs[t].n < MAX_OPS; t ^= 1) {
    op_t *op = &programs[t].op[programs[t].n++];
    op->code = in_u8(in);
    op->size = op->code % 8 <= 2 || op->code % 8 == 5 || op->code % 8 == 6 ? pick_size(in) : 0;
    if (op->size > POOL_PICK && ++big > BIG_PICKS) op->size %= POOL_PICK + 1;
    op->from = in_u8(in);
  }
#ifdef TSAN_BUILD
  __tsan_ignore_thread_end();
#endif
}

HARNESS static void run(const program_t *prog, uintptr_t site) {
  for (unsigned i = 0; i < prog->n; i++) {
    op_t op = prog->op[i];
    switch (op.code % 8) {
      case 0: case 1: case 2: op_alloc(&op, site + (op.code >> 5) * 0x40, op.code & 0x10); break;
      case 3: case 4: op_free(&op); break;
      case 5: case 6: op_realloc(&op); break;
      default: op_inspect(&op); break;
    }
  }
  atomic_fetch_add_explicit(&ops, prog->n, memory_order_relaxed);
}

// --- the worker thread ----------------------------------------------------------------------

// The two threads meet twice an input: the libFuzzer thread starts the
// worker (go: the input's number) and waits for it to finish (done: the
// same). TSan does not see that meeting (its synchronisation is ignored):
// otherwise it would order every operation of an input after all of the
// other thread's in the inputs before, and a race between inputs (a block
// the libFuzzer thread freed in the final loop, taken back by its owner in
// the next input; a page one thread gave up, reused by the other) would be
// hidden by the harness, as the registry lock's were (above). So, as within
// an input, hakmem's own synchronisation or a slot's LIVE hand-over (a
// program passing a pointer) is all that orders the threads' accesses for
// TSan. Nothing of the harness's needs more: the programs are written with
// TSan ignoring (decode), the slots' fields and the registry unchecked, the
// blocks' bytes go with LIVE. A waiter spins a little, then sleeps on a
// futex; the poster makes the call that wakes it only when it sleeps (two
// pthread barriers cost each thread two sleeps and two wake-ups an input
// whoever came first, and the worker finishing first was woken only to
// sleep again). The worker always waits long for go (the libFuzzer thread's
// own work between inputs), so only done is spun for.
typedef struct handoff {
  _Atomic unsigned value;
  _Atomic unsigned sleeping;  // the waiter's, seq_cst with value: no wake-up is lost
} handoff_t;

static handoff_t go, done;

#ifdef TSAN_BUILD
#define UNSEEN_BEGIN() AnnotateIgnoreSyncBegin(__FILE__, __LINE__)
#define UNSEEN_END() AnnotateIgnoreSyncEnd(__FILE__, __LINE__)
#else
#define UNSEEN_BEGIN() ((void)0)
#define UNSEEN_END() ((void)0)
#endif

HARNESS static void handoff_wait(handoff_t *h, unsigned want, unsigned spins) {
  UNSEEN_BEGIN();
  for (unsigned i = 0; i < spins; i++) {
    if (atomic_load_explicit(&h->value, memory_order_acquire) == want) goto out;
#if defined(__x86_64__)
    __builtin_ia32_pause();
#endif
  }
  atomic_store(&h->sleeping, 1);
  for (unsigned v; (v = atomic_load(&h->value)) != want;)
    syscall(SYS_futex, &h->value, FUTEX_WAIT_PRIVATE, v, NULL, NULL, 0);
  atomic_store_explicit(&h->sleeping, 0, memory_order_relaxed);
out:
  UNSEEN_END();
}

HARNESS static void handoff_post(handoff_t *h, unsigned value) {
  UNSEEN_BEGIN();
  atomic_store(&h->value, value);
  if (atomic_load(&h->sleeping)) syscall(SYS_futex, &h->value, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
  UNSEEN_END();
}

HARNESS static void *worker(void *arg) {
  (void)arg;
  for (unsigned input = 1;; input++) {
    handoff_wait(&go, input, 0);
    run(&programs[1], 0x900000);
    handoff_post(&done, input);
  }
  return NULL;
}

// A race report is a finding: stop at the first. No reports of calls that
// are not async-signal-safe in a signal handler: the only handler is
// libFuzzer's, for the SIGABRT of a failed check or of hakmem's own abort,
// and it allocates; TSan's report of that, under halt_on_error, left the
// process hanging there without writing the crash file (hakmem installs no
// handler). (TSan calls this before it is initialised: no instrumentation
// of any kind may run in it.)
const char *__tsan_default_options(void);
__attribute__((disable_sanitizer_instrumentation, no_sanitize("coverage"))) const char *__tsan_default_options(void) {
  return "halt_on_error=1:report_signal_unsafe=0";
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

// Between inputs TSan ignores the libFuzzer thread's memory accesses: what
// it does there is libFuzzer's own bookkeeping (it copies the next input,
// clears its 8 KiB value-profile map and the edge counters, with memcpy and
// memset, which TSan intercepts and checks a word at a time: perf, a
// twentieth of this fuzzer's time), while the worker waits for go.
// hakmem is called only inside this function, where TSan checks all of it.
// (TSan fails a process whose main thread exits ignoring: the exit of the
// thread that calls this function ends it.)
#ifdef TSAN_BUILD
static pthread_t libfuzzer_thread;
static bool libfuzzer_ignored;

HARNESS static void libfuzzer_begins(void) {
  __tsan_ignore_thread_begin();
  libfuzzer_ignored = true;
}

HARNESS static void libfuzzer_ends(void) {
  if (!libfuzzer_ignored || !pthread_equal(pthread_self(), libfuzzer_thread)) return;
  libfuzzer_ignored = false;
  __tsan_ignore_thread_end();
}

HARNESS static void libfuzzer_watch(void) {
  libfuzzer_thread = pthread_self();
  atexit(libfuzzer_ends);
}
#else
static void libfuzzer_begins(void) {}
static void libfuzzer_ends(void) {}
static void libfuzzer_watch(void) {}
#endif

HARNESS int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static bool started;
  if (started) libfuzzer_ends();
  else {
    started = true;
    libfuzzer_watch();
    if (getenv("HAK_FUZZ_OPS")) atexit(print_ops);
    hak_init();
    pthread_t t;
    FUZZ_CHECK(pthread_create(&t, NULL, worker, NULL) == 0, "cannot start the worker thread");
    pthread_detach(t);
  }
  static unsigned input;
  fuzz_in_t in = {data, size};
  decode(&in);
  handoff_post(&go, ++input);
  run(&programs[0], 0x800000);
  handoff_wait(&done, input, DONE_SPINS);
  // Both threads are done: every block goes back, checked once more.
  for (unsigned i = 0; i < SLOTS; i++) {
    slot_t *s = &slots[i];
    FUZZ_CHECK(atomic_load(&s->state) != BUSY, "slot %u left busy", i);
    if (atomic_load(&s->state) != LIVE) continue;
    block_t b = slot_get(s);
    check_pattern(&b, b.p, b.req, "final free");
    reg_remove(b.id);
    hak_free(b.p);
    atomic_store(&s->state, FREE);
  }
  FUZZ_CHECK(nreg == 0, "%u ranges still registered", nreg);
  libfuzzer_begins();
  return 0;
}
