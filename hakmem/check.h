/* check.h — checks that abort with a fixed message (layer L0).
 *
 * HAK_CHECK(cond, msg) is always compiled in: it guards memory safety (never
 * hand out the same memory twice, never follow a corrupt header). A failed
 * check writes "hakmem: <msg> (file:line)" with write(2) and aborts; it never
 * allocates. The levels of config.h add:
 *   HAK_ASSERT(cond)           HAK_DEBUG >= 1
 *   HAK_ASSERT_INTERNAL(cond)  HAK_DEBUG >= 2
 *   HAK_DEBUG_WALK(walker)     HAK_DEBUG >= 3: walker is a call of an
 *                              invariant walker (a bool function, e.g.
 *                              hak_heap_is_valid()); false aborts with
 *                              "invariant walker failed: <walker>". Put it
 *                              after slow-path operations, never on a fast
 *                              path: walkers visit whole structures.
 * Below their level they compile to nothing: the argument is type-checked
 * (sizeof) and never evaluated.
 */
#ifndef HAK_CHECK_H
#define HAK_CHECK_H

#include "hakmem/config.h"

HAK_INTERNAL __attribute__((noreturn, cold)) void hak_fatal(const char *msg, const char *file, int line);

#define HAK_CHECK(cond, msg)                                   \
  do {                                                         \
    if (HAK_UNLIKELY(!(cond))) hak_fatal((msg), __FILE__, __LINE__); \
  } while (0)

#if HAK_DEBUG >= 1
#define HAK_ASSERT(cond) HAK_CHECK(cond, "assertion failed: " #cond)
#else
#define HAK_ASSERT(cond) ((void)sizeof(!(cond)))
#endif

#if HAK_DEBUG >= 2
#define HAK_ASSERT_INTERNAL(cond) HAK_CHECK(cond, "internal assertion failed: " #cond)
#else
#define HAK_ASSERT_INTERNAL(cond) ((void)sizeof(!(cond)))
#endif

#if HAK_DEBUG >= 3
#define HAK_DEBUG_WALK(walker) HAK_CHECK(walker, "invariant walker failed: " #walker)
#else
#define HAK_DEBUG_WALK(walker) ((void)sizeof(!(walker)))
#endif

#endif /* HAK_CHECK_H */
