/* small.h — the small path: requests below the large threshold (layer L3).
 *
 * Until the small/mid pools land (they replace this file), glibc's own
 * allocator serves these requests through its __libc_* entry points, which
 * exist for exactly this purpose (an interposing malloc delegating). A
 * pointer is glibc's when addrmap.c says it is not hakmem's.
 */
#ifndef HAK_SMALL_H
#define HAK_SMALL_H

#include <stddef.h>

#include "hakmem/config.h"

HAK_INTERNAL void *hak_small_alloc(size_t size);
HAK_INTERNAL void *hak_small_calloc(size_t n, size_t size);
HAK_INTERNAL void *hak_small_memalign(size_t align, size_t size);
HAK_INTERNAL void *hak_small_realloc(void *p, size_t size);
HAK_INTERNAL void hak_small_free(void *p);
HAK_INTERNAL size_t hak_small_usable(void *p);

#endif /* HAK_SMALL_H */
