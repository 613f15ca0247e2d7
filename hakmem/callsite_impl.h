/* callsite_impl.h — the executable-segment cache (callsite_code.c) as
 * callsite.c uses it (layer L5), private to the two.
 */
#ifndef HAK_CALLSITE_IMPL_H
#define HAK_CALLSITE_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include "hakmem/config.h"

#define MAX_SEGS 128u

typedef struct code_seg {
  uintptr_t lo, hi;
} code_seg_t;

// A table is rewritten only under seg_lock, while its seq is odd (a seqlock):
// a reader that loaded it earlier may still be searching it, so readers load
// every field with relaxed atomics and keep an answer only if seq was even
// and unchanged around the search.
typedef struct seg_table {
  unsigned seq;
  unsigned n;
  uintptr_t min, max;  // bounds of all segments: most stack words fail this first
  code_seg_t seg[MAX_SEGS];  // sorted by lo
} seg_table_t;

/* The table in use (NULL before the first refresh). */
HAK_INTERNAL const seg_table_t *hak_callsite_segs(void);
/* Refill the other table from dl_iterate_phdr and publish it; a thread that
 * finds another refreshing (or a fork child that inherited the lock) goes on
 * with the table it has. */
HAK_INTERNAL void hak_callsite_refresh(void);
/* The segment of t (or of the table in use) holding code address a, into
 * *out; false if none. */
HAK_INTERNAL bool hak_callsite_code_seg(const seg_table_t *t, uintptr_t a, code_seg_t *out);
HAK_INTERNAL bool hak_callsite_find_code(uintptr_t a, code_seg_t *out);
/* hakmem's own code when it is an object of its own (libhakmem.so): its
 * internal return addresses are never frames of a site. */
HAK_INTERNAL extern uintptr_t hak_callsite_self_lo, hak_callsite_self_hi;

#endif /* HAK_CALLSITE_IMPL_H */
