/* profile_impl.h — the heap profile's state (layer L5), shared by
 * profile.c (sampling, the pointer table) and profile_write.c (the file),
 * private to the two. Everything in hak_prof is under hak_prof.lock.
 */
#ifndef HAK_PROFILE_IMPL_H
#define HAK_PROFILE_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hakmem/config.h"
#include "hakmem/lock.h"
#include "hakmem/profile.h"

#define FILTER_SLOTS HAK_PROFILE_FILTER_SLOTS
#define FRAMES_MAX 32u
#define TABLE_MIN 4096u

typedef struct cell {
  uint64_t alloc_n, alloc_b, live_n, live_b;
} cell_t;

typedef struct sample {
  uintptr_t p; /* 0: empty slot */
  uint64_t size;
  uint32_t cell; /* site * HAK_SITE_HIST + bucket */
  uint32_t pad;
} sample_t;

typedef struct hak_profile_state {
  hak_lock_t lock;
  cell_t *cells;                /* HAK_SITE_CAP * HAK_SITE_HIST */
  sample_t *table;
  size_t cap, live;             /* cap: a power of two */
  uint64_t period;
  uint64_t interval_ms, last_write_ms;
  uint64_t samples, dropped;
  bool mapped, atfork;
} hak_profile_state_t;

HAK_INTERNAL extern hak_profile_state_t hak_prof;

/* Write the profile now (hak_prof.lock held); false if it could not be. */
HAK_INTERNAL bool hak_profile_write_locked(void);

#endif /* HAK_PROFILE_IMPL_H */
