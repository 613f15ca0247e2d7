/* libc.h — the few string and number helpers hakmem needs before libc is
 * safe to call (layer L0). Nothing here allocates, locks or reads the locale.
 */
#ifndef HAK_LIBC_H
#define HAK_LIBC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hakmem/config.h"

/* ASCII case-insensitive equality of two NUL-terminated strings. */
HAK_INTERNAL bool hak_streq_nocase(const char *a, const char *b);

/* Parses a byte size: decimal digits with an optional K/M/G/T suffix (binary,
 * case-insensitive, an optional trailing 'B' or 'iB'). Rejects empty input,
 * signs, junk and overflow. Returns true and stores the value on success. */
HAK_INTERNAL bool hak_parse_size(const char *s, uint64_t *out);

/* Parses a plain unsigned decimal integer (no suffix). */
HAK_INTERNAL bool hak_parse_uint(const char *s, uint64_t *out);

/* Parses on/off words: 1/0, on/off, yes/no, true/false. */
HAK_INTERNAL bool hak_parse_bool(const char *s, bool *out);

/* Floor of log2(x) for x > 0. */
HAK_INLINE unsigned hak_log2(uint64_t x) { return 63u - (unsigned)__builtin_clzll(x); }

/* Round x up to a multiple of the power of two a; false on overflow. */
HAK_INLINE bool hak_align_up(size_t x, size_t a, size_t *out) {
  if (x > SIZE_MAX - (a - 1)) return false;
  *out = (x + a - 1) & ~(a - 1);
  return true;
}

HAK_INLINE bool hak_is_pow2(size_t x) { return x && !(x & (x - 1)); }

#endif /* HAK_LIBC_H */
