/* route.h — where a request goes: the pools or the large engine (layer L5).
 * The one rule every allocation path uses: the front door's static route
 * (threshold = HAKMEM_LARGE_THRESHOLD), a learning site's route (its
 * strategy's threshold, learn.h) and checked mode's (the request with its
 * canaries and trailer).
 *
 * A request goes to the large engine from the threshold up, and whenever the
 * pools cannot hold it: its span (the size plus an over-alignment's slack)
 * reaches HAK_POOL_MAX, the largest pool block. Below, it goes to the pools
 * (hak_heap_aligned when over-aligned). size <= HAK_MAX_REQUEST; align 0 or
 * a power of two.
 */
#ifndef HAK_ROUTE_H
#define HAK_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "hakmem/config.h"
#include "hakmem/sizeclass.h"

HAK_INLINE bool hak_route_large(size_t size, size_t align, size_t threshold) {
  if (size >= threshold || size >= HAK_POOL_MAX) return true;
  return align > HAK_MIN_ALIGN && (align >= HAK_POOL_MAX || size + align >= HAK_POOL_MAX || size + align >= threshold);
}

#endif /* HAK_ROUTE_H */
