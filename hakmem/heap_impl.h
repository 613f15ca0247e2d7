/* heap_impl.h — what heap.c, heap_release.c and heap_free.c share (layer
 * L3), private to them: the class queues (heap.c), page retirement and
 * release (heap_release.c), the drain of the remote and suspect lists
 * (heap_free.c), and the debug walk after slow-path operations.
 */
#ifndef HAK_HEAP_IMPL_H
#define HAK_HEAP_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hakmem/check.h"
#include "hakmem/config.h"
#include "hakmem/heap.h"

#if HAK_DEBUG >= 3
#define WALK_AFTER(what) HAK_CHECK(hak_heap_is_valid(), "heap walker failed after " what)
#else
#define WALK_AFTER(what) ((void)0)
#endif

/* The current page of a class with nothing in it: the fast path finds no
 * free block there and takes the slow path. Never written. */
HAK_INTERNAL extern hak_page_t hak_heap_empty_page;
/* The heap of a thread that has none: every class's current page is the
 * empty page, so the fast path needs no NULL test. Never written. */
HAK_INTERNAL extern const hak_heap_t hak_heap_none;
#define NO_HEAP ((hak_heap_t *)&hak_heap_none)

/* An ACTIVE page onto its class queue (the owner's heap h). */
HAK_INTERNAL void hak_heap_queue_push(hak_heap_t *h, hak_page_t *pg);
/* Take pg off its class queue (and from being current: the queue's next
 * page, or the empty page, becomes current). */
HAK_INTERNAL void hak_heap_queue_remove(hak_heap_t *h, hak_page_t *pg);
/* Pages empty for the release delay go to the batch queue; segments empty
 * that long are unmapped, but for one of each kind. force: no delay, no
 * segment kept. Returns bytes unmapped. */
HAK_INTERNAL size_t hak_heap_maintain(hak_heap_t *h, uint64_t now, bool force);
/* A fork child's adopted segment (its stack rebuilt): no UNUSED page that
 * is not RELEASED stays in the batch queue. */
HAK_INTERNAL void hak_heap_fork_unqueue(hak_segment_t *seg);
/* A page about to be taken again: out of the batch queue if it was there. */
HAK_INTERNAL void hak_heap_reclaim_page(hak_segment_t *seg, hak_page_t *pg);
/* An empty page that is not the current one goes back to its segment
 * (stamped for the delayed release). */
HAK_INTERNAL void hak_heap_retire_if_empty(hak_heap_t *h, hak_segment_t *seg, hak_page_t *pg, uint64_t stamp);
/* Take the blocks other threads freed into h (and the suspects) back onto
 * their pages, checking every link before it is followed. */
HAK_INTERNAL void hak_heap_collect(hak_heap_t *h);

#endif /* HAK_HEAP_IMPL_H */
