/* override_libc.c — the libc allocation names override.c does not cover
 * (layer L6): glibc's internal aliases, cfree, C23's sized frees and the
 * introspection calls. Linked with override.c into //hakmem:malloc and
 * libhakmem.so only.
 *
 * Why: a program or library that calls __libc_malloc, __libc_free, cfree ...
 * would otherwise reach glibc's allocator with hakmem's pointers (a crash,
 * or glibc's "invalid pointer" abort), and mallinfo / malloc_info would
 * describe glibc's empty heap. Every name here goes through the front door
 * (alloc.h) like malloc does; the call site is the caller's return address.
 *
 * mallinfo/mallinfo2 report hakmem's counters (stats.h; all zero at
 * HAK_STATS=0):
 *   arena     bytes mapped for the pools      hblkhd   bytes mapped for large blocks
 *   hblks     large blocks live               uordblks bytes in use: large blocks'
 *   ordblks   pool segments                            requests + pool memory mapped
 *   fordblks  0 (hakmem does not track free pool bytes); the rest 0.
 * mallopt accepts glibc's parameters and ignores them (hakmem's own options
 * are HAKMEM_* variables), returning glibc's answer: 1, or 0 for a value
 * glibc refuses (M_MXFAST above 160, M_MMAP_THRESHOLD above 32 MiB, an
 * unknown parameter).
 */
#include <errno.h>
#include <malloc.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "hakmem/alloc.h"
#include "hakmem/checked.h"
#include "hakmem/libc.h"
#include "hakmem/stats.h"

#define HAK_EXPORT __attribute__((visibility("default")))
#define CALLER ((uintptr_t)__builtin_return_address(0))

// glibc 2.36's headers no longer declare these (or not yet: C23).
HAK_EXPORT void cfree(void *p);
HAK_EXPORT void *__libc_malloc(size_t size);
HAK_EXPORT void __libc_free(void *p);
HAK_EXPORT void *__libc_calloc(size_t n, size_t size);
HAK_EXPORT void *__libc_realloc(void *p, size_t size);
HAK_EXPORT void *__libc_memalign(size_t align, size_t size);
HAK_EXPORT void *__libc_valloc(size_t size);
HAK_EXPORT void *__libc_pvalloc(size_t size);
HAK_EXPORT void free_sized(void *p, size_t size);
HAK_EXPORT void free_aligned_sized(void *p, size_t align, size_t size);

HAK_EXPORT void cfree(void *p) { hak_front_free(p); }
HAK_EXPORT void *__libc_malloc(size_t size) { return hak_front_alloc(size, CALLER); }
HAK_EXPORT void __libc_free(void *p) { hak_front_free(p); }
HAK_EXPORT void *__libc_calloc(size_t n, size_t size) { return hak_calloc_at(n, size, CALLER); }
HAK_EXPORT void *__libc_realloc(void *p, size_t size) { return hak_realloc_at(p, size, CALLER); }

// As override.c's memalign, valloc and pvalloc (their rounding rules); a
// tail call keeps the program's return address as the call site.
HAK_EXPORT void *__libc_memalign(size_t align, size_t size) { __attribute__((musttail)) return memalign(align, size); }
HAK_EXPORT void *__libc_valloc(size_t size) { __attribute__((musttail)) return valloc(size); }
HAK_EXPORT void *__libc_pvalloc(size_t size) { __attribute__((musttail)) return pvalloc(size); }

// C23: size (and align) must be what the block was asked for; checked mode
// verifies the size, release mode trusts it.
HAK_EXPORT void free_sized(void *p, size_t size) {
  if (HAK_UNLIKELY(hak_checked) && p) hak_checked_verify_free(p, HAK_KIND_MALLOC, size);
  hak_front_free(p);
}

HAK_EXPORT void free_aligned_sized(void *p, size_t align, size_t size) {
  if (HAK_UNLIKELY(hak_checked) && p) {
    if (!hak_is_pow2(align) || (uintptr_t)p % align) hak_checked_foreign(p, "free_aligned_sized");
    hak_checked_verify_free(p, HAK_KIND_MALLOC, size);
  }
  hak_front_free(p);
}

// --- introspection ------------------------------------------------------------------

static struct mallinfo2 info(void) {
  struct mallinfo2 m = {0};
  uint64_t allocs = hak_stat_read(HAK_STAT_large_allocs), frees = hak_stat_read(HAK_STAT_large_frees);
  m.arena = (size_t)hak_stat_read(HAK_STAT_os_bytes_mapped_pools);
  m.ordblks = (size_t)hak_stat_read(HAK_STAT_pool_segments);
  m.hblks = (size_t)(allocs > frees ? allocs - frees : 0);
  m.hblkhd = (size_t)hak_stat_read(HAK_STAT_os_bytes_mapped);
  m.uordblks = (size_t)hak_stat_read(HAK_STAT_large_bytes_live) + m.arena;
  return m;
}

HAK_EXPORT struct mallinfo2 mallinfo2(void) { return info(); }

static int clamp_int(size_t v) { return v > INT32_MAX ? INT32_MAX : (int)v; }

HAK_EXPORT struct mallinfo mallinfo(void) {
  struct mallinfo2 m = info();
  struct mallinfo r = {0};
  r.arena = clamp_int(m.arena);
  r.ordblks = clamp_int(m.ordblks);
  r.hblks = clamp_int(m.hblks);
  r.hblkhd = clamp_int(m.hblkhd);
  r.uordblks = clamp_int(m.uordblks);
  return r;
}

HAK_EXPORT int mallopt(int param, int value) {
  switch (param) {
    case M_MXFAST:
      return value >= 0 && value <= 160;  // glibc: 80 * sizeof(size_t) / 4
    case M_MMAP_THRESHOLD:
      return value >= 0 && (size_t)value <= ((size_t)32 << 20);  // glibc: HEAP_MAX_SIZE / 2
    case M_TRIM_THRESHOLD:
    case M_TOP_PAD:
    case M_MMAP_MAX:
    case M_CHECK_ACTION:
    case M_PERTURB:
    case M_ARENA_TEST:
    case M_ARENA_MAX:
      return 1;
    default:
      return 0;
  }
}

HAK_EXPORT int malloc_info(int options, FILE *out) {
  if (options != 0) {
    errno = EINVAL;
    return -1;
  }
  struct mallinfo2 m = info();
  fprintf(out,
          "<malloc version=\"hakmem\">\n"
          "<heap nr=\"0\">\n"
          "<system type=\"current\" size=\"%zu\"/>\n"
          "<aspace type=\"total\" size=\"%zu\"/>\n"
          "</heap>\n"
          "<total type=\"mmap\" count=\"%zu\" size=\"%zu\"/>\n"
          "<system type=\"current\" size=\"%zu\"/>\n"
          "<aspace type=\"total\" size=\"%zu\"/>\n"
          "</malloc>\n",
          m.arena, m.arena, m.hblks, m.hblkhd, m.arena + m.hblkhd, m.arena + m.hblkhd);
  return 0;
}
