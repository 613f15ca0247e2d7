/* os.c — system calls for memory, the failure-injection seam and the clock
 * (layer L1).
 *
 * Aligned mappings: large blocks and segments must start on a 4 MiB boundary
 * (addrmap.c finds owners by address). We first ask for an aligned address
 * from a moving hint with MAP_FIXED_NOREPLACE (one system call, and it never
 * replaces anything); when that is refused we reserve len + align, commit the
 * aligned part over it and give the ends back. Hints are off under
 * sanitizers, which keep their own address layout. The hints start at a
 * random place (getrandom, else AT_RANDOM), not derived from any address a
 * program can leak.
 *
 * Commit accounting: memory hakmem hands out is mapped without MAP_NORESERVE,
 * so the kernel's overcommit policy sees it and refuses what it would refuse
 * glibc (NULL + ENOMEM, not the OOM killer on first touch). Only reservations
 * (PROT_NONE address space on its way to being trimmed) are NORESERVE.
 *
 * suppress_advice exists for harnesses that check the batching logic alone:
 * with it DONTNEED'd memory is not really zeroed, so it must never be used by
 * a harness that also checks calloc.
 */
#include "hakmem/os.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
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

bool hak_os_injected_failure(hak_os_call_t call) {
  if (!hooks || !hooks->fail_every[call]) return false;
  uint32_t n = atomic_fetch_add_explicit(&call_counts[call], 1, memory_order_relaxed) + 1;
  return n % hooks->fail_every[call] == 0;
}

