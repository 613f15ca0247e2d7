/* checked.h — checked mode (HAKMEM_CHECK=1): misuse is caught with a
 * message naming the problem and the address, then abort (layer L5).
 *
 * What it catches:
 *   - double free, immediate, delayed, interleaved or after the memory was
 *     reused, from any thread (a live bit per pool block, cleared atomically
 *     by the free; large blocks by their state);
 *   - invalid free: a pointer inside a block, misaligned, on the stack, in
 *     static data, from another allocator or never handed out;
 *   - overflow past the requested size and underflow before the pointer,
 *     found at free: pool blocks carry canary bytes before the pointer
 *     (HAK_CHECKED_HEAD bytes) and up to a trailer (the requested size, the
 *     pointer's offset in its block and the allocation kind); large blocks
 *     canary bytes in the gap before the pointer and after the request;
 *   - a write after free: a freed pool block is scrubbed (HAK_SCRUB) and
 *     kept out of reuse by the quarantine below; its scrub is verified when
 *     it leaves the quarantine and, for the blocks still in it, at exit;
 *   - any access to a freed large block: its pages are made PROT_NONE
 *     (large.c's quarantine, see large.h), so the access faults (SIGSEGV);
 *   - any access to a freed guarded pool block, and an overflow past its
 *     canaries: up to HAKMEM_CHECK_GUARD pool-sized blocks live at once sit
 *     on pages of their own, flush against an inaccessible page, and are
 *     made PROT_NONE when freed, for as long as they wait in the guard
 *     quarantine (checked_guard.c); the rest take the pool path below;
 *   - a free-list pointer overwritten after free: each pop checks the new
 *     head (inside its page, on a block boundary, not live) before anyone
 *     can follow it; remote lists are checked the same way when drained;
 *   - operator new/delete mismatches and sized frees whose size is wrong
 *     (hak_checked_set_kind / hak_checked_verify_free below).
 * Not caught, for pool blocks past the guard budget: a read after free (it
 * reads the scrub pattern); a write after free into a block freed by
 * another thread than its heap's (it travels on a remote list, unheld) or
 * whose page emptied and was returned before the block could be held. For
 * any block: an underflow or overflow that jumps over the canaries and the
 * guard pages (1 MiB away) unless it faults or lands on another block's
 * canary.
 *
 * The pool quarantine: a fixed ring of HAK_CHECKED_QUARANTINE_BLOCKS blocks
 * and at most HAK_CHECKED_QUARANTINE_BYTES bytes (no option: bounded memory
 * by construction). heap.c puts a freed block back on its page's free list
 * as in release mode; at the freeing thread's next checked-mode call, before
 * anything can pop it, checked mode takes it back off ("holds" it: it
 * counts as used, so its page cannot be reset under it) and records it in
 * the ring. The ring's oldest held block goes back to the pools, after its
 * scrub is verified, when a new one needs the room.
 *
 * How: every allocation takes the slow path (hak_fast_limit is 0) and every
 * pool page is flagged so that its frees take the careful path too; the
 * release build's fast paths are unchanged.
 */
#ifndef HAK_CHECKED_H
#define HAK_CHECKED_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hakmem/config.h"
#include "hakmem/segment.h"

HAK_INTERNAL extern bool hak_checked;

/* Checked mode on or off (hak_apply_options, before any page exists): sets
 * hak_checked and hangs checked mode's pool checks on the pools' watchers
 * (heap.h), so the pool engine calls them without including this header. */
HAK_INTERNAL void hak_checked_configure(bool on);

#define HAK_CANARY 0xCBu
#define HAK_SCRUB 0xDFu
#define HAK_CHECKED_HEAD 16u /* canary bytes before a pool pointer */
#define HAK_CHECKED_QUARANTINE_BLOCKS 4096u
#define HAK_CHECKED_QUARANTINE_BYTES ((size_t)16 << 20)

typedef enum hak_alloc_kind { HAK_KIND_MALLOC = 0, HAK_KIND_NEW = 1, HAK_KIND_NEW_ARRAY = 2 } hak_alloc_kind_t;

