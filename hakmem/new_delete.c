/* new_delete.c — the C++ allocation names (layer L6, beside override.c):
 * operator new and delete in every form the Itanium C++ ABI defines (plain
 * and array; nothrow; sized delete; std::align_val_t with its nothrow and
 * sized forms). Linked only into libhakmem.so and //hakmem:malloc.
 *
 * The site of a new is its caller: the program's code, not a libstdc++
 * function that called malloc. Semantics are the standard's:
 *   - a throwing new that cannot allocate calls the installed
 *     std::new_handler in a loop and throws std::bad_alloc when there is
 *     none (the program's catch works: this file has unwind tables);
 *   - the nothrow forms return NULL instead of throwing (they call the
 *     new_handler too; one that throws propagates, where libstdc++ would
 *     catch it);
 *   - aligned new honours every power-of-two alignment (up to the large
 *     engine's 256 MiB); another alignment is bad_alloc;
 *   - sized delete passes the size on: checked mode (HAKMEM_CHECK=1) aborts
 *     when it is not the block's, and on new/delete vs new[]/delete[] vs
 *     malloc/free mismatches (checked.h).
 * Written in C: the C++ runtime (std::get_new_handler, the exception ABI,
 * std::bad_alloc's type information) is reached through weak references, so
 * libhakmem.so does not load libstdc++ into C programs. A program that calls
 * operator new has it loaded, so they resolve; without it an allocation
 * failure of a throwing new aborts with a message.
 * The fast paths are malloc's and free's (alloc.h): a new+delete pair costs
 * what a malloc+free pair does (checked mode is tested on delete's miss).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

// The pools' inline fast path (heap.h), with its miss going to new_pool_miss
// in this file: a miss that finds no memory must run the new_handler loop,
// and checking the pools' result after the call would give the fast path a
// stack frame. (In this file only; nothing here uses malloc's front door.)
#define hak_heap_alloc_slow hak_new_pool_miss
#include "hakmem/heap.h"
#undef hak_heap_alloc_slow
HAK_INTERNAL void *hak_heap_alloc_slow(size_t size);

#include "hakmem/alloc.h"
#include "hakmem/checked.h"
#include "hakmem/include/hakmem.h"
#include "hakmem/log.h"

#define HAK_EXPORT __attribute__((visibility("default")))
#define CALLER ((uintptr_t)__builtin_return_address(0))
#define WEAK __attribute__((weak))

typedef void (*hak_new_handler_t)(void);
extern hak_new_handler_t hak_cxx_get_new_handler(void) __asm__("_ZSt15get_new_handlerv") WEAK;
extern void *hak_cxx_allocate_exception(size_t size) __asm__("__cxa_allocate_exception") WEAK;
extern __attribute__((noreturn)) void hak_cxx_throw(void *obj, void *type, void (*dtor)(void *)) __asm__(
    "__cxa_throw") WEAK;
extern char hak_cxx_bad_alloc_type[] __asm__("_ZTISt9bad_alloc") WEAK;
extern char hak_cxx_bad_alloc_vtable[] __asm__("_ZTVSt9bad_alloc") WEAK;
extern void hak_cxx_bad_alloc_dtor(void *obj) __asm__("_ZNSt9bad_allocD1Ev") WEAK;

static HAK_NOINLINE __attribute__((noreturn, cold)) void throw_bad_alloc(void) {
  if (hak_cxx_allocate_exception && hak_cxx_throw && hak_cxx_bad_alloc_type && hak_cxx_bad_alloc_vtable &&
      hak_cxx_bad_alloc_dtor) {
    // std::bad_alloc is one vtable pointer; it points past the vtable's
    // offset-to-top and type-information words.
    void **e = hak_cxx_allocate_exception(sizeof(void *));
    *e = hak_cxx_bad_alloc_vtable + 2 * sizeof(void *);
    hak_cxx_throw(e, hak_cxx_bad_alloc_type, hak_cxx_bad_alloc_dtor);
  }
  hak_log("operator new: out of memory and no C++ runtime loaded to throw std::bad_alloc");
  abort();
}

// Every request the fast path did not serve, and the new_handler loop.
static HAK_NOINLINE void *new_slow(size_t size, size_t align, uintptr_t site, hak_alloc_kind_t kind, int nothrow) {
  for (;;) {
    void *p = hak_new_at(size, align, site, kind);
    if (HAK_LIKELY(p != NULL)) return p;
    hak_new_handler_t h = hak_cxx_get_new_handler ? hak_cxx_get_new_handler() : NULL;
    if (!h) {
      if (nothrow) return NULL;
      throw_bad_alloc();
    }
    h();
  }
}

// The pools' miss for a throwing new. Below hak_fast_limit the site and the
// kind play no part (no sampling, no checked mode: they set the limit to 0).
void *hak_new_pool_miss(size_t size) {
  void *p = hak_heap_alloc_slow(size);
  return HAK_LIKELY(p != NULL) ? p : new_slow(size, 0, 0, HAK_KIND_NEW, 0);
}

// Past hak_fast_limit: a quiet learning site's pooled sizes as malloc's
// front door serves them (alloc_quiet.c), else the slow path. Its own function, a
// tail call, so that the pools' path below keeps no frame.
static HAK_NOINLINE void *new_beyond(size_t size, uintptr_t site, hak_alloc_kind_t kind) {
  void *q = hak_new_quiet(size, site);
  return HAK_LIKELY(q != NULL) ? q : new_slow(size, 0, site, kind, 0);
}

// A throwing new above 1 KiB: the pools up to hak_fast_limit, then the rest.
static HAK_NOINLINE void *new_above_small(size_t size, uintptr_t site, hak_alloc_kind_t kind) {
  if (HAK_LIKELY(size < hak_fast_limit)) return hak_heap_alloc(size);
  return new_beyond(size, site, kind);
}

// A throwing new: malloc's fast path. A macro so that CALLER is read only on
// the slow branch.
#define NEW_AT(size, kind)                                                      \
  do {                                                                          \
    if (HAK_LIKELY((size) < hak_fast_small)) return hak_heap_alloc_small(size); \
    return new_above_small((size), CALLER, (kind));                             \
  } while (0)

// A nothrow new: NULL instead of bad_alloc, so not the throwing miss.
#define NEW_NOTHROW_AT(size, kind)                                  \
  do {                                                              \
    if (HAK_LIKELY((size) < hak_fast_limit)) {                      \
      void *p_ = hak_alloc_at((size), 0);                           \
      if (HAK_LIKELY(p_ != NULL)) return p_;                        \
    }                                                               \
    return new_slow((size), 0, CALLER, (kind), 1);                  \
  } while (0)

// delete: free's fast path, with the checked-mode test on its miss. Checked
// mode's pool pointers follow HAK_CHECKED_HEAD canary bytes, so they are
// never a block's start and always miss, as its large blocks do (their map
// entries are no heap's tag): the test costs the fast path nothing.
_Static_assert(HAK_CHECKED_HEAD % HAK_MIN_ALIGN == 0 && HAK_CHECKED_HEAD > 0, "checked pointers must miss");
// (size before kind: a sized delete's size stays in its register.)
static HAK_NOINLINE void delete_miss(void *p, size_t size, hak_alloc_kind_t kind) {
  if (HAK_UNLIKELY(hak_checked)) hak_delete_checked(p, kind, size);
  else hak_free_slow(p);
}

HAK_INLINE void delete_at(void *p, hak_alloc_kind_t kind, size_t size) {
  if (HAK_LIKELY(hak_heap_free_fast(p))) return;
  delete_miss(p, size, kind);
}

// The ABI's names. nothrow_t arrives as a reference nobody reads.
typedef struct hak_nothrow hak_nothrow_t;

HAK_EXPORT void *_Znwm(size_t size);
HAK_EXPORT void *_Znam(size_t size);
HAK_EXPORT void *_ZnwmRKSt9nothrow_t(size_t size, const hak_nothrow_t *nt);
HAK_EXPORT void *_ZnamRKSt9nothrow_t(size_t size, const hak_nothrow_t *nt);
HAK_EXPORT void *_ZnwmSt11align_val_t(size_t size, size_t align);
HAK_EXPORT void *_ZnamSt11align_val_t(size_t size, size_t align);
HAK_EXPORT void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t size, size_t align, const hak_nothrow_t *nt);
HAK_EXPORT void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t size, size_t align, const hak_nothrow_t *nt);
HAK_EXPORT void _ZdlPv(void *p);
HAK_EXPORT void _ZdaPv(void *p);
HAK_EXPORT void _ZdlPvm(void *p, size_t size);
HAK_EXPORT void _ZdaPvm(void *p, size_t size);
HAK_EXPORT void _ZdlPvRKSt9nothrow_t(void *p, const hak_nothrow_t *nt);
HAK_EXPORT void _ZdaPvRKSt9nothrow_t(void *p, const hak_nothrow_t *nt);
HAK_EXPORT void _ZdlPvSt11align_val_t(void *p, size_t align);
HAK_EXPORT void _ZdaPvSt11align_val_t(void *p, size_t align);
HAK_EXPORT void _ZdlPvmSt11align_val_t(void *p, size_t size, size_t align);
HAK_EXPORT void _ZdaPvmSt11align_val_t(void *p, size_t size, size_t align);
HAK_EXPORT void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *p, size_t align, const hak_nothrow_t *nt);
HAK_EXPORT void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *p, size_t align, const hak_nothrow_t *nt);

void *_Znwm(size_t size) { NEW_AT(size, HAK_KIND_NEW); }
void *_Znam(size_t size) { NEW_AT(size, HAK_KIND_NEW_ARRAY); }
void *_ZnwmRKSt9nothrow_t(size_t size, const hak_nothrow_t *nt) { NEW_NOTHROW_AT(size, HAK_KIND_NEW); }
void *_ZnamRKSt9nothrow_t(size_t size, const hak_nothrow_t *nt) { NEW_NOTHROW_AT(size, HAK_KIND_NEW_ARRAY); }
void *_ZnwmSt11align_val_t(size_t size, size_t align) { return new_slow(size, align, CALLER, HAK_KIND_NEW, 0); }
void *_ZnamSt11align_val_t(size_t size, size_t align) {
  return new_slow(size, align, CALLER, HAK_KIND_NEW_ARRAY, 0);
}
void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t size, size_t align, const hak_nothrow_t *nt) {
  return new_slow(size, align, CALLER, HAK_KIND_NEW, 1);
}
void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t size, size_t align, const hak_nothrow_t *nt) {
  return new_slow(size, align, CALLER, HAK_KIND_NEW_ARRAY, 1);
}

void _ZdlPv(void *p) { delete_at(p, HAK_KIND_NEW, 0); }
void _ZdaPv(void *p) { delete_at(p, HAK_KIND_NEW_ARRAY, 0); }
void _ZdlPvm(void *p, size_t size) { delete_at(p, HAK_KIND_NEW, size); }
void _ZdaPvm(void *p, size_t size) { delete_at(p, HAK_KIND_NEW_ARRAY, size); }
void _ZdlPvRKSt9nothrow_t(void *p, const hak_nothrow_t *nt) { delete_at(p, HAK_KIND_NEW, 0); }
void _ZdaPvRKSt9nothrow_t(void *p, const hak_nothrow_t *nt) { delete_at(p, HAK_KIND_NEW_ARRAY, 0); }
void _ZdlPvSt11align_val_t(void *p, size_t align) { delete_at(p, HAK_KIND_NEW, 0); }
void _ZdaPvSt11align_val_t(void *p, size_t align) { delete_at(p, HAK_KIND_NEW_ARRAY, 0); }
void _ZdlPvmSt11align_val_t(void *p, size_t size, size_t align) { delete_at(p, HAK_KIND_NEW, size); }
void _ZdaPvmSt11align_val_t(void *p, size_t size, size_t align) { delete_at(p, HAK_KIND_NEW_ARRAY, size); }
void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *p, size_t align, const hak_nothrow_t *nt) {
  delete_at(p, HAK_KIND_NEW, 0);
}
void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *p, size_t align, const hak_nothrow_t *nt) {
  delete_at(p, HAK_KIND_NEW_ARRAY, 0);
}
