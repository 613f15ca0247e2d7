/* init.c — start-up, shutdown and fork (layer L5, beside the front door that
 * calls it on first use). See init.h.
 *
 * hak_init runs once: from the library constructor, or earlier from the
 * first allocation (another library's constructor may allocate first). A
 * reentrant call from the initialising thread returns at once; the options
 * hold BALANCED defaults from the start, so such a call is served sanely.
 * fork(): the handlers registered in hak_init (the pools, the large engine,
 * the learning engine) take every lock before and release them after, in
 * parent and child, so a child of a multi-threaded parent can allocate.
 */
#include "hakmem/init.h"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <unistd.h>

#include "hakmem/alloc.h"
#include "hakmem/check.h"
#include "hakmem/heap.h"
#include "hakmem/include/hakmem.h"
#include "hakmem/large.h"
#include "hakmem/learn.h"
#include "hakmem/options.h"
#include "hakmem/profile.h"

extern char **environ;

_Atomic int hak_init_state;
// Where the exit report goes: a private copy of stderr taken at start-up,
// because programs such as coreutils close fd 2 in their own atexit handler.
static int report_fd = STDERR_FILENO;
static __thread int initialising __attribute__((tls_model("initial-exec")));

// --- fork ---------------------------------------------------------------------------

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

// heap.c and large.c do not register themselves yet: their handlers are
// registered here, first the pools' (the heaps lock), then the large
// engine's (batch, BigCache, spare pool), the order they always had.
static const hak_fork_handler_t heap_fork = {"heap", hak_heap_fork_prepare, hak_heap_fork_parent, hak_heap_fork_child};
static const hak_fork_handler_t large_fork = {"large", hak_large_fork_prepare, hak_large_fork_release,
                                              hak_large_fork_release};

// --- start-up and shutdown ----------------------------------------------------------

void hak_init(void) {
  if (atomic_load_explicit(&hak_init_state, memory_order_acquire) == HAK_INIT_DONE || initialising) return;
  int expected = 0;
  if (!atomic_compare_exchange_strong_explicit(&hak_init_state, &expected, 1, memory_order_acq_rel,
                                               memory_order_acquire)) {
    while (atomic_load_explicit(&hak_init_state, memory_order_acquire) != HAK_INIT_DONE) sched_yield();
    return;
  }
  initialising = 1;
  hak_options_t opts;
  hak_options_parse((const char *const *)environ, true, &opts);
  hak_options = opts;
  hak_apply_options();
  if (hak_opt(HAK_OPT_VERBOSE)) {
    int fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
    if (fd >= 0) report_fd = fd;
  }
  hak_heap_global_init();
  hak_fork_register(&heap_fork);
  hak_fork_register(&large_fork);
  hak_learn_init();
  pthread_atfork(fork_prepare, fork_parent, fork_child);
  initialising = 0;
  atomic_store_explicit(&hak_init_state, HAK_INIT_DONE, memory_order_release);
}

void hak_shutdown(void) {
  if (atomic_load_explicit(&hak_init_state, memory_order_acquire) != HAK_INIT_DONE) return;
  hak_profile_write();
  hak_trim();
  if (hak_opt(HAK_OPT_VERBOSE)) hak_stats_print(report_fd);
}

__attribute__((constructor)) static void hak_constructor(void) { hak_init(); }
__attribute__((destructor)) static void hak_destructor(void) { hak_shutdown(); }
