/* spare.h — the spare pool: freed large blocks that no site's BigCache
 * holds, kept mapped for any site's next request (layer L3).
 *
 * Each spare has a thermal state chosen by the free policy (freepolicy.h):
 *   HOT   contents intact, pages resident: reuse costs nothing;
 *   WARM  MADV_FREE'd: the kernel may take the pages when it needs them;
 *   COLD  queued for (or given) MADV_DONTNEED: no resident pages.
 * Bounds: max_bytes of address space (past it the oldest spare is unmapped),
 * resident_bytes of HOT and WARM spares (past it the oldest of them is
 * cooled once idle for HAK_SPARE_COOL_MS, at once past 4x the cap;
 * MADV_FREE'd pages count: they stay resident until reclaimed), and
 * age_ms (older spares are unmapped). Bound enforcement returns work to the
 * caller (hak_spare_work_t) which it does after the lock is dropped; a
 * spare being cooled is out of the pool until the caller puts it back COLD.
 *
 * Per site (HAK_SPARE_SITES entries, id modulo that): the bytes of its HOT
 * and WARM spares, exact under the lock (the walker recounts them).
 *
 * Intrusive: the node lives inside the block (its header). Pure data
 * structure: no system calls, clock passed in. Thread-safe (one lock).
 */
#ifndef HAK_SPARE_H
#define HAK_SPARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hakmem/config.h"

#define HAK_SPARE_CLASSES 64u
#define HAK_SPARE_WORK 32u
#define HAK_SPARE_SITES 1024u /* per-site byte counts (HAK_SITE_CAP, checked in large_free.c) */
#define HAK_SPARE_COOL_MS 200u /* idle time before a spare over the resident cap is cooled */

typedef enum hak_thermal { HAK_HOT = 0, HAK_WARM = 1, HAK_COLD = 2 } hak_thermal_t;

typedef struct hak_spare_node {
  struct hak_spare_node *cls_prev, *cls_next; /* this class's stack (resident or COLD) */
  struct hak_spare_node *age_prev, *age_next; /* the pool's age list */
  uint64_t stamp;
  size_t bytes;
  uint16_t site; /* charged with its resident bytes while HOT or WARM */
  uint8_t cls;
  uint8_t thermal;
} hak_spare_node_t;

typedef struct hak_spare_cfg {
  size_t max_bytes, resident_bytes;
  uint64_t age_ms;
} hak_spare_cfg_t;

typedef struct hak_spare_work {
  unsigned n_unmap, n_cool;
  hak_spare_node_t *unmap[HAK_SPARE_WORK]; /* out of the pool: unmap them */
  hak_spare_node_t *cool[HAK_SPARE_WORK];  /* out of the pool: advise, put back COLD */
} hak_spare_work_t;

HAK_INTERNAL void hak_spare_configure(const hak_spare_cfg_t *cfg);

/* Add a spare of class cls (< HAK_SPARE_CLASSES) and `bytes` mapped bytes,
 * freed by site (its resident bytes are charged to it while HOT or WARM). */
HAK_INTERNAL void hak_spare_put(hak_spare_node_t *node, uint8_t cls, size_t bytes, hak_thermal_t thermal,
                                uint16_t site, uint64_t now, hak_spare_work_t *work);

/* A spare of the smallest class in [cls, max_cls] that has one, out of the
 * pool, or NULL: the class's most recently added HOT or WARM spare, else
 * its most recently added COLD one. */
HAK_INTERNAL hak_spare_node_t *hak_spare_get(uint8_t cls, uint8_t max_cls, uint64_t now);
/* The most recently added HOT or WARM spare of the smallest (largest: the
 * largest) class in [lo, hi] that has one, out of the pool, or NULL. */
HAK_INTERNAL hak_spare_node_t *hak_spare_get_resident(uint8_t lo, uint8_t hi, bool largest);

/* Take the node `want` out of the pool when it is there, HOT or WARM, and
 * holds at least min_bytes; false otherwise. `want` is only compared, never
 * read unless found: any address will do (large.c asks for the block that
 * may sit right after one it holds). */
HAK_INTERNAL bool hak_spare_take_node(const hak_spare_node_t *want, size_t min_bytes);
/* The HOT or WARM spare that ends where `next` (a node, by the layout
 * below) would start, out of the pool, or NULL. */
HAK_INTERNAL hak_spare_node_t *hak_spare_take_before(const hak_spare_node_t *next);
/* For a request of `want` bytes that no single spare of a class >= its own
 * serves: the HOT or WARM spare of a class in [lo, hi] that starts the
 * longest run, out of the pool (NULL when there is none). A run is the
 * spare and the resident spares right after it in the address space: the
 * caller's layout puts the node of the block after one `bytes` past its
 * node. The largest class whose run reaches want wins, else the longest
 * run; *run_out receives its bytes. The rest of the run stays in the pool
 * for hak_spare_take_node. */
HAK_INTERNAL hak_spare_node_t *hak_spare_get_run(uint8_t lo, uint8_t hi, size_t want, size_t *run_out);
/* A donor of pages for a block `gap` bytes short (large.c moves its pages
 * in): the smallest HOT or WARM spare of at least gap + cut_min bytes (its
 * last gap bytes will do), else the largest of min .. gap bytes; out of the
 * pool, or NULL. A walk of the age list. */
HAK_INTERNAL hak_spare_node_t *hak_spare_get_donor(size_t gap, size_t min, size_t cut_min);
/* Spares older than age_ms into work->unmap, and resident spares over the
 * cap idle long enough into work->cool (call again while it fills). */
HAK_INTERNAL void hak_spare_expire(uint64_t now, hak_spare_work_t *work);
/* Take out the site's HOT and WARM spares, oldest first, up to
 * HAK_SPARE_WORK (work->unmap; call again while it comes back full): a walk
 * of the age list under the lock. */
HAK_INTERNAL void hak_spare_take_site(uint16_t site, hak_spare_work_t *work);
/* Every spare into work->unmap, in batches: call until nothing comes. */
HAK_INTERNAL void hak_spare_drain(hak_spare_work_t *work);

HAK_INTERNAL size_t hak_spare_bytes(void);
HAK_INTERNAL size_t hak_spare_resident_bytes(void);
/* HOT and WARM spares' bytes whose site is site (relaxed, no lock). */
HAK_INTERNAL size_t hak_spare_site_resident(uint16_t site);
HAK_INTERNAL bool hak_spare_is_valid(void);

HAK_INTERNAL void hak_spare_fork_prepare(void);
HAK_INTERNAL void hak_spare_fork_release(void);

#endif /* HAK_SPARE_H */
