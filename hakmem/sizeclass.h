/* sizeclass.h — size classes of the small/mid pools (layer L2).
 *
 * Classes cover 0 .. HAK_POOL_MAX bytes, every one a multiple of 16 (so every
 * block is 16-byte aligned): 16, 32, ... 128 in steps of 16, then eight
 * classes per doubling (step = 1/8 of the lower power of two). A request of
 * s bytes gets the smallest class >= s, so rounding waste is below 12.5%
 * (at most 15 bytes for s <= 128).
 *
 * Each class lives on pages of one kind (segment.h): small pages (64 KiB)
 * up to 8 KiB blocks, medium pages (512 KiB) up to 64 KiB, and whole-segment
 * pages above. Pure functions and tables; no state.
 */
#ifndef HAK_SIZECLASS_H
#define HAK_SIZECLASS_H

#include <stddef.h>
#include <stdint.h>

#include "hakmem/config.h"
#include "hakmem/libc.h"

#define HAK_POOL_MAX ((size_t)512 << 10) /* largest pool block */
#define HAK_CLASSES 104u                 /* 8 up to 128, then 8 per doubling up to 512 KiB */

typedef enum hak_page_kind {
  HAK_PAGE_SMALL = 0,  /* 64 KiB pages, 64 per segment (the first holds the header) */
  HAK_PAGE_MEDIUM = 1, /* 512 KiB pages, 8 per segment */
  HAK_PAGE_WHOLE = 2,  /* one page: the segment less its header */
  HAK_PAGE_KINDS
} hak_page_kind_t;

#define HAK_SMALL_TABLE 1024u /* sizes up to this one are looked up */
HAK_INTERNAL extern const uint8_t hak_class_of_size[HAK_SMALL_TABLE + 1]; /* size -> class, size <= 1024 */

/* Class of a request of `size` bytes (size <= HAK_POOL_MAX). */
/* (size_t, so that an array index needs no extension after either branch.) */
HAK_INLINE size_t hak_size_class(size_t size) {
  if (HAK_LIKELY(size <= HAK_SMALL_TABLE)) return hak_class_of_size[size];
  size_t b = hak_log2(size - 1);  // 2^b < size <= 2^(b+1), b >= 10
  size_t shift = b - 3;
  return 8 + (b - 7) * 8 + (((size - 1) >> shift) & 7);
}

/* Block size of class cls (its upper bound). */
HAK_INLINE size_t hak_class_size(unsigned cls) {
  if (cls < 8) return (size_t)(cls + 1) * 16;
  unsigned b = 7 + (cls - 8) / 8, sub = (cls - 8) % 8;
  return (size_t)(8 + sub + 1) << (b - 3);
}

HAK_INLINE hak_page_kind_t hak_class_kind(unsigned cls) {
  size_t s = hak_class_size(cls);
  return s <= ((size_t)8 << 10) ? HAK_PAGE_SMALL : s <= ((size_t)64 << 10) ? HAK_PAGE_MEDIUM : HAK_PAGE_WHOLE;
}

#endif /* HAK_SIZECLASS_H */
