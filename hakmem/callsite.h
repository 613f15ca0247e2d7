/* callsite.h — who allocates: the site of a request seen through allocation
 * wrappers (layer L5). Called by alloc.c wherever a request already looks up
 * its site (large, sampled, learning and checked requests); the pools' fast
 * path never comes here.
 *
 * A site is the return address of the allocation call unless that address
 * belongs to an allocation wrapper; then it is the calling context above the
 * wrapper: the wrapper's return address and HAKMEM_SITE_DEPTH (1-3) return
 * addresses above it, one id for the whole context (site.h).
 *
 * Wrappers are found at run time, once per return address (its first
 * request): the code after the call is decoded, and a return address whose
 * code hands the result straight back to its caller (test/cmp/jcc, pops,
 * stack adjustments, moves out of rax, ret: nothing writes rax on some path
 * to the ret) is a candidate. A candidate whose requests come from two or
 * more different callers is a wrapper. HAKMEM_SITE_WRAP adds functions or
 * object files by name (resolved with dladdr on that first request only).
 * A frame above a wrapper whose code hands rax back as well is a wrapper of
 * the wrapper: the context goes up past it (at most 2 such layers).
 * HAKMEM_SITE_WRAPPERS=0 turns it all off: every site is its return address.
 *
 * The walk: the return address's slot is found by scanning up from the
 * entry point's frame; the frames above it are the stack words, at most 512
 * of them, that point into an executable segment (dl_iterate_phdr, cached)
 * right after a call instruction whose target is plausibly the function of
 * the frame below. It reads only [sp, top of the thread's stack): the top is
 * the thread descriptor (pthread_self, glibc keeps it at the stack's top) or
 * __libc_stack_end for the main thread; a stack pointer in neither (signal
 * stack, foreign stacks) is not walked, and neither is one this thread has
 * not seen before on its own stack while a signal stack is in use. Works
 * with and without frame pointers; never allocates.
 */
#ifndef HAK_CALLSITE_H
#define HAK_CALLSITE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hakmem/config.h"
#include "hakmem/site.h"

/* What hakmem decided about return address ret (tests, reports). */
typedef enum hak_callsite_kind {
  HAK_CALLSITE_UNKNOWN = 0,   /* not seen yet */
  HAK_CALLSITE_PLAIN = 1,     /* its own site */
  HAK_CALLSITE_CANDIDATE = 2, /* hands the result straight back; one caller so far */
  HAK_CALLSITE_WRAPPER = 3    /* keyed by the context above it */
} hak_callsite_kind_t;

/* A one-caller candidate is walked at each of its first this many lookups,
 * then at 1 in this many (its site entry's wrap_walks counts them). */
#define HAK_CALLSITE_CANDIDATE_WALKS 64u

/* Every return address not decided PLAIN (plain site id, ret, frame). */
HAK_INTERNAL hak_site_id_t hak_callsite_slow(hak_site_id_t id, uintptr_t ret, const void *frame);

/* The site id of a request whose allocation call returns to ret. frame: an
 * address in the frame of hakmem's entry point (the scan for ret's slot
 * starts there; NULL: do not walk). A plain site: one site-table lookup
 * and one byte load. */
HAK_INLINE hak_site_id_t hak_callsite_id(uintptr_t ret, const void *frame) {
  hak_site_id_t id = hak_site_id(ret);
  if (HAK_LIKELY(atomic_load_explicit(&hak_site_entry(id)->wrap_kind, memory_order_relaxed) == HAK_CALLSITE_PLAIN))
    return id;
  return hak_callsite_slow(id, ret, frame);
}

/* hak_callsite_id, and in *plain whether ret was decided a plain site: a
 * decision never revised, so ret's id is its own for good (until the site
 * table's test reset), and a cache keyed by ret may stand for the id. */
HAK_INLINE hak_site_id_t hak_callsite_id_plain(uintptr_t ret, const void *frame, bool *plain) {
  hak_site_id_t id = hak_site_id(ret);
  *plain = atomic_load_explicit(&hak_site_entry(id)->wrap_kind, memory_order_relaxed) == HAK_CALLSITE_PLAIN;
  return HAK_LIKELY(*plain) ? id : hak_callsite_slow(id, ret, frame);
}

HAK_INTERNAL hak_callsite_kind_t hak_callsite_kind(uintptr_t ret);

/* True when the code at ret (a return address) hands rax straight back to
 * its caller. Reads at most 64 bytes of code from ret; ret must be in an
 * executable segment (tests call it on their own functions). */
HAK_INTERNAL int hak_callsite_passes_through(uintptr_t ret);

/* Name of code address a: "function+0xoff (object)", or without a dynamic
 * symbol "0xADDR (object+0xoff)" (readers tell unnamed sites by the "0x"),
 * resolved with dladdr (report time only, never on the allocation path). */
HAK_INTERNAL void hak_callsite_name(uintptr_t a, char *buf, size_t cap);

/* Up to max return addresses above the caller of this function, found as
 * the walk finds them (tests: the walk from any stack, any build). */
HAK_INTERNAL unsigned hak_callsite_walk_here(uintptr_t *out, unsigned max);

#endif /* HAK_CALLSITE_H */
