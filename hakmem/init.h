/* init.h — start-up state and the fork protocol (layer L5, beside the front
 * door that calls hak_init on first use). init.c owns both.
 *
 * Start-up: hak_init (hakmem.h) runs once, from the library constructor or
 * earlier from the first allocation; hak_init_state says how far it got.
 *
 * fork(): every module that has locks registers one handler with
 * hak_fork_register while hak_init runs (init.c registers the pools' and the
 * large engine's; learn.c its own). Before fork, the prepare functions run
 * in registration order, each taking all of its module's locks; after it,
 * parent (in the parent) or child (in the child) run in the reverse order,
 * each releasing them (child also repairs what the dead threads left, e.g.
 * the pools abandon their heaps). A module registered later may therefore
 * only take its locks after those of the modules before it, never the other
 * way round, unless it only ever try-locks them. So a child never inherits a
 * lock held by a thread that does not exist in it.
 */
#ifndef HAK_INIT_H
#define HAK_INIT_H

#include <stdatomic.h>

#include "hakmem/config.h"

/* 0 before hak_init, 1 while it runs, HAK_INIT_DONE after. */
HAK_INTERNAL extern _Atomic int hak_init_state;
#define HAK_INIT_DONE 2

typedef struct hak_fork_handler {
  const char *name;       /* the module (for debugging) */
  void (*prepare)(void);  /* take every lock of the module */
  void (*parent)(void);   /* release them, in the parent */
  void (*child)(void);    /* release them, in the child */
} hak_fork_handler_t;

#define HAK_FORK_HANDLERS 8u

/* Add a module's handler (h must stay valid; NULL functions are skipped).
 * Only while hak_init runs, on its thread; aborts past HAK_FORK_HANDLERS. */
HAK_INTERNAL void hak_fork_register(const hak_fork_handler_t *h);

#endif /* HAK_INIT_H */
