/* fake_os.c — an in-process stand-in for the kernel's side of hakmem/os.h,
 * linked only into the fuzz build's copy of hakmem (fuzz/, layer L1).
 *
 * Why: with the real os.c a fuzz input spent its time in the kernel, not in
 * hakmem: every large block was a fresh mmap (plus two trimming munmaps for
 * its 4 MiB alignment), its first touches faulted in and cleared 2 MiB huge
 * pages, and a refused DONTNEED (the seam's failure injection) zeroed tens of
 * MiB byte by byte. Here one region is reserved once (PROT_NONE, read-write
 * under ASan; no swap reserve, no huge pages) and mappings are aligned
 * ranges handed out from it:
 *   map     carve a free range (first fit, address order; skewed: placed
 *           so that p + skew is aligned) and open it (see CLOSED_PROT): it
 *           reads as zero because its pages were cleared when it was last
 *           unmapped;
 *   unmap   clear the pages (discard_pages: a few resident ones zeroed in
 *           place, else MADV_DONTNEED), then close them: under ASan the
 *           first and last page are poisoned, elsewhere all are PROT_NONE,
 *           so a stale access is reported as after a real munmap; unmapping
 *           what is not mapped aborts (hakmem must never do that);
 *   advise  DONTNEED and FREE clear the pages the same way (FREE may drop
 *           the contents, so here it does), also where the seam refused the
 *           advice (os.h promises zero either way; clearing leaves ASan's
 *           poisoning as it was);
 *           HUGEPAGE / NOHUGEPAGE are accepted and not issued;
 *   grow    takes the free range after a mapping, shrink frees its tail;
 *   move    mremap within the region (pages move, bytes are not copied);
 *   protect recorded in a range table, the pages stay read-write (no VMA
 *           splits); the harnesses check that no block lies on a recorded
 *           range (hak_fake_os_protected), and unmapping drops the record.
 * The seam (hak_os_hooks_t) works as in os.c: every call is observed, the
 * Nth call of a kind fails, suppress_advice records advice without acting on
 * it, the clock hook is os.c's own.
 *
 * Everything else, and anything outside the region, is the real os.c: the
 * fuzz build compiles os.c with the functions below renamed hak_real_os_*
 * (FAKE_OS_RENAMES in fuzz.bzl), and a request the region cannot hold (it is
 * full, or its range list is) goes to the real function. A function os.h
 * gains later is therefore the real one until it is added here (rename it in
 * FAKE_OS_RENAMES, declare hak_real_<name> below, implement it). Thread-safe
 * (one lock; TSan sees it as the hand-over of ranges between threads).
 * hak_fake_os_bypass() (fake_os.h) sends everything to os.c.
 */
#include "fuzz/fake_os.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "hakmem/libc.h"
#include "hakmem/lock.h"
#include "hakmem/os.h"
#include "hakmem/stats.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FAKE_OS_ASAN 1
#endif
#endif
#if !defined(FAKE_OS_ASAN) && defined(__SANITIZE_ADDRESS__)
#define FAKE_OS_ASAN 1
#endif
#ifdef FAKE_OS_ASAN
#include <sanitizer/asan_interface.h>
#endif

// The real implementations (os.c compiled with FAKE_OS_RENAMES), typed by os.h.
extern __typeof__(hak_os_set_hooks) hak_real_os_set_hooks;
extern __typeof__(hak_os_map) hak_real_os_map;
extern __typeof__(hak_os_map_skewed) hak_real_os_map_skewed;
extern __typeof__(hak_os_unmap) hak_real_os_unmap;
extern __typeof__(hak_os_advise) hak_real_os_advise;
extern __typeof__(hak_os_grow_in_place) hak_real_os_grow_in_place;
extern __typeof__(hak_os_move) hak_real_os_move;
extern __typeof__(hak_os_protect) hak_real_os_protect;

#define REGION_BYTES ((uintptr_t)64 << 30)
#define REGION_ALIGN ((uintptr_t)256 << 20)  // HAK_LARGE_MAX_ALIGN: any alignment asked fits
#define MAX_FREE 4096u                       // free ranges the list can hold

