/* log.h — text output without allocation (layer L0).
 *
 * hak_buf_* formats into a caller's buffer and keeps counting past its end,
 * so callers learn the length a whole document needs (like snprintf). The
 * format language is a small subset of printf: %s %c %d %u %x %p %%, with
 * the length modifiers l, ll and z; no widths, no floats. Output to a file
 * descriptor goes through write(2) only. Nothing here allocates or locks.
 */
#ifndef HAK_LOG_H
#define HAK_LOG_H

#include <stdarg.h>
#include <stddef.h>

#include "hakmem/config.h"

typedef struct hak_buf {
  char *data;  /* may be NULL when cap == 0 */
  size_t cap;  /* bytes available at data, including the final NUL */
  size_t len;  /* bytes the text needs so far (may exceed cap) */
} hak_buf_t;

HAK_INTERNAL void hak_buf_init(hak_buf_t *b, char *data, size_t cap);
HAK_INTERNAL void hak_buf_putc(hak_buf_t *b, char c);
HAK_INTERNAL void hak_buf_puts(hak_buf_t *b, const char *s);
HAK_INTERNAL void hak_buf_vprintf(hak_buf_t *b, const char *fmt, va_list ap);
HAK_INTERNAL __attribute__((format(printf, 2, 3))) void hak_buf_printf(hak_buf_t *b, const char *fmt, ...);
/* Writes the NUL (truncating if needed) and returns b->len. */
HAK_INTERNAL size_t hak_buf_finish(hak_buf_t *b);

/* Write all of s (len bytes) to fd, retrying on EINTR and short writes. */
HAK_INTERNAL void hak_write_all(int fd, const char *s, size_t len);
/* "hakmem: <formatted>\n" to stderr, at most 512 bytes. */
HAK_INTERNAL __attribute__((format(printf, 1, 2))) void hak_log(const char *fmt, ...);
/* Formatted text to fd through a 1 KiB stack buffer (longer text is cut). */
HAK_INTERNAL __attribute__((format(printf, 2, 3))) void hak_dprintf(int fd, const char *fmt, ...);

#endif /* HAK_LOG_H */
