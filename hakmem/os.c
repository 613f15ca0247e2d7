/* os.c — system calls for memory, the failure-injection seam and the clock
 * (layer L1).
 *
 * Aligned mappings: large blocks and segments must start on a 4 MiB boundary
 * (addrmap.c finds owners by address). We first ask for an aligned address
 * from a moving hint with MAP_FIXED_NOREPLACE (one system call, and it never
 * replaces anything); when that is refused we map len + align and trim the
 * ends. Hints are off under sanitizers, which keep their own address layout.
 *
 * suppress_advice exists for harnesses that check the batching logic alone:
 * with it DONTNEED'd memory is not really zeroed, so it must never be used by
 * a harness that also checks calloc.
 */
#include "hakmem/os.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "hakmem/libc.h"
#include "hakmem/stats.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef MADV_FREE
#define MADV_FREE 8
#endif

static const hak_os_hooks_t *hooks;
static _Atomic uint32_t call_counts[HAK_OS_CALL_COUNT];

void hak_os_set_hooks(const hak_os_hooks_t *h) {
  hooks = h;
  for (unsigned i = 0; i < HAK_OS_CALL_COUNT; i++) atomic_store(&call_counts[i], 0);
}

// True when the seam says this call must fail.
static bool injected_failure(hak_os_call_t call) {
  if (!hooks || !hooks->fail_every[call]) return false;
  uint32_t n = atomic_fetch_add_explicit(&call_counts[call], 1, memory_order_relaxed) + 1;
  return n % hooks->fail_every[call] == 0;
}

static void observe(hak_os_call_t call, void *addr, size_t len, hak_advice_t advice, bool ok) {
  if (hooks && hooks->observe) hooks->observe(hooks->ctx, call, addr, len, advice, ok);
}

size_t hak_os_page_size(void) {
  static _Atomic size_t page;
  size_t p = atomic_load_explicit(&page, memory_order_relaxed);
  if (HAK_UNLIKELY(!p)) {
    long r = sysconf(_SC_PAGESIZE);
    p = r > 0 ? (size_t)r : 4096;
    atomic_store_explicit(&page, p, memory_order_relaxed);
  }
  return p;
}

// --- mapping ----------------------------------------------------------------------

