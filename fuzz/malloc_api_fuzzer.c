/* malloc_api_fuzzer.c — the public hak_* API end to end (fuzz/, libFuzzer).
 *
 * The input is a set of options (threshold, caches, free policy, batching,
 * THP) followed by calls: hak_alloc_at, hak_calloc, hak_realloc,
 * hak_aligned_alloc, hak_free, hak_usable_size, hak_trim (or the large
 * engine's trim, which leaves the pools their pages), a clock step (the OS
 * seam's clock, so BigCache and spare ageing run), and failure injection for
 * mmap/mremap/madvise. Sizes run from 0 to 12 MiB (three slots), around the
 * large threshold and the large classes, plus impossible ones; the byte caps
 * of BigCache and the spare pool are scaled to them. (Up to 40 MiB, ASan's
 * shadow poisoning of the blocks' bytes was a quarter of the time; no path
 * needs more than a few slots.) Checked after every call:
 *   - every block is 16-byte aligned (and aligned as asked); usable size >=
 *     the request; no two live blocks overlap;
 *   - each block carries a pattern tied to its id at sampled offsets (head,
 *     tail, every page up to 16 KiB, about 8 pages past that): intact
 *     before free and after realloc (up to the smaller size); calloc memory
 *     reads zero, also when recycled;
 *   - large vs small routing follows the threshold; failures are NULL with
 *     errno ENOMEM/EINVAL and leave a realloc'd block intact; free keeps errno;
 *   - the large_bytes_live gauge equals the live large requests; the stats
 *     gauges agree with BigCache and the spare pool; the BigCache, spare
 *     pool, batch and heap walkers pass (every 32nd call, and at the end of
 *     every input);
 *   - at the end, after freeing everything and the large engine's trim:
 *     nothing is cached, queued or mapped for large blocks (the pools keep
 *     their pages for the next input).
 * An input starts from no large block, no "again" size and its own options,
 * so a finding mostly replays alone; what still carries over is the pools'
 * pages, hakmem's random block offsets (which move the samples) and the
 * walkers' every-32nd-call phase.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/fake_os.h"
#include "fuzz/fuzz_input.h"
#include "hakmem/alloc.h"
#include "hakmem/batch.h"
#include "hakmem/bigcache.h"
#include "hakmem/heap.h"
#include "hakmem/include/hakmem.h"
#include "hakmem/large.h"
#include "hakmem/options.h"
#include "hakmem/os.h"
#include "hakmem/spare.h"
#include "hakmem/stats.h"

#define SLOTS 48u
#define LIVE_CAP ((size_t)96 << 20)  // bytes of live requests at most
#define HEAD 256u

typedef struct blk {
  unsigned char *p;  // NULL: slot free
  size_t req, align;
  uintptr_t site;
  uint32_t id;
  size_t stride;  // sampled offsets: o % stride == 0 and (p + o) % stride == 0
  uintptr_t phase;
} blk_t;

static blk_t live[SLOTS];
static uint32_t next_id;
static size_t live_bytes;
static size_t last_size;     // the last block freed: "again" asks for the same
static uintptr_t last_site;  // size at the same site, to hit BigCache and spares
static uint64_t clock_ms = 1000;
static hak_os_hooks_t hooks;
static bool trace;  // HAK_FUZZ_TRACE=1: print every call (for reading a finding)
#define TRACE(...) (trace ? fprintf(stderr, __VA_ARGS__) : 0)

static uint64_t now_ms(void *ctx) {
  (void)ctx;
  return clock_ms;
}

// --- patterns ------------------------------------------------------------------------------

static inline unsigned char pat(uint32_t id, size_t o) { return (unsigned char)(id * 167u + (o >> 4) * 31u + o + 1u); }

// Samples a stride apart (sample_stride), in two phases. A wrong range
// (advice, remap, copy) of a page or more is caught where it covers a
// sample: the second phase follows the block's address, so other blocks
// sample other pages. (Both phases tied to the address keep the sampled
// pages the same whenever the fake OS hands a range out again, so they stay
// resident, but a finding at an offset from the block, such as a middle page
// left unzeroed, then depends on hakmem's random offset and replayed 1 time
// in 3, against 3 in 3: not kept.)
// Runs body for each offset o of the sample set of a block of req_ bytes (its
// head, its tail, and every stride in both phases) that is below limit_.
#define FOR_EACH_SAMPLE(b, req_, limit_, body)                                                   \
  do {                                                                                           \
    size_t req__ = (req_), lim__ = (limit_) < req__ ? (limit_) : req__;                         \
    size_t h__ = req__ < HEAD ? req__ : HEAD;                                                    \
    for (size_t o = 0; o < h__ && o < lim__; o++) body;                                          \
    for (size_t o = req__ > HEAD ? req__ - HEAD : h__; o < lim__; o++) body;                     \
    for (size_t o = (b)->stride; o < lim__; o += (b)->stride) body;                              \
    for (size_t o = ((b)->stride - (b)->phase) % (b)->stride; o < lim__; o += (b)->stride) body; \
  } while (0)

// Blocks up to FULL_BYTES are sampled on every page and checked zero
// entirely; past that the stride is a power of two of at least 8 KiB with
// about 4 samples a phase (8 a block, plus the head and the tail). With
// every page up to 64 KiB and about 16 a phase past that (fuzz_stride, as
// threads_fuzzer), the first touches of the samples were 45% of the page
// faults, about 60 an input; a wrong range of a page or more (advice, remap,
// copy) is still caught where it covers a sample, and the samples move with
// the block's address, so the many blocks of a run cover different pages.
#define FULL_BYTES ((size_t)16 << 10)
static size_t sample_stride(size_t req) {
  if (req <= FULL_BYTES) return 4096;
  size_t s = 8192;
  while (s < req / 4) s <<= 1;
  return s;
}

FUZZ_UNTRACED static void fill(blk_t *b) {
  b->stride = sample_stride(b->req);
  b->phase = (uintptr_t)b->p % b->stride;
  FOR_EACH_SAMPLE(b, b->req, b->req, b->p[o] = pat(b->id, o));
}

FUZZ_UNTRACED static void check_pattern(const blk_t *b, const unsigned char *p, size_t upto, const char *when) {
  FOR_EACH_SAMPLE(b, b->req, upto, FUZZ_CHECK(p[o] == pat(b->id, o), "%s: block %u (%zu bytes) corrupt at offset %zu: %02x != %02x",
                                      when, b->id, b->req, o, p[o], pat(b->id, o)));
}

// The first byte of p[lo, hi) that is not zero (hi if none), 8 bytes at a
// time: byte by byte, ASan's check of each byte made 64 KiB the cost of a
// dozen page faults.
FUZZ_UNTRACED static size_t first_nonzero(const unsigned char *p, size_t lo, size_t hi) {
  size_t o = lo;
  for (uint64_t w; o + 8 <= hi; o += 8) {
    memcpy(&w, p + o, sizeof w);
    if (w) break;
  }
  while (o < hi && !p[o]) o++;
  return o;
}

FUZZ_UNTRACED static void check_zero(const blk_t *b, const char *when) {
  size_t all = b->req <= FULL_BYTES ? b->req : 0;  // small ones entirely
  size_t nz = first_nonzero(b->p, 0, all);
  FUZZ_CHECK(nz == all, "%s: byte %zu of %zu is %02x", when, nz, b->req, b->p[nz]);
  blk_t s = *b;
  s.stride = sample_stride(b->req);
  s.phase = (uintptr_t)b->p % s.stride;
  FOR_EACH_SAMPLE(&s, b->req, b->req, FUZZ_CHECK(b->p[o] == 0, "%s: byte %zu of %zu is %02x (recycled memory not zeroed)",
                                         when, o, b->req, b->p[o]));
}

// --- checks ----------------------------------------------------------------------------------

static bool is_large_ptr(const void *p) { return hak_large_lookup(p) != NULL; }

FUZZ_UNTRACED static void check_block(const blk_t *b, const char *what) {
  uintptr_t a = (uintptr_t)b->p;
  size_t align = b->align > 16 ? b->align : 16;
  FUZZ_CHECK(a % align == 0, "%s: %p (%zu bytes) not aligned to %zu", what, (void *)b->p, b->req, align);
  size_t usable = hak_usable_size(b->p);
  FUZZ_CHECK(usable >= b->req, "%s: usable %zu < request %zu", what, usable, b->req);
  FUZZ_CHECK(!hak_fake_os_protected(b->p, usable), "%s: [%p, +%zu) lies on memory hakmem made inaccessible", what,
             (void *)b->p, usable);
  size_t end = a + (b->req ? b->req : 1);
  for (unsigned i = 0; i < SLOTS; i++) {
    const blk_t *o = &live[i];
    if (!o->p || o == b) continue;
    uintptr_t oa = (uintptr_t)o->p, oe = oa + (o->req ? o->req : 1);
    FUZZ_CHECK(end <= oa || oe <= a, "%s: [%p, +%zu) overlaps live block %u [%p, +%zu)", what, (void *)b->p, b->req,
               o->id, (void *)o->p, o->req);
  }
}

// The walkers (hak_bigcache_is_valid goes over all 8192 slots, the heap's
// over every page of every segment) were a sixth of an input's time when
// they ran after every call (perf): they run after every WALK_EVERY-th call
// of the process (so a long input is walked in its middle too) and at the
// end of every input, after the final trim. Damage they would see mostly
// stays until then; the gauges below, which show most of it at once, are
// checked after every call.
#define WALK_EVERY 32u
static unsigned calls_done;

FUZZ_UNTRACED static void check_state(const char *after) {
  bool walk = ++calls_done % WALK_EVERY == 0 || !strcmp(after, "final trim");
  if (walk) {
    FUZZ_CHECK(hak_bigcache_is_valid(), "hak_bigcache_is_valid() failed after %s", after);
    FUZZ_CHECK(hak_spare_is_valid(), "hak_spare_is_valid() failed after %s", after);
    FUZZ_CHECK(hak_batch_is_valid(), "hak_batch_is_valid() failed after %s", after);
    FUZZ_CHECK(hak_heap_is_valid(), "hak_heap_is_valid() failed after %s", after);
  }
  uint64_t large_live = 0;
  for (unsigned i = 0; i < SLOTS; i++)
    if (live[i].p && is_large_ptr(live[i].p)) large_live += live[i].req;
  FUZZ_CHECK(hak_stat_read(HAK_STAT_large_bytes_live) == large_live, "after %s: large_bytes_live %llu != %llu", after,
             (unsigned long long)hak_stat_read(HAK_STAT_large_bytes_live), (unsigned long long)large_live);
  FUZZ_CHECK(hak_stat_read(HAK_STAT_bigcache_bytes) == hak_bigcache_bytes(), "after %s: bigcache_bytes gauge %llu != %zu",
             after, (unsigned long long)hak_stat_read(HAK_STAT_bigcache_bytes), hak_bigcache_bytes());
  FUZZ_CHECK(hak_stat_read(HAK_STAT_spare_bytes) == hak_spare_bytes(), "after %s: spare_bytes gauge %llu != %zu", after,
             (unsigned long long)hak_stat_read(HAK_STAT_spare_bytes), hak_spare_bytes());
}

// --- choices ---------------------------------------------------------------------------------

// Most sizes past the threshold stay below 1 MiB (up to 2 MiB for the
// 512 KiB - 2 MiB kind); about one pick of a kind in 21 (big: c / 12 is 0,
// from the same choice byte, so an input reads the same bytes) takes the
// kind's whole range, up to 12 MiB (one in eleven before: multi-MiB blocks
// cost a fifth of the time, and each kind still reaches them). The
// cost of a large block grows with its bytes (ASan's shadow poisoning on
// alloc, free and unmap, an eighth of its bytes each; hakmem's copies and
// clearing; the fake OS's residency scan): with every pick in the whole
// range they were a third of the time (perf), with one in four the shadow's
// memset alone was a fifth once the fake's mprotect was gone (one in
// eleven: 1,376 - 1,444 inputs a second against 1,179).
static size_t pick_size(fuzz_in_t *in) {
  size_t t = hak_opt(HAK_OPT_LARGE_THRESHOLD);
  uint8_t c = in_u8(in);
  bool big = c / 12 % 32 == 0;
  switch (c % 12) {
    case 0: return 0;
    case 1: return in_u8(in);
    case 2: return in_u16(in) % 4097;
    case 3: return t - 64 + in_u8(in) % 128;  // around the threshold
    case 4: return t + in_range(in, 0, 3 * t);
    case 5: return in_range(in, (size_t)128 << 10, (size_t)(big ? 4096 : 512) << 10);
    case 6: return big ? in_range(in, (size_t)4 << 20, (size_t)12 << 20) : in_range(in, (size_t)512 << 10, (size_t)2 << 20);
    case 7: {  // just around a large class bound (past 1 MiB when big)
      uint8_t cls = (uint8_t)(1 + in_u8(in) % (big ? 36 : 20));
      return hak_large_class_bytes(cls) - HAK_LARGE_HDR - 2 + in_u8(in) % 4;
    }
    case 8: return in_range(in, 0, t);
    case 9: return in_range(in, 0, (size_t)(big ? 2048 : 512) << 10);
    case 10: {  // impossible
      static const size_t huge[] = {PTRDIFF_MAX, (size_t)PTRDIFF_MAX + 1, SIZE_MAX, SIZE_MAX - 4095};
      return huge[in_u8(in) % 4];
    }
    default: return in_range(in, 0, (size_t)(big ? 1024 : 256) << 10);
  }
}

static int free_slot(fuzz_in_t *in) {
  unsigned start = in_u8(in) % SLOTS;
  for (unsigned k = 0; k < SLOTS; k++)
    if (!live[(start + k) % SLOTS].p) return (int)((start + k) % SLOTS);
  return -1;
}

static int used_slot(fuzz_in_t *in) {
  unsigned start = in_u8(in) % SLOTS;
  for (unsigned k = 0; k < SLOTS; k++)
    if (live[(start + k) % SLOTS].p) return (int)((start + k) % SLOTS);
  return -1;
}

static uintptr_t pick_site(fuzz_in_t *in) { return 0x400000u + (uintptr_t)(in_u8(in) % 8) * 0x40; }

// --- operations --------------------------------------------------------------------------------

static void do_free(blk_t *b, const char *why) {
  check_pattern(b, b->p, b->req, why);
  errno = 4242;
  TRACE("free(%p) [block %u, %zu bytes]\n", (void *)b->p, b->id, b->req);
  hak_free(b->p);
  FUZZ_CHECK(errno == 4242, "hak_free changed errno to %d", errno);
  last_size = b->req;
  last_site = b->site;
  live_bytes -= b->req;
  b->p = NULL;
}

static void adopt(int slot, void *p, size_t req, size_t align, bool zeroed, const char *what) {
  blk_t *b = &live[slot];
  *b = (blk_t){.p = p, .req = req, .align = align, .id = ++next_id};
  live_bytes += req;
  check_block(b, what);
  if (zeroed) check_zero(b, what);
  fill(b);
}

static void expect_failure(void *p, size_t size, const char *what) {
  FUZZ_CHECK(!p, "%s(%zu) succeeded", what, size);
  FUZZ_CHECK(errno == ENOMEM, "%s(%zu) failed with errno %d, not ENOMEM", what, size, errno);
}

static bool impossible(size_t size) { return size > (size_t)PTRDIFF_MAX - ((size_t)256 << 20); }

static void op_alloc(fuzz_in_t *in, bool zero, bool again) {
  int s = free_slot(in);
  size_t size = again ? last_size : pick_size(in), n = 1;
  uintptr_t site = again ? last_site : pick_site(in);
  if (zero && in_u8(in) % 8 == 0) {  // calloc(n, size): sometimes an overflowing product
    n = (size_t)1 << (in_u8(in) % 64);
    if (!impossible(size) && size) size = size / n + 1;
  }
  size_t total;
  bool overflow = __builtin_mul_overflow(n, size, &total) || total > (size_t)PTRDIFF_MAX;
  if (s < 0 || (!overflow && !impossible(total) && live_bytes + total > LIVE_CAP)) return;
  errno = 0;
  void *p = zero ? hak_calloc_at(n, size, site) : hak_alloc_at(size, site);
  TRACE("%s(%zu x %zu, site %#lx) = %p\n", zero ? "calloc" : "alloc", n, size, (unsigned long)site, p);
  if (overflow || impossible(total)) {
    if (!overflow && total <= (size_t)PTRDIFF_MAX && p) {  // possible in principle, e.g. with a vast address space
      hak_free(p);
      return;
    }
    expect_failure(p, total, zero ? "calloc" : "alloc");
    return;
  }
  if (!p) {  // only injected mmap failures may refuse (large blocks, or a new pool segment)
    FUZZ_CHECK(errno == ENOMEM && hooks.fail_every[HAK_OS_MAP], "%s(%zu) failed, errno %d", zero ? "calloc" : "alloc",
               total, errno);
    return;
  }
  FUZZ_CHECK(is_large_ptr(p) == (total >= hak_opt(HAK_OPT_LARGE_THRESHOLD)), "%zu bytes went to the %s path", total,
             is_large_ptr(p) ? "large" : "small");
  adopt(s, p, total, 0, zero, zero ? "calloc" : "alloc");
  live[s].site = site;
}

static void op_aligned(fuzz_in_t *in) {
  int s = free_slot(in);
  uint8_t c = in_u8(in);
  size_t align = (size_t)1 << (c % 29);  // up to 256 MiB, HAK_LARGE_MAX_ALIGN
  if (c >= 240) align = (size_t)1 << 29;  // beyond it
  if (c >= 250) align += 8;               // not a power of two
  size_t size = pick_size(in);
  if (s < 0 || (!impossible(size) && live_bytes + size + (align > (1 << 22) ? align : 0) > LIVE_CAP)) return;
  errno = 0;
  void *p = hak_aligned_alloc(align, size);
  TRACE("aligned_alloc(%zu, %zu) = %p\n", align, size, p);
  if (align & (align - 1)) {
    FUZZ_CHECK(!p && errno == EINVAL, "aligned_alloc(%zu, %zu): %p, errno %d", align, size, p, errno);
    return;
  }
  if (impossible(size) || align > HAK_LARGE_MAX_ALIGN) {
    expect_failure(p, size, "aligned_alloc");
    return;
  }
  if (!p) {
    FUZZ_CHECK(errno == ENOMEM, "aligned_alloc(%zu, %zu) failed, errno %d", align, size, errno);
    return;
  }
  adopt(s, p, size, align, false, "aligned_alloc");
}

static void op_realloc(fuzz_in_t *in) {
  int s = used_slot(in);
  size_t size = pick_size(in);
  if (s < 0) {  // realloc(NULL, n) is malloc
    s = free_slot(in);
    if (s < 0 || impossible(size) || live_bytes + size > LIVE_CAP) return;
    void *p = hak_realloc(NULL, size);
    TRACE("realloc(NULL, %zu) = %p\n", size, p);
    if (p) adopt(s, p, size, 0, false, "realloc(NULL)");
    return;
  }
  blk_t *b = &live[s];
  if (!impossible(size) && live_bytes - b->req + size > LIVE_CAP) return;
  check_pattern(b, b->p, b->req, "before realloc");
  errno = 0;
  void *p = hak_realloc(b->p, size);
  TRACE("realloc(%p [block %u, %zu bytes], %zu) = %p\n", (void *)b->p, b->id, b->req, size, p);
  if (size == 0) {  // glibc: frees, returns NULL
    FUZZ_CHECK(!p, "realloc(p, 0) returned %p", p);
    live_bytes -= b->req;
    b->p = NULL;
    return;
  }
  if (!p) {
    FUZZ_CHECK(errno == ENOMEM, "realloc(%zu) failed with errno %d", size, errno);
    check_pattern(b, b->p, b->req, "after a failed realloc");  // left intact
    check_block(b, "after a failed realloc");
    return;
  }
  FUZZ_CHECK(!impossible(size), "realloc to %zu succeeded", size);
  check_pattern(b, p, size < b->req ? size : b->req, "after realloc");
  // A block that moved went where a fresh request goes; one that fits may stay.
  if (p != (void *)b->p)
    FUZZ_CHECK(is_large_ptr(p) == (size >= hak_opt(HAK_OPT_LARGE_THRESHOLD)), "realloc to %zu moved to the %s path",
               size, is_large_ptr(p) ? "large" : "small");
  live_bytes -= b->req;
  b->p = NULL;
  adopt(s, p, size, 0, false, "realloc");
}

static void configure(fuzz_in_t *in) {
  static const uint64_t thresholds[] = {32 << 10, 64 << 10, 256 << 10, 512 << 10};
  uint64_t *v = hak_options.v;
  uint8_t c = in_u8(in);
  v[HAK_OPT_LARGE_THRESHOLD] = c < 200 ? thresholds[c % 4] : in_range(in, 32 << 10, 512 << 10);
  c = in_u8(in);
  v[HAK_OPT_BIGCACHE] = c % 4 != 0;
  v[HAK_OPT_BIGCACHE_SLOTS] = 1 + (c >> 2) % 16;
  c = in_u8(in);
  v[HAK_OPT_BIGCACHE_MAX_BYTES] = c < 16 ? 0 : (uint64_t)(1 + c % 8) << (19 + (c >> 4) % 4);  // 0, 0.5 .. 32 MiB
  v[HAK_OPT_BIGCACHE_AGE_MS] = 1 + in_u8(in) * 20u;
  c = in_u8(in);
  v[HAK_OPT_FREE_POLICY] = c % 4 != 0;
  v[HAK_OPT_HOT_MAX] = (uint64_t)(c >> 2) % 8 << 19;  // 0 .. 3.5 MiB
  v[HAK_OPT_COLD_MIN] = (uint64_t)(c >> 5) << 20;     // 0 .. 7 MiB
  c = in_u8(in);
  v[HAK_OPT_SPARE_MAX_BYTES] = (uint64_t)(1 + c % 16) << 21;  // 2 .. 32 MiB
  v[HAK_OPT_SPARE_RESIDENT_BYTES] = (uint64_t)(c >> 4) << 19;
  v[HAK_OPT_SPARE_AGE_MS] = 1 + in_u8(in) * 40u;
  c = in_u8(in);
  v[HAK_OPT_SPARE_FIT_CLASSES] = c % 17;
  v[HAK_OPT_POOL_RELEASE_MS] = (c >> 5) * 50u;  // 0 .. 350
  c = in_u8(in);
  v[HAK_OPT_BATCH] = c % 4 != 0;
  v[HAK_OPT_BATCH_BYTES] = (uint64_t)4096 << (c >> 2) % 14;
  v[HAK_OPT_BATCH_RANGES] = 1 + in_u8(in) % 64;
  v[HAK_OPT_THP] = in_u8(in) % 3;
  v[HAK_OPT_EVO] = 3;  // off: the model routes by the static threshold (BALANCED learns per site)
  hak_apply_options();
}

// With HAK_FUZZ_VERBOSE set, the process's counters at exit: which paths the
// inputs reached (hakmem's counters are never reset by this harness).
static void print_seen(void) {
  static const hak_stat_id_t ids[] = {
      HAK_STAT_large_allocs,  HAK_STAT_bigcache_hits,     HAK_STAT_bigcache_evictions, HAK_STAT_spare_hits,
      HAK_STAT_free_hot,      HAK_STAT_free_warm,         HAK_STAT_free_cold,          HAK_STAT_free_unmapped,
      HAK_STAT_batch_flushes, HAK_STAT_batch_cancelled,   HAK_STAT_realloc_in_place,   HAK_STAT_realloc_remapped,
      HAK_STAT_realloc_copied, HAK_STAT_os_map_failures,  HAK_STAT_thp_advised,        HAK_STAT_thp_refused};
  static const char *const names[] = {"large_allocs", "bigcache_hits", "bigcache_evictions", "spare_hits",
                                      "free_hot", "free_warm", "free_cold", "free_unmapped", "batch_flushes",
                                      "batch_cancelled", "realloc_in_place", "realloc_remapped", "realloc_copied",
                                      "os_map_failures", "thp_advised", "thp_refused"};
  fprintf(stderr, "malloc_api_fuzzer:");
  for (unsigned i = 0; i < sizeof ids / sizeof ids[0]; i++)
    fprintf(stderr, " %s=%llu", names[i], (unsigned long long)hak_stat_read(ids[i]));
  fputc('\n', stderr);
}

// With HAK_FUZZ_OPS set, the operations interpreted (steps of the loop
// below, over all inputs) printed at exit: the rate that must hold when
// inputs get cheaper (README, Rates).
static unsigned long long ops;
static void print_ops(void) { fprintf(stderr, "HAK_FUZZ_OPS %llu\n", ops); }

// libFuzzer's default options for this harness, appended unless the command
// line names the flag itself. -entropic_feature_frequency_threshold: the
// entropic schedule keeps every feature seen fewer than this many times
// on its list of rare features and searches that list linearly for every
// feature of every input (libFuzzer's UpdateFeatureFrequency, 14% of the
// time with the default 255, `perf`); at 16 the list stays near its
// 100-feature floor. This changes which inputs are mutated more often
// (features seen 16 .. 255 times no longer count as rare), not what an
// input checks.
static const char *const default_flags[] = {"-entropic_feature_frequency_threshold=16"};

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  static char *args[256];
  int n = *argc;
  if (n + (int)(sizeof default_flags / sizeof default_flags[0]) >= (int)(sizeof args / sizeof args[0])) return 0;
  for (int i = 0; i < n; i++) args[i] = (*argv)[i];
  for (unsigned f = 0; f < sizeof default_flags / sizeof default_flags[0]; f++) {
    size_t name = strcspn(default_flags[f], "=");
    bool given = false;
    for (int i = 1; i < n; i++) given |= !strncmp((*argv)[i], default_flags[f], name + 1);
    if (!given) args[n++] = (char *)default_flags[f];
  }
  args[n] = NULL;
  *argc = n;
  *argv = args;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static bool first = true;
  if (first && getenv("HAK_FUZZ_VERBOSE")) atexit(print_seen);
  if (first && getenv("HAK_FUZZ_OPS")) atexit(print_ops);
  if (first) trace = getenv("HAK_FUZZ_TRACE") != NULL;
  first = false;
  hak_init();
  fuzz_in_t in = {data, size};
  memset(&hooks, 0, sizeof hooks);
  hooks.now_ms = now_ms;
  hak_os_set_hooks(&hooks);
  clock_ms += 100000;  // every input starts past any age limit of the last one
  last_size = 0;  // "again" within this input only, so that a finding replays alone
  last_site = 0;
  configure(&in);
  check_state("configure");

  for (unsigned steps = 0; in_more(&in) && steps < 512; steps++) {
    uint8_t op = in_u8(&in);
    ops++;
    switch (op % 16) {
      case 0: case 1: case 2: case 3:
        op_alloc(&in, false, false);
        check_state("alloc");
        break;
      case 4: case 5:
        op_alloc(&in, op & 0x80, op & 0x40);  // calloc, or the last freed size again
        check_state(op & 0x40 ? "alloc again" : "calloc");
        break;
      case 6: case 7:
        op_realloc(&in);
        check_state("realloc");
        break;
      case 8:
        op_aligned(&in);
        check_state("aligned_alloc");
        break;
      case 9: case 10: case 11: {
        int s = used_slot(&in);
        if (s >= 0) do_free(&live[s], "before free");
        check_state("free");
        break;
      }
      case 12: {
        int s = used_slot(&in);
        if (s >= 0) check_block(&live[s], "usable_size");
        FUZZ_CHECK(hak_usable_size(NULL) == 0, "usable_size(NULL)");
        hak_free(NULL);
        break;
      }
      case 13:  // the clock moves: BigCache and spares age on the next large call
        clock_ms += (op & 0x80) ? in_u16(&in) : in_u8(&in) % 64;
        break;
      case 14:  // hak_trim releases the pools' pages too, which every later touch faults in
        if (op & 0x80) hak_trim();
        else hak_large_trim();
        FUZZ_CHECK(hak_bigcache_count() == 0 && hak_spare_bytes() == 0 && hak_batch_queued_ranges() == 0,
                   "trim left %zu cached blocks, %zu spare bytes, %u queued ranges", hak_bigcache_count(),
                   hak_spare_bytes(), hak_batch_queued_ranges());
        check_state("trim");
        break;
      default: {  // mmap / mremap failures, every Nth call, or none
        uint8_t c = in_u8(&in);
        hooks.fail_every[HAK_OS_MAP] = c % 4 == 0 ? 1 + c / 4 % 4 : 0;
        hooks.fail_every[HAK_OS_REMAP] = c % 3 == 0 ? 1 + c / 3 % 3 : 0;
        hooks.fail_every[HAK_OS_ADVISE] = c % 5 == 0 ? 1 + c / 5 % 4 : 0;  // refused advice: zeroed by hand
        hak_os_set_hooks(&hooks);
        break;
      }
    }
  }
  // Everything back: nothing cached, queued or mapped for large blocks.
  memset(hooks.fail_every, 0, sizeof hooks.fail_every);
  hak_os_set_hooks(&hooks);
  for (unsigned i = 0; i < SLOTS; i++)
    if (live[i].p) do_free(&live[i], "final free");
  check_state("final free");
  // The large engine's trim, not hak_trim: the pools keep their empty pages
  // and segments for the next input (released, they were mapped and faulted
  // in again by every input; hak_trim itself is an operation above).
  hak_large_trim();
  check_state("final trim");
  FUZZ_CHECK(hak_bigcache_count() == 0 && hak_spare_bytes() == 0 && hak_batch_queued_ranges() == 0,
             "after the final trim: %zu cached, %zu spare bytes, %u queued", hak_bigcache_count(), hak_spare_bytes(),
             hak_batch_queued_ranges());
  FUZZ_CHECK(hak_stat_read(HAK_STAT_os_bytes_mapped) == 0 && hak_stat_read(HAK_STAT_large_bytes_live) == 0,
             "after the final trim: %llu bytes still mapped, %llu live", (unsigned long long)hak_stat_read(HAK_STAT_os_bytes_mapped),
             (unsigned long long)hak_stat_read(HAK_STAT_large_bytes_live));
  hak_os_set_hooks(NULL);
  return 0;
}