typedef struct range {
  uintptr_t lo, hi;
} range_t;

static hak_lock_t lock = HAK_LOCK_INIT;
static uintptr_t region_lo, region_hi;  // 0: not reserved (yet, or it failed)
static bool region_tried;
static range_t free_list[MAX_FREE];  // disjoint, not adjacent, in address order
static unsigned nfree;

static const hak_os_hooks_t *hooks;

// How a stale access to unmapped memory is caught. Under ASan the region
// stays read-write and the pages at the ends of every unmapped range are
// poisoned (a sentinel): hakmem's stale access to a block it unmapped reads
// or writes its header page or its last page first, and ASan reports it.
// Opening and closing every range with mprotect was a tenth of
// malloc_api_fuzzer's time (the kernel walking the page tables of the
// pages kept resident, and splitting and merging the region's VMAs), and
// poisoning whole ranges would set an eighth of their bytes on every unmap.
// Without ASan (threads_fuzzer's TSan build) unmapped ranges are
// PROT_NONE, as before: every stale access faults.
#ifdef FAKE_OS_ASAN
#define CLOSED_PROT (PROT_READ | PROT_WRITE)
#else
#define CLOSED_PROT PROT_NONE
#endif

// What hak_os_protect made inaccessible in the region (see there): disjoint,
// not adjacent, in address order; a range that does not fit is not recorded.
static range_t prot_list[MAX_FREE];
static unsigned nprot;

#ifdef FAKE_OS_ASAN
// The poisoned sentinel pages of unmapped ranges, in address order (under
// lock); a page that does not fit is not poisoned. Free ranges merge, so
// sentinels can lie anywhere in a free range: a mapping unpoisons those in
// its range.
#define MAX_SENTINELS 8192u
static uintptr_t sentinels[MAX_SENTINELS];
static unsigned nsent;
#endif

static _Noreturn void fake_abort(const char *what, uintptr_t addr, size_t len) {
  fprintf(stderr, "fake_os: %s [%#lx, +%zu)\n", what, (unsigned long)addr, len);
  abort();
}

void hak_os_set_hooks(const hak_os_hooks_t *h) {
  hooks = h;
  hak_real_os_set_hooks(h);  // os.c's counts and observer serve the fake too; and the clock
}

// The seam's counting and observing are os.c's (hak_os_injected_failure,
// hak_os_observe), with the hooks hak_real_os_set_hooks gave it.

// --- the region and its free list (under lock) ------------------------------------

