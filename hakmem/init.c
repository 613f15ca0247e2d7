/* init.c — start-up, option application and shutdown (layer L5, beside the front door that
 * calls it on first use). See init.h.
 *
 * hak_init runs once: from the library constructor, or earlier from the
 * first allocation (another library's constructor may allocate first). A
 * reentrant call from the initialising thread returns at once; the options
 * hold BALANCED defaults from the start, so such a call is served sanely.
 * fork(): the modules register their handlers (fork.h) during hak_init,
 * which then installs them, so a child of a multi-threaded parent can
 * allocate.
 */
#include "hakmem/init.h"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <unistd.h>

#include "hakmem/fork.h"
#include "hakmem/check.h"
#include "hakmem/checked.h"
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

// --- start-up and shutdown ----------------------------------------------------------

// BALANCED samples 1 in 64 small allocations: until hak_init, every request
// takes the slow path (which is correct in any case).
size_t hak_fast_limit;
size_t hak_fast_small;

void hak_apply_options(void) {
  hak_learn_configure();
  hak_checked_configure(hak_opt(HAK_OPT_CHECK) != 0);
  hak_profile_configure();
  size_t limit = hak_opt(HAK_OPT_LARGE_THRESHOLD);
  if (hak_learn_on && limit > HAK_LEARN_MIN) limit = HAK_LEARN_MIN;  // sites decide from here up
  hak_fast_limit = hak_opt(HAK_OPT_SITE_SAMPLE) || hak_checked || hak_profile_on ? 0 : limit;
  hak_fast_small = hak_fast_limit < HAK_SMALL_TABLE + 1 ? hak_fast_limit : HAK_SMALL_TABLE + 1;
  hak_large_configure();
}

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
  hak_heap_global_init();   // registers the pools' fork handler (the heaps lock) first,
  hak_large_global_init();  // then the large engine's (batch, BigCache, spare pool),
  hak_learn_init();         // then the learning engine's (its arena, every site),
  hak_checked_fork_register();        // then checked mode's leaf locks: its quarantine's
  hak_checked_guard_fork_register();  // and its guard region's
  hak_fork_install();
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
// At exit the kernel takes every mapping back at once: unmapping the
// caches and empty segments first only costs the exit its munmaps (a
// fifth of a small program's time over glibc's). The report, when asked
// for, still describes the trimmed state, as hak_shutdown's does.
__attribute__((destructor)) static void hak_destructor(void) {
  if (hak_opt(HAK_OPT_VERBOSE)) hak_shutdown();
  else if (atomic_load_explicit(&hak_init_state, memory_order_acquire) == HAK_INIT_DONE) hak_profile_write();
}
