/* batch.h — the batched MADV_DONTNEED queue (layer L3).
 *
 * Ranges whose pages should go back to the OS are queued instead of advised
 * at once. The queue flushes (one madvise per run of adjacent ranges) when
 * max_bytes are queued, when max_ranges are queued, on hak_batch_flush()
 * and at exit. A range reused before its flush is taken back and never
 * advised: that madvise and the page faults it would cause are saved.
 *
 * Invariants (hak_batch_is_valid checks them):
 *   - no two queued ranges overlap; queued bytes/count below the caps after
 *     every add returns;
 *   - every queued range is advised exactly once, or taken back, never both;
 *   - no range is advised after hak_batch_take() returned for it: take waits
 *     for a flush that is advising the range to finish.
 * The owner of a range must call hak_batch_take() before the memory changes
 * hands (reuse, unmap). Thread-safe; the lock is not held across madvise.
 */
#ifndef HAK_BATCH_H
#define HAK_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hakmem/config.h"

#define HAK_BATCH_MAX_RANGES 64u

typedef struct hak_batch_cfg {
  bool enabled;        /* false: hak_batch_add advises at once */
  size_t max_bytes;    /* flush when this many bytes are queued */
  unsigned max_ranges; /* flush when this many ranges are queued (<= 64) */
} hak_batch_cfg_t;

typedef enum hak_batch_take {
  HAK_BATCH_NOT_QUEUED, /* not in the queue: already advised (or never queued) */
  HAK_BATCH_TAKEN       /* was queued; removed, never advised */
} hak_batch_take_t;

HAK_INTERNAL void hak_batch_configure(const hak_batch_cfg_t *cfg);

/* Queue [addr, addr+len) (page-aligned) for MADV_DONTNEED. May flush. */
HAK_INTERNAL void hak_batch_add(void *addr, size_t len);

/* Take the range starting at addr back out of the queue (see above). */
HAK_INTERNAL hak_batch_take_t hak_batch_take(void *addr);

/* Advise every queued range now. */
HAK_INTERNAL void hak_batch_flush(void);

HAK_INTERNAL size_t hak_batch_queued_bytes(void);
HAK_INTERNAL unsigned hak_batch_queued_ranges(void);

HAK_INTERNAL bool hak_batch_is_valid(void);

HAK_INTERNAL void hak_batch_fork_prepare(void);
HAK_INTERNAL void hak_batch_fork_release(void);

#endif /* HAK_BATCH_H */
