/* fork.h — the fork protocol (layer L0): a registry of per-module handlers.
 *
 * Every module that has locks registers one handler while hak_init runs,
 * itself (the pools from hak_heap_global_init, the large engine from
 * hak_large_global_init, the learning engine from hak_learn_init). Before
 * fork, the prepare functions run in registration order, each taking all of
 * its module's locks; after it, parent (in the parent) or child (in the
 * child) run in the reverse order, each releasing them (child also repairs
 * what the dead threads left, e.g. the pools abandon their heaps). A module
 * registered later may therefore only take its locks after those of the
 * modules before it, never the other way round, unless it only ever
 * try-locks them. So a child never inherits a lock held by a thread that
 * does not exist in it. hak_fork_install (hak_init, once) hands the
 * registry to pthread_atfork.
 */
#ifndef HAK_FORK_H
#define HAK_FORK_H

#include "hakmem/config.h"

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

/* Install the registry's handlers with pthread_atfork; once, by hak_init,
 * after every module registered. */
HAK_INTERNAL void hak_fork_install(void);

#endif /* HAK_FORK_H */