static bool reserve_locked(void) {
  if (region_lo) return true;
  if (region_tried) return false;
  region_tried = true;
  char *raw = mmap(NULL, REGION_BYTES + REGION_ALIGN, CLOSED_PROT, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (raw == MAP_FAILED) return false;  // everything goes to the real os.c
  uintptr_t lo = ((uintptr_t)raw + REGION_ALIGN - 1) & ~(REGION_ALIGN - 1);
  madvise((void *)lo, REGION_BYTES, MADV_NOHUGEPAGE);  // touches clear 4 KiB, not 2 MiB
  region_lo = lo;
  region_hi = lo + REGION_BYTES;
  free_list[0] = (range_t){region_lo, region_hi};
  nfree = 1;
  return true;
}

void hak_fake_os_bypass(void) {
  hak_lock(&lock);
  if (!region_lo) region_tried = true;  // never reserved: everything goes to os.c
  hak_unlock(&lock);
}

static inline bool in_region(uintptr_t a, size_t len) {
  return region_lo && a >= region_lo && a < region_hi && len <= region_hi - a;
}

static bool list_insert(unsigned at, range_t r) {
  if (nfree == MAX_FREE) return false;
  for (unsigned i = nfree; i > at; i--) free_list[i] = free_list[i - 1];
  free_list[at] = r;
  nfree++;
  return true;
}

static void list_remove(unsigned at) {
  for (unsigned i = at; i + 1 < nfree; i++) free_list[i] = free_list[i + 1];
  nfree--;
}

// Takes [a, a + len) out of free range i (which holds it); false when the
// list has no room for the split.
static bool carve(unsigned i, uintptr_t a, size_t len) {
  range_t r = free_list[i];
  if (a > r.lo && a + len < r.hi) {
    if (!list_insert(i + 1, (range_t){a + len, r.hi})) return false;
    free_list[i].hi = a;
  } else if (a > r.lo) {
    free_list[i].hi = a;
  } else if (a + len < r.hi) {
    free_list[i].lo = a + len;
  } else {
    list_remove(i);
  }
  return true;
}

// The first range i of a sorted list with list[i].hi > a (n if none).
static unsigned first_past(const range_t *list, unsigned n, uintptr_t a) {
  unsigned lo = 0, hi = n;
  while (lo < hi) {
    unsigned mid = (lo + hi) / 2;
    if (list[mid].hi > a) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

static unsigned find(uintptr_t a) { return first_past(free_list, nfree, a); }

// [a, a + len) goes back on the list, merged with its neighbours; it must
// be mapped (overlap no free range). False when the list has no room.
static bool give_back(uintptr_t a, size_t len) {
  uintptr_t e = a + len;
  unsigned i = find(a);
  if (i < nfree && free_list[i].lo < e) fake_abort("unmap of memory that is not mapped", a, len);
  bool prev = i > 0 && free_list[i - 1].hi == a, next = i < nfree && free_list[i].lo == e;
  if (prev && next) {
    free_list[i - 1].hi = free_list[i].hi;
    list_remove(i);
  } else if (prev) {
    free_list[i - 1].hi = e;
  } else if (next) {
    free_list[i].lo = a;
  } else {
    return list_insert(i, (range_t){a, e});
  }
  return true;
}

// [a, e) made inaccessible (on) or accessible again in prot_list (under
// lock): the ranges it overlaps are cut back, then it is added, merged with
// its neighbours.
static void prot_set_locked(uintptr_t a, uintptr_t e, bool on) {
  unsigned i = first_past(prot_list, nprot, a);
  range_t left = {0, 0}, right = {0, 0};
  unsigned j = i;
  while (j < nprot && prot_list[j].lo < e) {  // overlapping: what sticks out on either side stays
    if (prot_list[j].lo < a) left = (range_t){prot_list[j].lo, a};
    if (prot_list[j].hi > e) right = (range_t){e, prot_list[j].hi};
    j++;
  }
  range_t put[3];
  unsigned n = 0;
  if (on) {  // merged with what it overlaps and with neighbours touching it
    uintptr_t lo = left.hi ? left.lo : a, hi = right.hi ? right.hi : e;
    if (i > 0 && prot_list[i - 1].hi == lo) lo = prot_list[--i].lo;
    if (j < nprot && prot_list[j].lo == hi) hi = prot_list[j++].hi;
    put[n++] = (range_t){lo, hi};
  } else {
    if (left.hi) put[n++] = left;
    if (right.hi) put[n++] = right;
  }
  unsigned removed = j - i;
  if (nprot - removed + n > MAX_FREE) return;  // full: left as it was
  memmove(&prot_list[i + n], &prot_list[j], (nprot - j) * sizeof prot_list[0]);
  memcpy(&prot_list[i], put, n * sizeof put[0]);
  nprot = nprot - removed + n;
}

bool hak_fake_os_protected(const void *addr, size_t len) {
  uintptr_t a = (uintptr_t)addr, e = a + len;
  hak_lock(&lock);
  unsigned lo = first_past(prot_list, nprot, a);
  bool hit = len && lo < nprot && prot_list[lo].lo < e;
  hak_unlock(&lock);
  return hit;
}

// Zero bytes by hand without ASan's checks, leaving its poisoning as it was
// (the range may be a freed block's); volatile keeps this from memset. Not
// seen by TSan either: the range changes hands under the fake's lock.
__attribute__((no_sanitize("address", "thread"))) static void zero_bytes(uintptr_t a, size_t len) {
  volatile unsigned char *b = (volatile unsigned char *)a;
  for (size_t i = 0; i < len; i++) b[i] = 0;
}

// The same for whole pages. On x86-64 one `rep stosb` (fast strings: the
// microcode's wide stores, the instruction libc's memset uses at this size);
// the volatile word loop took twice as long (perf: zero_page 5.8% of
// malloc_api_fuzzer's time). No sanitizer sees inline assembly.
__attribute__((no_sanitize("address", "thread"))) static void zero_page(uintptr_t a, size_t page) {
#if defined(__x86_64__)
  void *d = (void *)a;
  __asm__ volatile("rep stosb" : "+D"(d), "+c"(page) : "a"(0) : "memory");
#else
  volatile uint64_t *w = (volatile uint64_t *)a;
  for (size_t i = 0; i < page / sizeof *w; i++) w[i] = 0;
#endif
}

// Whole pages [a, a + len) must read as zero. Pages never touched are not
// resident and read zero already. Of each 4 MiB, if only a few pages are
// resident (mincore) they are zeroed in place and stay resident: dropping
// them (MADV_DONTNEED) made the next touch a page fault that clears the page
// again, several times the cost of a 4 KiB store loop, and a fuzz input
// touches the same sampled pages of the region over and over. Chunks with
// many resident pages (a copy, a memset of a whole block) are dropped: they
// are rarely touched whole again, and zeroing them on every unmap and
// advice (and mprotect walking their page tables) costs more.
// Tried and slower (malloc_api_fuzzer -seed=1 -runs=20000, interleaved):
// every page kept resident and only the written ones zeroed, known from
// userfaultfd's asynchronous write protection (UFFD_FEATURE_WP_ASYNC, the
// written pages read with the PAGEMAP_SCAN ioctl), with ASan poisoning
// instead of mprotect for unmapped ranges: 941 - 1,058 inputs a second
// against 1,140 - 1,186. A write-protect fault costs about 0.75 us here
// against 1.7 us for a fresh page, but protecting the zeroed pages again
// (UFFDIO_WRITEPROTECT) walks their page tables (11% of the time), the
// poisoning sets an eighth of every mapped byte (memset 16%), and the
// resident set doubles (316 MB). (An mremap of a registered range also
// drops the registration of the neighbour its moved VMA merges with.)
// Zeroing every resident page in place, none dropped: 570 a second (952
// without mprotect), as the pages zeroed stay resident and are zeroed again.
// A run of DENSE_RUN resident pages or more (what a copy or a memset of a
// block touched) is dropped, the others are counted against
// ZERO_IN_PLACE_MAX: before, one such run made the whole chunk go, and with
// it the sampled pages around it, which the next input faulted in again.
#define ZERO_IN_PLACE_MAX 32u  // resident pages of a 4 MiB chunk zeroed in place (outside dense runs)
#define DENSE_RUN 8u
static void discard_pages(uintptr_t a, size_t len) {
  size_t page = hak_os_page_size();
  unsigned char vec[1024];
  int saved = errno;
  for (uintptr_t at = a, end = a + len; at < end;) {
    size_t n = (end - at) / page < sizeof vec ? (end - at) / page : sizeof vec;
    if (mincore((void *)at, n * page, vec)) fake_abort("cannot read residency", at, n * page);
    // The dense runs go with one DONTNEED over their span (pages between
    // them too); the rest are counted.
    unsigned sparse = 0, runs = 0;
    size_t first = n, last = 0;  // the span of the dense runs
    for (size_t i = 0; i < n;) {
      if (!(vec[i] & 1)) {
        i++;
        continue;
      }
      size_t j = i;
      while (j < n && (vec[j] & 1)) j++;
      if (j - i >= DENSE_RUN) {
        runs++;
        if (i < first) first = i;
        last = j;
        for (size_t k = i; k < j; k++) vec[k] = 0;
      } else {
        sparse += (unsigned)(j - i);
      }
      i = j;
    }
    if (sparse > ZERO_IN_PLACE_MAX) {  // too many to zero: all go
      if (madvise((void *)at, n * page, MADV_DONTNEED)) fake_abort("cannot discard", at, n * page);
    } else {
      if (runs && madvise((void *)(at + first * page), (last - first) * page, MADV_DONTNEED))
        fake_abort("cannot discard", at + first * page, (last - first) * page);
      for (size_t i = 0; i < n; i++)  // (those inside the span went with it)
        if ((vec[i] & 1) && (i < first || i >= last)) zero_page(at + i * page, page);
    }
    at += n * page;
  }
  errno = saved;
}

#ifdef FAKE_OS_ASAN
// Under lock. The sentinel at page p is poisoned and listed (unless the list
// is full).
static void sentinel_add_locked(uintptr_t p, size_t page) {
  unsigned lo = 0, hi = nsent;
  while (lo < hi) {
    unsigned mid = (lo + hi) / 2;
    if (sentinels[mid] < p) lo = mid + 1;
    else hi = mid;
  }
  if (lo < nsent && sentinels[lo] == p) return;
  if (nsent == MAX_SENTINELS) return;
  memmove(&sentinels[lo + 1], &sentinels[lo], (nsent - lo) * sizeof sentinels[0]);
  sentinels[lo] = p;
  nsent++;
  __asan_poison_memory_region((void *)p, page);
}
#endif

// [a, a + len) left the caller: a stale access to it is caught (see
// CLOSED_PROT).
static void close_range(uintptr_t a, size_t len) {
#ifdef FAKE_OS_ASAN
  size_t page = hak_os_page_size();
  hak_lock(&lock);
  sentinel_add_locked(a, page);
  uintptr_t last = (a + len - 1) & ~(uintptr_t)(page - 1);
  if (last != a) sentinel_add_locked(last, page);
  hak_unlock(&lock);
#else
  if (mprotect((void *)a, len, PROT_NONE)) fake_abort("cannot close", a, len);
#endif
}

// Pages that leave the caller: their contents go (the next owner reads zero)
// and a stale access is caught until they are mapped again. Mapped pages are
// always read-write here (hak_os_protect only records), and their protection
// goes with them.
static void discard(uintptr_t a, size_t len) {
  discard_pages(a, len);
  close_range(a, len);
  hak_lock(&lock);
  prot_set_locked(a, a + len, false);
  hak_unlock(&lock);
}

// ASan's shadow is otherwise left as it is, as by a real munmap and mmap:
// hakmem unpoisons what it unmaps.
static void *open_range(uintptr_t a, size_t len) {
#ifdef FAKE_OS_ASAN
  size_t page = hak_os_page_size();
  hak_lock(&lock);
  unsigned lo = 0, hi = nsent;
  while (lo < hi) {
    unsigned mid = (lo + hi) / 2;
    if (sentinels[mid] < a) lo = mid + 1;
    else hi = mid;
  }
  unsigned end = lo;
  while (end < nsent && sentinels[end] < a + len) __asan_unpoison_memory_region((void *)sentinels[end++], page);
  memmove(&sentinels[lo], &sentinels[end], (nsent - end) * sizeof sentinels[0]);
  nsent -= end - lo;
  hak_unlock(&lock);
#else
  if (mprotect((void *)a, len, PROT_READ | PROT_WRITE)) fake_abort("cannot open", a, len);
#endif
  return (void *)a;
}

// --- os.h ------------------------------------------------------------------------------

// The first free range that holds len bytes at an a with (a + skew) % align
// == 0 (skew < align: a block whose header sits a slot before a larger
// alignment); the real function's when the region cannot hold it.
static void *map_skewed(size_t len, size_t align, size_t skew) {
  size_t page = hak_os_page_size();
  if (align < page) align = page;
  if (hak_os_injected_failure(HAK_OS_MAP)) {
    hak_os_observe(HAK_OS_MAP, NULL, len, HAK_ADVISE_COUNT, false);
    HAK_STAT_INC(os_map_failures);
    errno = ENOMEM;
    return NULL;
  }
  uintptr_t got = 0;
  hak_lock(&lock);
  if (len && len % page == 0 && len <= REGION_BYTES && hak_is_pow2(align) && align <= REGION_ALIGN && skew < align &&
      skew % page == 0 && reserve_locked()) {
    for (unsigned i = 0; i < nfree; i++) {
      uintptr_t lo = free_list[i].lo;
      uintptr_t a = ((lo + skew + align - 1) & ~(uintptr_t)(align - 1)) - skew;
      if (a >= free_list[i].hi || free_list[i].hi - a < len) continue;
      if (carve(i, a, len)) got = a;
      break;
    }
  }
  hak_unlock(&lock);
  if (!got) return skew ? hak_real_os_map_skewed(len, align, skew) : hak_real_os_map(len, align);  // observe and count
  void *p = open_range(got, len);
  hak_os_observe(HAK_OS_MAP, p, len, HAK_ADVISE_COUNT, true);
  HAK_STAT_INC(os_maps);
  return p;
}

void *hak_os_map(size_t len, size_t align) { return map_skewed(len, align, 0); }

// Faked too: as os.c's, a huge-alignment large block went to the kernel and
// its THP advice made every touch clear 2 MiB (perf: do_huge_pmd_anonymous_page,
// 6% of malloc_api_fuzzer's time).
void *hak_os_map_skewed(size_t len, size_t align, size_t skew) { return map_skewed(len, align, skew); }

bool hak_os_unmap(void *addr, size_t len) {
  uintptr_t a = (uintptr_t)addr;
  if (!in_region(a, len)) return hak_real_os_unmap(addr, len);
  if (len) {
    if (a % hak_os_page_size() || len % hak_os_page_size()) fake_abort("unmap of a range not in whole pages", a, len);
    discard(a, len);
    hak_lock(&lock);
    (void)give_back(a, len);  // no room in the list: the range stays out of use
    hak_unlock(&lock);
    HAK_STAT_INC(os_unmaps);
  }
  hak_os_observe(HAK_OS_UNMAP, addr, len, HAK_ADVISE_COUNT, true);
  return true;
}

// What a refused DONTNEED must still do: [a, a + len) reads as zero. Whole
// pages are discarded, the partial ones at either end zeroed.
static void zero_range(uintptr_t a, size_t len) {
  size_t page = hak_os_page_size();
  uintptr_t lo = (a + page - 1) & ~(uintptr_t)(page - 1), hi = (a + len) & ~(uintptr_t)(page - 1);
  if (lo >= hi) {
    zero_bytes(a, len);
    return;
  }
  discard_pages(lo, hi - lo);
  zero_bytes(a, lo - a);
  zero_bytes(hi, a + len - hi);
}

bool hak_os_advise(void *addr, size_t len, hak_advice_t advice) {
  uintptr_t a = (uintptr_t)addr;
  if (!len) return true;
  if (!in_region(a, len)) return hak_real_os_advise(addr, len, advice);
  size_t page = hak_os_page_size();
  bool ok;
  if (hak_os_injected_failure(HAK_OS_ADVISE)) {
    ok = false;
  } else if (hooks && hooks->suppress_advice) {
    ok = true;
  } else {  // as the kernel: an unaligned start is EINVAL; the length is rounded up
    HAK_STAT_INC(os_madvise);
    ok = a % page == 0;
    size_t whole;
    if (ok && (advice == HAK_ADVISE_DONTNEED || advice == HAK_ADVISE_FREE) && hak_align_up(len, page, &whole))
      discard_pages(a, whole);  // FREE may drop the contents, so here it does
  }
  if (!ok && advice == HAK_ADVISE_DONTNEED) zero_range(a, len);  // os.h's promise
  hak_os_observe(HAK_OS_ADVISE, addr, len, advice, ok);
  return ok;
}

// Recorded, not done: a real mprotect of a pool segment's guards split its
// mapping into more VMAs, and every later mprotect, fault and mincore of the
// region walked them (perf: mprotect_fixup, 9% of malloc_api_fuzzer's time
// with the fake's own opening and closing). The harnesses instead check that
// no block they are handed, and no byte they touch of one, lies on a
// protected range (hak_fake_os_protected). The seam counts, fails and
// observes as os.c's.
bool hak_os_protect(void *addr, size_t len, bool access) {
  uintptr_t a = (uintptr_t)addr;
  if (!in_region(a, len)) return hak_real_os_protect(addr, len, access);
  bool ok = !hak_os_injected_failure(HAK_OS_PROTECT);
  if (ok && len) {
    size_t page = hak_os_page_size(), whole;
    if (a % page || !hak_align_up(len, page, &whole) || whole > region_hi - a) {
      ok = false;  // as mprotect: EINVAL, ENOMEM
    } else {
      hak_lock(&lock);
      prot_set_locked(a, a + whole, !access);
      hak_unlock(&lock);
    }
  }
  hak_os_observe(HAK_OS_PROTECT, addr, len, HAK_ADVISE_COUNT, ok);
  return ok;
}

bool hak_os_grow_in_place(void *addr, size_t old_len, size_t new_len) {
  uintptr_t a = (uintptr_t)addr;
  if (!in_region(a, old_len)) return hak_real_os_grow_in_place(addr, old_len, new_len);
  size_t page = hak_os_page_size(), old_pages, new_pages;  // mremap rounds both up
  bool ok = false;
  if (!hak_os_injected_failure(HAK_OS_REMAP) && hak_align_up(old_len, page, &old_pages) &&
      hak_align_up(new_len, page, &new_pages) && new_pages <= REGION_BYTES) {
    if (new_pages <= old_pages) {  // the tail is unmapped
      if (new_pages < old_pages) {
        discard(a + new_pages, old_pages - new_pages);
        hak_lock(&lock);
        (void)give_back(a + new_pages, old_pages - new_pages);
        hak_unlock(&lock);
      }
      ok = true;
    } else {  // only the free range right after the mapping will do
      uintptr_t e = a + old_pages;
      size_t more = new_pages - old_pages;
      hak_lock(&lock);
      unsigned i = find(e);
      ok = i < nfree && free_list[i].lo == e && free_list[i].hi - e >= more && carve(i, e, more);
      hak_unlock(&lock);
      if (ok) open_range(e, more);
    }
  }
  hak_os_observe(HAK_OS_REMAP, addr, new_len, HAK_ADVISE_COUNT, ok);
  return ok;
}

bool hak_os_move(void *addr, size_t old_len, void *dest, size_t new_len) {
  uintptr_t a = (uintptr_t)addr;
  if (!in_region(a, old_len) || !in_region((uintptr_t)dest, new_len))
    return hak_real_os_move(addr, old_len, dest, new_len);
  bool ok = false;
  if (!hak_os_injected_failure(HAK_OS_REMAP)) {
    int saved = errno;
    ok = mremap(addr, old_len, new_len, MREMAP_MAYMOVE | MREMAP_FIXED, dest) == dest;
    errno = saved;
    if (ok) {  // the old range is a hole in the region now: reserve it again, then free it
      if (mmap(addr, old_len, CLOSED_PROT, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0) != addr)
        fake_abort("cannot reserve again after a move", a, old_len);
      madvise(addr, old_len, MADV_NOHUGEPAGE);
#ifdef FAKE_OS_ASAN
      close_range(a, old_len);
#endif
      hak_lock(&lock);
      prot_set_locked(a, a + old_len, false);
      (void)give_back(a, old_len);
      hak_unlock(&lock);
    }
  }
  hak_os_observe(HAK_OS_REMAP, dest, new_len, HAK_ADVISE_COUNT, ok);
  if (!ok) {  // as os.c: a failed move gives its destination back itself (the caller does not);
              // reserved again over whatever the kernel left there (a hole, or the range)
    if (mmap(dest, new_len, CLOSED_PROT, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0) != dest)
      fake_abort("cannot reserve again after a failed move", (uintptr_t)dest, new_len);
    madvise(dest, new_len, MADV_NOHUGEPAGE);
#ifdef FAKE_OS_ASAN
    close_range((uintptr_t)dest, new_len);
#endif
    hak_lock(&lock);
    (void)give_back((uintptr_t)dest, new_len);
    hak_unlock(&lock);
  }
  return ok;
}