void hak_os_observe(hak_os_call_t call, void *addr, size_t len, hak_advice_t advice, bool ok) {
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

// Committed (accounted) read-write memory.
static void *raw_map(void *hint, size_t len, int extra_flags) {
  if (hak_os_injected_failure(HAK_OS_MAP)) {
    errno = ENOMEM;
    return NULL;
  }
  void *p = mmap(hint, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | extra_flags, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

// Address space only: not accounted, not accessible.
static void *raw_reserve(size_t len) {
  void *p = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
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
// The walk starts at a random 4 MiB slot of the first three quarters.
#define HINT_LO ((uintptr_t)32 << 40)
#define HINT_HI ((uintptr_t)96 << 40)
#define HINT_GRAIN ((uintptr_t)4 << 20)
static _Atomic uintptr_t hint_next;
static _Atomic uint32_t hint_refusals;  // consecutive refusals; past 64 hints stop

// 64 random bits from the kernel: getrandom (never blocks: GRND_NONBLOCK),
// else the 16 bytes of AT_RANDOM the kernel gave the process. No allocation.
uint64_t hak_os_secret(void) {
  uint64_t r = 0;
  if (syscall(SYS_getrandom, &r, sizeof r, 1 /* GRND_NONBLOCK */) == (long)sizeof r) return r;
  const unsigned char *at = (const unsigned char *)getauxval(AT_RANDOM);
  if (at) memcpy(&r, at + 8, sizeof r);  // the first 8 are glibc's stack guard
  return r ^ (uint64_t)hak_os_now_ms() * 0x9e3779b97f4a7c15ull;
}

uintptr_t hak_os_hint_start(void) {
  uintptr_t slots = (HINT_HI - HINT_LO) / HINT_GRAIN / 4 * 3;
  return HINT_LO + (uintptr_t)(hak_os_secret() % slots) * HINT_GRAIN;
}

// A Weyl sequence (one atomic add) through splitmix64's finaliser, started
// at a random point: each call gives independent-looking bits for one
// placement decision; the start is as random as the hints'.
static _Atomic uint64_t random_next;

uint64_t hak_os_random(void) {
  uint64_t x = atomic_load_explicit(&random_next, memory_order_relaxed);
  if (HAK_UNLIKELY(!x)) {
    uint64_t zero = 0, seed = hak_os_secret() | 1;
    atomic_compare_exchange_strong_explicit(&random_next, &zero, seed, memory_order_relaxed, memory_order_relaxed);
  }
  x = atomic_fetch_add_explicit(&random_next, 0x9e3779b97f4a7c15ull, memory_order_relaxed);
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

static void *map_with_hint(size_t len, size_t align) {
  if (HAK_OS_NO_HINTS || sizeof(void *) != 8 || atomic_load_explicit(&hint_refusals, memory_order_relaxed) > 64)
    return NULL;
  size_t step;
  if (!hak_align_up(len, align, &step)) return NULL;
  uintptr_t start = atomic_load_explicit(&hint_next, memory_order_relaxed);
  if (!start) {
    uintptr_t zero = 0;
    atomic_compare_exchange_strong_explicit(&hint_next, &zero, hak_os_hint_start(), memory_order_relaxed,
                                            memory_order_relaxed);
  }
  for (int attempt = 0; attempt < 3; attempt++) {
    uintptr_t h = atomic_fetch_add_explicit(&hint_next, step, memory_order_relaxed);
    h = (h + align - 1) & ~(uintptr_t)(align - 1);
    if (h < HINT_LO || h + len > HINT_HI || h + len < h) {  // wrap around to the start
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

static void release_failed_dest(void *dest, size_t len);

// Reserve len + align, commit the part that starts where (p + skew) is
// aligned, give the rest back. A refused commit may already have unmapped
// its part of the reservation (the kernel unmaps before it accounts): that
// part is given back as a failed move's destination is.
static void *map_trimmed(size_t len, size_t align, size_t skew) {
  if (len > SIZE_MAX - align) return NULL;
  size_t over = len + align;
  char *raw = raw_reserve(over);
  if (!raw) return NULL;
  char *p = (char *)((((uintptr_t)raw + skew + align - 1) & ~(uintptr_t)(align - 1)) - skew);
  if (p < raw) p += align;
  // MAP_FIXED over our own reservation: the kernel accounts the commit here.
  bool ok = raw_map(p, len, MAP_FIXED) == p;
  raw_unmap(raw, (size_t)(p - raw));
  raw_unmap(p + len, (size_t)((raw + over) - (p + len)));
  if (!ok) release_failed_dest(p, len);
  return ok ? p : NULL;
}

// The last resort for alignments of HAK_OS_GAP_ALIGN and more, whose
// len + align reservation can be larger than any hole the layout has left
// (under ThreadSanitizer, application memory above the shadow is 1.5 TiB
// minus wherever ASLR put the libraries, so a 1 TiB alignment fits only in
// some runs), although an aligned address with room for len is free: walk
// the holes between the process's mappings (/proc/self/maps, read with a
// stack buffer: no allocation) and claim the first aligned place in one with
// MAP_FIXED_NOREPLACE. A place the kernel or a sanitizer moves or refuses is
// skipped; ENOMEM (the commit refused) ends the search. The maps do not show
// the room the main stack grows down into (up to RLIMIT_STACK, and its guard
// gap) nor the room brk grows up into above [heap]: a hole just below [stack]
// keeps a margin of the stack limit (at most 1 GiB) plus 1 MiB, a hole just
// above [heap] one of 1 GiB.
#define HAK_OS_GAP_ALIGN ((size_t)1 << 30)
#define HAK_OS_BRK_ROOM ((uintptr_t)1 << 30)
#define HAK_OS_GAP_TRIES 64
#define HAK_OS_USER_TOP ((uintptr_t)1 << 47)

// NULL when the hole has no room or the place was refused; *refused is set
// when the kernel refused the commit itself. *tries counts the mmaps.
static void *claim_in_hole(uintptr_t lo, uintptr_t hi, size_t len, size_t align, size_t skew, int *tries,
                           bool *refused) {
  if (lo < hak_os_page_size()) lo = hak_os_page_size();
  if (hi > HAK_OS_USER_TOP) hi = HAK_OS_USER_TOP;
  if (lo >= hi || lo > UINTPTR_MAX - skew - align) return NULL;
  uintptr_t at = ((lo + skew + align - 1) & ~(uintptr_t)(align - 1)) - skew;
  if (at < lo) at += align;
  if (at < lo || at > hi || hi - at < len) return NULL;
  ++*tries;
  void *p = raw_map((void *)at, len, MAP_FIXED_NOREPLACE);
  if (p == (void *)at) return p;
  if (p) raw_unmap(p, len);  // taken as a plain hint (an old kernel, a sanitizer)
  else if (errno == ENOMEM) *refused = true;
  return NULL;
}

// The hex number at *c, up to stop (or end); *c is left on stop.
static uintptr_t hex_until(const char **c, const char *end, char stop) {
  uintptr_t v = 0;
  for (; *c < end && **c != stop; ++*c) v = v * 16 + (uintptr_t)(**c <= '9' ? **c - '0' : (**c | 0x20) - 'a' + 10);
  return v;
}

static bool line_names(const char *line, const char *end, const char *name) {
  size_t n = strlen(name);
  return (size_t)(end - line) >= n && memcmp(end - n, name, n) == 0;
}

static uintptr_t stack_room(void) {
  struct rlimit r;
  uintptr_t room = HAK_OS_BRK_ROOM;
  if (getrlimit(RLIMIT_STACK, &r) == 0 && r.rlim_cur != RLIM_INFINITY && r.rlim_cur < room) room = r.rlim_cur;
  return room + ((uintptr_t)1 << 20);
}

static void *map_in_gap(size_t len, size_t align, size_t skew) {
  int fd = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  char buf[4096];
  size_t have = 0;
  uintptr_t prev_end = 0;
  int tries = 0;
  void *got = NULL;
  bool eof = false, refused = false, after_heap = false;
  while (!got && !refused && tries < HAK_OS_GAP_TRIES) {
    char *nl = memchr(buf, '\n', have);
    if (!nl && !eof && have < sizeof buf) {
      long n = (long)syscall(SYS_read, fd, buf + have, sizeof buf - have);
      eof = n <= 0;
      if (n > 0) have += (size_t)n;
      else if (have) buf[have++] = '\n';  // a last line without its newline
      continue;
    }
    // A mapping's line; past the last one (or a line longer than the buffer) the top.
    const char *c = buf;
    uintptr_t start = nl ? hex_until(&c, nl, '-') : HAK_OS_USER_TOP;
    uintptr_t end = nl ? (c++, hex_until(&c, nl, ' ')) : 0;
    uintptr_t lo = after_heap && prev_end <= UINTPTR_MAX - HAK_OS_BRK_ROOM ? prev_end + HAK_OS_BRK_ROOM : prev_end;
    uintptr_t hi = start;
    if (nl && line_names(buf, nl, "[stack]")) {
      uintptr_t room = stack_room();
      hi = hi > room ? hi - room : 0;
    }
    if (hi > lo) got = claim_in_hole(lo, hi, len, align, skew, &tries, &refused);
    if (!nl) break;
    if (end > prev_end) {
      prev_end = end;
      after_heap = line_names(buf, nl, "[heap]");
    }
    have -= (size_t)(nl + 1 - buf);
    memmove(buf, nl + 1, have);
  }
  syscall(SYS_close, fd);
  return got;
}

static void *map_skewed(size_t len, size_t align, size_t skew) {
  size_t page = hak_os_page_size();
  if (align < page) align = page;
  int saved = errno;
  void *p = NULL;
  if (align <= page) {
    p = raw_map(NULL, len, 0);
  } else {
    if (!skew) p = map_with_hint(len, align);
    if (!p) p = map_trimmed(len, align, skew);
    if (!p && align >= HAK_OS_GAP_ALIGN) p = map_in_gap(len, align, skew);
  }
  hak_os_observe(HAK_OS_MAP, p, len, HAK_ADVISE_COUNT, p != NULL);
  if (!p) {
    HAK_STAT_INC(os_map_failures);
    errno = ENOMEM;
    return NULL;
  }
  errno = saved;  // a refused hint leaves EEXIST behind
  HAK_STAT_INC(os_maps);
  return p;
}

void *hak_os_map_skewed(size_t len, size_t align, size_t skew) { return map_skewed(len, align, skew); }
void *hak_os_map(size_t len, size_t align) { return map_skewed(len, align, 0); }

bool hak_os_unmap(void *addr, size_t len) {
  // The seam refuses as the kernel does at vm.max_map_count (ENOMEM): the range stays mapped.
  bool ok = !hak_os_injected_failure(HAK_OS_UNMAP) && raw_unmap(addr, len);
  hak_os_observe(HAK_OS_UNMAP, addr, len, HAK_ADVISE_COUNT, ok);
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
  if (hak_os_injected_failure(HAK_OS_ADVISE)) {
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
  hak_os_observe(HAK_OS_ADVISE, addr, len, advice, ok);
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
  if (!hak_os_injected_failure(HAK_OS_REMAP)) {
    int saved = errno;
    ok = (new_len <= old_len || tsan_scrub((char *)addr + old_len, new_len - old_len)) &&
         mremap(addr, old_len, new_len, 0) != MAP_FAILED;
    errno = saved;
  }
  hak_os_observe(HAK_OS_REMAP, addr, new_len, HAK_ADVISE_COUNT, ok);
  return ok;
}

// mremap(MREMAP_FIXED) unmaps dest before it can still fail (for instance
// when the kernel's commit accounting refuses the growth): dest may then be
// free address space that another thread's mmap has just taken, so it must
// not be unmapped blindly. Reserving dest with MAP_FIXED_NOREPLACE tells the
// cases apart: it succeeds only when all of dest is free (the kernel
// unmapped it); when something is there, dest is still ours only if no page
// of it is unmapped (msync fails with ENOMEM across a hole; it needs no
// buffer, unlike mincore, and does nothing to anonymous memory).
static void release_failed_dest(void *dest, size_t len) {
  void *r = mmap(dest, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
  if (r != MAP_FAILED) {
    munmap(r, len);  // the kernel had unmapped dest (or, old kernel, r is elsewhere)
    if (r == dest) return;
  }
  if (msync(dest, len, MS_ASYNC) == 0) raw_unmap(dest, len);
}

bool hak_os_move(void *addr, size_t old_len, void *dest, size_t new_len) {
  bool ok = false, tried = false;
  int saved = errno;
  if (!hak_os_injected_failure(HAK_OS_REMAP)) {
    tried = true;
    ok = mremap(addr, old_len, new_len, MREMAP_MAYMOVE | MREMAP_FIXED, dest) == dest;
  }
  hak_os_observe(HAK_OS_REMAP, dest, new_len, HAK_ADVISE_COUNT, ok);
  if (!ok) {
    if (tried) release_failed_dest(dest, new_len);
    else raw_unmap(dest, new_len);
  }
  errno = saved;
  return ok;
}

bool hak_os_protect(void *addr, size_t len, bool access) {
  int saved = errno;
  bool ok = !hak_os_injected_failure(HAK_OS_PROTECT) && mprotect(addr, len, access ? PROT_READ | PROT_WRITE : PROT_NONE) == 0;
  errno = saved;
  hak_os_observe(HAK_OS_PROTECT, addr, len, HAK_ADVISE_COUNT, ok);
  return ok;
}

// --- clock --------------------------------------------------------------------------

void (*hak_os_tick_hook)(uint64_t now_ms);

uint64_t hak_os_now_ms(void) {
  if (hooks && hooks->now_ms) return hooks->now_ms(hooks->ctx);
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
