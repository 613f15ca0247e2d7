/* os.h — the only place hakmem talks to the kernel about memory (layer L1).
 *
 * Every mmap, munmap, mremap, mprotect and madvise goes through here, and so does the
 * clock the caches age by. The seam (hak_os_hooks_t) lets tests and fuzzers
 * watch each call, fail every Nth one, stop advice from reaching the kernel
 * and move the clock by hand. Thread-safe; no locks; no allocation.
 *
 * Errors: map functions return NULL (errno ENOMEM); advice failures are
 * harmless by design (advice is an optimisation) and only counted, with one
 * exception: after hak_os_advise(DONTNEED) the range reads as zero even when
 * the kernel refused (it is then zeroed by hand).
 */
#ifndef HAK_OS_H
#define HAK_OS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hakmem/config.h"

typedef enum hak_advice {
  HAK_ADVISE_FREE,       /* MADV_FREE: lazily reclaimable, contents undefined */
  HAK_ADVISE_DONTNEED,   /* MADV_DONTNEED: released now, reads back as zero */
  HAK_ADVISE_HUGEPAGE,   /* MADV_HUGEPAGE */
  HAK_ADVISE_NOHUGEPAGE, /* MADV_NOHUGEPAGE */
  HAK_ADVISE_COUNT
} hak_advice_t;

typedef enum hak_os_call { HAK_OS_MAP, HAK_OS_UNMAP, HAK_OS_ADVISE, HAK_OS_REMAP, HAK_OS_PROTECT, HAK_OS_CALL_COUNT } hak_os_call_t;

typedef struct hak_os_hooks {
  /* Called after each call that reached the kernel (or was suppressed) with
   * its result; advice is HAK_ADVISE_COUNT for calls other than advise. */
  void (*observe)(void *ctx, hak_os_call_t call, void *addr, size_t len, hak_advice_t advice, bool ok);
  void *ctx;
  uint32_t fail_every[HAK_OS_CALL_COUNT]; /* N > 0: the Nth, 2Nth, ... call of that kind fails */
  bool suppress_advice;                   /* record advice but do not issue it (see os.c) */
  uint64_t (*now_ms)(void *ctx);          /* replaces the monotonic clock when set */
} hak_os_hooks_t;

/* Install hooks (NULL: none). Tests only; not synchronised with running calls. */
HAK_INTERNAL void hak_os_set_hooks(const hak_os_hooks_t *hooks);
/* The seam, for every implementation of these calls (os.c, the fuzzers'
 * fake OS): true when the hooks say this call must fail (counted per call
 * kind); tell the observer what a call did. */
HAK_INTERNAL bool hak_os_injected_failure(hak_os_call_t call);
HAK_INTERNAL void hak_os_observe(hak_os_call_t call, void *addr, size_t len, hak_advice_t advice, bool ok);

HAK_INTERNAL size_t hak_os_page_size(void);

/* Anonymous read-write memory of len bytes (a page multiple), aligned to
 * align (a power of two; at least a page). Fresh memory reads as zero. It is
 * committed: the kernel's overcommit accounting may refuse it (NULL, ENOMEM).
 * errno is preserved on success. */
HAK_INTERNAL void *hak_os_map(size_t len, size_t align);
/* The same, placed so that p + skew is aligned to align (skew < align, a
 * page multiple): a block whose header sits one slot before an address of a
 * larger alignment. Never uses the hints. */
HAK_INTERNAL void *hak_os_map_skewed(size_t len, size_t align, size_t skew);
/* Where the aligned hints of this process start: random (getrandom, else
 * AT_RANDOM), 4 MiB-grained, drawn once per call (tests). */
HAK_INTERNAL uintptr_t hak_os_hint_start(void);
/* 64 random bits from the kernel, for a secret (the large blocks' canary):
 * getrandom, else AT_RANDOM; a system call each. No allocation. */
HAK_INTERNAL uint64_t hak_os_secret(void);
/* 64 bits for placement inside a mapping (where a large block's pointer sits
 * in its first slot): a splitmix64 sequence whose start is drawn once from
 * getrandom (else AT_RANDOM), independent of any address. Thread-safe, no
 * system call after the first. Not for secrets. */
HAK_INTERNAL uint64_t hak_os_random(void);
/* Make [addr, addr+len) inaccessible (false) or read-write again (true);
 * false if the kernel refused (or the seam: HAK_OS_PROTECT). It charges no
 * commit when the range was mapped read-write by hak_os_map (the kernel
 * keeps its accounting), so it fails only when splitting the mapping would
 * pass vm.max_map_count. errno preserved. */
HAK_INTERNAL bool hak_os_protect(void *addr, size_t len, bool access);
HAK_INTERNAL bool hak_os_unmap(void *addr, size_t len);
HAK_INTERNAL bool hak_os_advise(void *addr, size_t len, hak_advice_t advice);

/* Grow [addr, addr+old_len) to new_len without moving it; false when the
 * address space after it is taken. */
HAK_INTERNAL bool hak_os_grow_in_place(void *addr, size_t old_len, size_t new_len);
/* Move the pages of [addr, addr+old_len) to dest (which the caller mapped,
 * new_len bytes) and grow them to new_len: page tables move, bytes do not.
 * On success the old range is gone and dest holds the contents. On failure
 * addr is intact and dest is given back here (the caller must not unmap
 * it: the kernel may already have, and someone else may have mapped there). */
HAK_INTERNAL bool hak_os_move(void *addr, size_t old_len, void *dest, size_t new_len);

/* Milliseconds of a monotonic clock (or the hook's). */
HAK_INTERNAL uint64_t hak_os_now_ms(void);

/* The engines' maintenance ticks (the pools' every 16 ms of slow paths, the
 * large engine's every HAK_LARGE_TICK_MS) call hak_os_tick with the time:
 * the one place a decorator above them (the learning engine's wake-ups)
 * hangs periodic work without an engine knowing it. Set at start-up. */
HAK_INTERNAL extern void (*hak_os_tick_hook)(uint64_t now_ms);
HAK_INLINE void hak_os_tick(uint64_t now_ms) {
  void (*hook)(uint64_t) = hak_os_tick_hook;
  if (hook) hook(now_ms);
}

#endif /* HAK_OS_H */
