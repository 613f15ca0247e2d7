/* alloc.h — the front door's internal entry points (layer L5), for
 * override.c: each takes the call site explicitly so that the libc names can
 * pass their own caller's address.
 */
#ifndef HAK_ALLOC_H
#define HAK_ALLOC_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "hakmem/config.h"

HAK_INTERNAL void *hak_calloc_at(size_t n, size_t size, uintptr_t site);
HAK_INTERNAL void *hak_realloc_at(void *p, size_t size, uintptr_t site);
HAK_INTERNAL void *hak_aligned_at(size_t align, size_t size, uintptr_t site);

/* True once hak_init has finished. */
HAK_INTERNAL extern _Atomic int hak_init_state;
#define HAK_INIT_DONE 2

#endif /* HAK_ALLOC_H */