static void *raw_map(void *hint, size_t len, int extra_flags) {
  if (injected_failure(HAK_OS_MAP)) {
    errno = ENOMEM;
    return NULL;
  }
  void *p = mmap(hint, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | extra_flags, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

static bool raw_unmap(void *addr, size_t len) {
  if (!len) return true;
  bool ok = munmap(addr, len) == 0;
  HAK_STAT_INC(os_unmaps);
  return ok;
}

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define HAK_OS_NO_HINTS 1
#endif
#endif
#ifndef HAK_OS_NO_HINTS
#define HAK_OS_NO_HINTS 0
#endif

// Aligned hints walk upward through [HINT_LO, HINT_HI): far from the heap,
// the stack and the kernel's top-down mmap area on x86-64 and AArch64 (47/48-bit).
#define HINT_LO ((uintptr_t)32 << 40)
#define HINT_HI ((uintptr_t)96 << 40)
static _Atomic uintptr_t hint_next;
static _Atomic uint32_t hint_refusals;  // consecutive refusals; past 64 hints stop

static void *map_with_hint(size_t len, size_t align) {
  if (HAK_OS_NO_HINTS || sizeof(void *) != 8 || atomic_load_explicit(&hint_refusals, memory_order_relaxed) > 64)
    return NULL;
  size_t step;
  if (!hak_align_up(len, align, &step)) return NULL;
  uintptr_t start = atomic_load_explicit(&hint_next, memory_order_relaxed);
  if (!start) {
    // Spread processes a little (ASLR-like) using the stack's address.
    uintptr_t noise = ((uintptr_t)&start >> 12) & 0xfff;
    start = HINT_LO + (noise << 30);
    atomic_store_explicit(&hint_next, start, memory_order_relaxed);
  }
  for (int attempt = 0; attempt < 3; attempt++) {
    uintptr_t h = atomic_fetch_add_explicit(&hint_next, step, memory_order_relaxed);
    h = (h + align - 1) & ~(uintptr_t)(align - 1);
    if (h < HINT_LO || h + len > HINT_HI) {  // wrap around to the start
      atomic_store_explicit(&hint_next, HINT_LO, memory_order_relaxed);
      continue;
    }
    void *p = raw_map((void *)h, len, MAP_FIXED_NOREPLACE);
    if (p == (void *)h) {
      atomic_store_explicit(&hint_refusals, 0, memory_order_relaxed);
      return p;
    }
    if (p) raw_unmap(p, len);  // an old kernel took it as a plain hint
    if (!p && errno == ENOMEM) return NULL;
    atomic_fetch_add_explicit(&hint_refusals, 1, memory_order_relaxed);
  }
  return NULL;
}

void *hak_os_map(size_t len, size_t align) {
  size_t page = hak_os_page_size();
  if (align < page) align = page;
  void *p = NULL;
  if (align <= page) {
    p = raw_map(NULL, len, 0);
  } else {
    p = map_with_hint(len, align);
    if (!p && len <= SIZE_MAX - align) {
      size_t over = len + align;  // room to trim to an aligned start
      char *raw = raw_map(NULL, over, 0);
      if (raw) {
        char *aligned = (char *)(((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1));
        raw_unmap(raw, (size_t)(aligned - raw));
        raw_unmap(aligned + len, (size_t)((raw + over) - (aligned + len)));
        p = aligned;
      }
    }
  }
  observe(HAK_OS_MAP, p, len, HAK_ADVISE_COUNT, p != NULL);
  if (!p) {
    HAK_STAT_INC(os_map_failures);
    errno = ENOMEM;
    return NULL;
  }
  HAK_STAT_INC(os_maps);
  return p;
}

bool hak_os_unmap(void *addr, size_t len) {
  bool ok = raw_unmap(addr, len);
  observe(HAK_OS_UNMAP, addr, len, HAK_ADVISE_COUNT, ok);
  return ok;
}

#if HAK_ASAN
// The range may be poisoned (large.c poisons freed blocks, and DONTNEED is what
// a COLD one gets): zero it without ASan's checks and leave its poisoning as it
// was. Volatile stores keep the compiler from turning the loop into memset.
__attribute__((no_sanitize("address"))) static void zero_by_hand(void *addr, size_t len) {
  volatile unsigned char *b = addr;
  for (size_t i = 0; i < len; i++) b[i] = 0;
}
#else
static void zero_by_hand(void *addr, size_t len) { memset(addr, 0, len); }
#endif

bool hak_os_advise(void *addr, size_t len, hak_advice_t advice) {
  static const int native[HAK_ADVISE_COUNT] = {MADV_FREE, MADV_DONTNEED, MADV_HUGEPAGE, MADV_NOHUGEPAGE};
  if (!len) return true;
  bool ok;
  int saved = errno;
  if (injected_failure(HAK_OS_ADVISE)) {
    ok = false;
  } else if (hooks && hooks->suppress_advice) {
    ok = true;
  } else {
    HAK_STAT_INC(os_madvise);
    ok = madvise(addr, len, native[advice]) == 0;
    if (!ok && advice == HAK_ADVISE_FREE && errno == EINVAL)  // kernels before 4.5
      ok = madvise(addr, len, MADV_DONTNEED) == 0;
  }
  // DONTNEED promises zeroed memory to the caller (calloc relies on it): if
  // the kernel (or the seam) refused, keep the promise by hand.
  if (!ok && advice == HAK_ADVISE_DONTNEED) zero_by_hand(addr, len);
  errno = saved;
  observe(HAK_OS_ADVISE, addr, len, advice, ok);
  return ok;
}

// ThreadSanitizer does not intercept mremap: pages grown into would keep the
// shadow of whoever mapped that address before, and the new owner's accesses
// would be reported as races with that thread. Under TSan the range is mapped
// first (TSan sees the mmap and resets its shadow) and unmapped again. False
// when someone holds the range: growing there would fail anyway. (A move goes
// to a range the caller just mapped, which TSan has seen.)
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define HAK_OS_TSAN 1
#endif
#endif
#ifdef HAK_OS_TSAN
static bool tsan_scrub(char *addr, size_t len) {
  void *p = mmap(addr, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
  if (p == MAP_FAILED) return false;
  munmap(p, len);
  return p == addr;  // an old kernel may take the address as a hint
}
#else
static inline bool tsan_scrub(char *addr, size_t len) { return (void)addr, (void)len, true; }
#endif

bool hak_os_grow_in_place(void *addr, size_t old_len, size_t new_len) {
  bool ok = false;
  if (!injected_failure(HAK_OS_REMAP)) {
    int saved = errno;
    ok = (new_len <= old_len || tsan_scrub((char *)addr + old_len, new_len - old_len)) &&
         mremap(addr, old_len, new_len, 0) != MAP_FAILED;
    errno = saved;
  }
  observe(HAK_OS_REMAP, addr, new_len, HAK_ADVISE_COUNT, ok);
  return ok;
}

bool hak_os_move(void *addr, size_t old_len, void *dest, size_t new_len) {
  bool ok = false;
  if (!injected_failure(HAK_OS_REMAP)) {
    int saved = errno;
    ok = mremap(addr, old_len, new_len, MREMAP_MAYMOVE | MREMAP_FIXED, dest) == dest;
    errno = saved;
  }
  observe(HAK_OS_REMAP, dest, new_len, HAK_ADVISE_COUNT, ok);
  return ok;
}

// --- clock --------------------------------------------------------------------------

uint64_t hak_os_now_ms(void) {
  if (hooks && hooks->now_ms) return hooks->now_ms(hooks->ctx);
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
