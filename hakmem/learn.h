/* learn.h — the learning engine wired into the front door (layer L5): per
 * call site, which strategy (policy/strategy.h) serves requests of 64 KiB
 * and more, chosen by the pure lifecycle in policy/evo.h.
 *
 * Off (HAKMEM_EVO=off, MINIMAL/FAST/BALANCED): nothing here runs, and the
 * front door uses the static LARGE_THRESHOLD. On (LEARNING, RESEARCH):
 *   - requests below HAK_LEARN_MIN never see a site: the pools' fast path
 *     is unchanged;
 *   - a request of HAK_LEARN_MIN or more looks up its site, loads the site's
 *     8-byte policy record (one relaxed atomic load), and goes to the pools
 *     (size < threshold and within the pools) or to the large engine (BigCache
 *     admission as the record says);
 *   - FROZEN/OFF sites: that load plus two relaxed counter adds (window ops,
 *     size histogram) is all; the cost of a window is read at its boundary
 *     (cycle counter, getrusage page faults, hakmem's mapped bytes);
 *   - LEARN and CANARY sites also time their own requests (cycle counter
 *     around the call, plus first-touch page faults estimated from the
 *     bytes the large engine hands out fresh) so that CANARY can compare
 *     the 5% of requests routed to the challenger with the rest.
 * Window ends run on the request that notices them, under the site's try
 * lock (a request that finds it taken just goes on).
 *
 * Per-site state (3.7 KiB) is allocated on a site's first large-enough
 * request, from an internal arena; the site table is bounded, so is this.
 */
#ifndef HAK_LEARN_H
#define HAK_LEARN_H

#include <stdbool.h>
#include <stddef.h>

#include "hakmem/config.h"
#include "hakmem/log.h"
#include "hakmem/site.h"

#define HAK_LEARN_MIN ((size_t)64 << 10) /* the smallest threshold of any strategy */

HAK_INTERNAL extern bool hak_learn_on;

/* Build the lifecycle configuration from the options (hak_apply_options). */
HAK_INTERNAL void hak_learn_configure(void);

/* A request of size >= HAK_LEARN_MIN from site id (align 0: default). */
HAK_INTERNAL void *hak_learn_alloc(size_t size, size_t align, hak_site_id_t id, bool zero);

/* The site's learning state as a JSON value ("null" when it has none). */
HAK_INTERNAL void hak_learn_json(hak_buf_t *b, hak_site_id_t id);

/* True when site id has learning state (the stats JSON lists such sites
 * even when the pools served all their requests). */
HAK_INTERNAL bool hak_learn_has(hak_site_id_t id);

/* The strategy leaderboard of every learning site, as text. */
HAK_INTERNAL void hak_learn_print(int fd);

/* Test hooks: the site's policy record as a word (0: none yet), and
 * replacing it (the next window end may change it again). */
HAK_INTERNAL uint64_t hak_learn_policy_word(hak_site_id_t id);
HAK_INTERNAL void hak_learn_set_policy_word(hak_site_id_t id, uint64_t word);
/* Forget every site's learning state (tests; no allocation may run). */
HAK_INTERNAL void hak_learn_reset(void);

#endif /* HAK_LEARN_H */
