/* init.h — start-up state and option application (layer L5, beside the front
 * door that calls hak_init on first use). init.c owns both.
 *
 * Start-up: hak_init (hakmem.h) runs once, from the library constructor or
 * earlier from the first allocation; hak_init_state says how far it got.
 *
 * fork(): see fork.h; hak_init has the modules register their handlers
 * (the pools, the large engine, the learning engine) and installs them.
 */
#ifndef HAK_INIT_H
#define HAK_INIT_H

#include <stdatomic.h>
#include <stddef.h>

#include "hakmem/config.h"

/* 0 before hak_init, 1 while it runs, HAK_INIT_DONE after. */
HAK_INTERNAL extern _Atomic int hak_init_state;
#define HAK_INIT_DONE 2

/* Requests below this go straight to the pools: the large threshold, or 0
 * while small allocations are sampled, checked or profiled (then every
 * request takes hak_alloc_slow). Derived by hak_apply_options; the front
 * door's inline fast path reads it (alloc.h). */
HAK_INTERNAL extern size_t hak_fast_limit;
/* min(hak_fast_limit, 1025): below it the inline path needs no other test
 * (the size class is one table load, sizeclass.h). */
HAK_INTERNAL extern size_t hak_fast_small;

/* Make the options in hak_options take effect: each module reads its own
 * (learning, checked mode, the heap profile, the large engine), then the
 * front door's hak_fast_limit is derived from what they chose. hak_init
 * calls it once; tests call it again after changing options. */
HAK_INTERNAL void hak_apply_options(void);

#endif /* HAK_INIT_H */
