/* lock.h — a small spin lock for short critical sections (layer L0).
 *
 * hakmem never holds a lock across a system call that can block for long and
 * never allocates under one, so critical sections are a few hundred
 * instructions at most; spinning then yielding beats a futex round trip.
 * fork(): every module that owns locks registers a fork handler (fork.h)
 * that takes all of them before fork and releases them in parent and child,
 * so a child never inherits a lock held by a thread it does not have (the
 * heap profile and checked mode call pthread_atfork for their one lock
 * each). A new lock belongs in its module's handler.
 * Not recursive. Zero-initialised memory is an unlocked lock.
 */
#ifndef HAK_LOCK_H
#define HAK_LOCK_H

#include <sched.h>
#include <stdbool.h>
#include <stdatomic.h>

#include "hakmem/config.h"

typedef struct hak_lock {
  atomic_int held;
} hak_lock_t;

#define HAK_LOCK_INIT {0}

HAK_INLINE void hak_lock(hak_lock_t *l) {
  for (unsigned spins = 0;; spins++) {
    if (!atomic_load_explicit(&l->held, memory_order_relaxed) &&
        !atomic_exchange_explicit(&l->held, 1, memory_order_acquire))
      return;
    if (spins >= 64) sched_yield();
#if defined(__x86_64__)
    else __builtin_ia32_pause();
#endif
  }
}

HAK_INLINE bool hak_trylock(hak_lock_t *l) {
  return !atomic_load_explicit(&l->held, memory_order_relaxed) &&
         !atomic_exchange_explicit(&l->held, 1, memory_order_acquire);
}

HAK_INLINE void hak_unlock(hak_lock_t *l) { atomic_store_explicit(&l->held, 0, memory_order_release); }

#endif /* HAK_LOCK_H */