/* A pool request in checked mode (size + canaries + trailer fits the pools). */
HAK_INTERNAL void *hak_checked_pool_alloc(size_t size, size_t align, bool zero);
/* Validate a pool free and return the block's start (aborts on misuse). */
HAK_INTERNAL hak_block_t *hak_checked_pool_free(hak_segment_t *seg, hak_page_t *pg, const void *p);
/* A block on a remote list about to be followed: abort unless sane. */
HAK_INTERNAL void hak_checked_remote(const hak_block_t *b);
/* Pool bytes the program may use at p (checked mode: the requested size). */
HAK_INTERNAL size_t hak_checked_pool_usable(const void *p);
/* Large blocks: canary bytes before the pointer and after the request,
 * written / verified (verify also refuses a block new'd but free()d). */
HAK_INTERNAL void hak_checked_large_mark(char *p, size_t req, size_t usable);
HAK_INTERNAL void hak_checked_large_verify(const char *p, size_t req, size_t usable);
/* Guarded blocks (checked_guard.c): a block of its own pages for a pool
 * request (align up to a page), or NULL when the budget or the region has
 * no room (the caller takes the pool path). */
HAK_INTERNAL void *hak_checked_guard_alloc(size_t size, size_t align, bool zero);
/* The guard region, [lo, hi) (both 0 until it is made; hi published last). */
HAK_INTERNAL extern _Atomic uintptr_t hak_checked_guard_lo, hak_checked_guard_hi;
HAK_INLINE bool hak_checked_guarded(const void *p) {
  uintptr_t hi = atomic_load_explicit(&hak_checked_guard_hi, memory_order_acquire);
  uintptr_t lo = atomic_load_explicit(&hak_checked_guard_lo, memory_order_relaxed);
  return (uintptr_t)p - lo < hi - lo;
}
/* For p in the guard region: free it (aborts unless p is a live block's
 * pointer allocated by malloc's kind); its request (aborts likewise); its
 * request or 0 (never aborts); its kind, and (set) change it to `to`. */
HAK_INTERNAL void hak_checked_guard_free(void *p);
/* Register the quarantine's and the guard region's fork handlers (hak_init,
 * once; fork.h). */
HAK_INTERNAL void hak_checked_fork_register(void);
HAK_INTERNAL void hak_checked_guard_fork_register(void);
HAK_INTERNAL size_t hak_checked_guard_req(const void *p);
HAK_INTERNAL size_t hak_checked_guard_usable(const void *p);
HAK_INTERNAL hak_alloc_kind_t hak_checked_guard_kind(const void *p, size_t *req, bool set, hak_alloc_kind_t to);
/* Guarded blocks live now (tests). */
HAK_INTERNAL size_t hak_checked_guard_live(void);

/* Report misuse at p and abort; the same for a free() of a block new'd (kind). */
HAK_INTERNAL __attribute__((noreturn)) void hak_checked_misuse(const char *what, const void *p);
HAK_INTERNAL __attribute__((noreturn)) void hak_checked_not_malloc(hak_alloc_kind_t kind, const void *p);
/* True when every byte of [c, end) is v. */
HAK_INTERNAL bool hak_checked_all_bytes(const unsigned char *c, const unsigned char *end, unsigned char v);
/* Abort on a pointer no part of hakmem owns. */
HAK_INTERNAL __attribute__((noreturn)) void hak_checked_foreign(const void *p, const char *call);

/* Checked mode: record how block p (just allocated in checked mode) was asked for. */
HAK_INTERNAL void hak_checked_set_kind(void *p, hak_alloc_kind_t kind);
/* Checked mode, before p is freed by delete/delete[] (kind) or a sized free
 * (size != 0): abort naming both kinds or both sizes and the address when
 * they do not match the block; afterwards the block counts as
 * HAK_KIND_MALLOC so the common free path accepts it. */
HAK_INTERNAL void hak_checked_verify_free(const void *p, hak_alloc_kind_t kind, size_t size);

/* Bytes a pool request of size needs in checked mode (canaries + trailer). */
HAK_INLINE size_t hak_checked_pool_need(size_t size) { return size + HAK_CHECKED_HEAD + 1 + sizeof(uint64_t); }


#endif /* HAK_CHECKED_H */
