/* fork.c — the registry of per-module fork handlers (layer L0). See fork.h.
 * Called by hak_init's thread only while it runs (registering, installing);
 * the handlers run in whichever thread calls fork.
 */
#include "hakmem/fork.h"

#include <pthread.h>

#include "hakmem/check.h"

// Written only by hak_init's thread before pthread_atfork is called: the
// handlers below read it without a lock.
static const hak_fork_handler_t *fork_handlers[HAK_FORK_HANDLERS];
static unsigned fork_count;

void hak_fork_register(const hak_fork_handler_t *h) {
  HAK_CHECK(fork_count < HAK_FORK_HANDLERS, "too many fork handlers");
  fork_handlers[fork_count++] = h;
}

static void fork_prepare(void) {
  for (unsigned i = 0; i < fork_count; i++)
    if (fork_handlers[i]->prepare) fork_handlers[i]->prepare();
}
static void fork_parent(void) {
  for (unsigned i = fork_count; i-- > 0;)
    if (fork_handlers[i]->parent) fork_handlers[i]->parent();
}
static void fork_child(void) {
  for (unsigned i = fork_count; i-- > 0;)
    if (fork_handlers[i]->child) fork_handlers[i]->child();
}

void hak_fork_install(void) { pthread_atfork(fork_prepare, fork_parent, fork_child); }
