/* log.c — text formatting into fixed buffers and write(2) output (layer L0).
 *
 * Used from inside the allocator, so it must not allocate, lock or call any
 * libc function that might (no stdio). Callers: stats.c (JSON, reports),
 * options.c (warnings), check.h (fatal messages).
 */
#include "hakmem/log.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "hakmem/check.h"

// --- buffer -------------------------------------------------------------------

void hak_buf_init(hak_buf_t *b, char *data, size_t cap) {
  b->data = data;
  b->cap = data ? cap : 0;
  b->len = 0;
}

void hak_buf_putc(hak_buf_t *b, char c) {
  if (b->len + 1 < b->cap) b->data[b->len] = c;  // keep room for the NUL
  b->len++;
}

void hak_buf_puts(hak_buf_t *b, const char *s) {
  if (!s) s = "(null)";
  while (*s) hak_buf_putc(b, *s++);
}

static void buf_put_unsigned(hak_buf_t *b, unsigned long long v, unsigned base) {
  char tmp[24];
  int n = 0;
  do {
    unsigned d = (unsigned)(v % base);
    tmp[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
    v /= base;
  } while (v);
  while (n) hak_buf_putc(b, tmp[--n]);
}

static void buf_put_signed(hak_buf_t *b, long long v) {
  if (v < 0) {
    hak_buf_putc(b, '-');
    buf_put_unsigned(b, (unsigned long long)0 - (unsigned long long)v, 10);
  } else {
    buf_put_unsigned(b, (unsigned long long)v, 10);
  }
}

void hak_buf_vprintf(hak_buf_t *b, const char *fmt, va_list ap) {
  for (const char *f = fmt; *f; f++) {
    if (*f != '%') {
      hak_buf_putc(b, *f);
      continue;
    }
    f++;
    int lng = 0, size_t_mod = 0;
    while (*f == 'l') {
      lng++;
      f++;
    }
    if (*f == 'z') {
      size_t_mod = 1;
      f++;
    }
    switch (*f) {
      case 's': hak_buf_puts(b, va_arg(ap, const char *)); break;
      case 'c': hak_buf_putc(b, (char)va_arg(ap, int)); break;
      case 'd':
        if (size_t_mod) buf_put_signed(b, (long long)va_arg(ap, ptrdiff_t));
        else if (lng >= 2) buf_put_signed(b, va_arg(ap, long long));
        else if (lng == 1) buf_put_signed(b, va_arg(ap, long));
        else buf_put_signed(b, va_arg(ap, int));
        break;
      case 'u':
      case 'x': {
        unsigned base = *f == 'u' ? 10 : 16;
        unsigned long long v;
        if (size_t_mod) v = va_arg(ap, size_t);
        else if (lng >= 2) v = va_arg(ap, unsigned long long);
        else if (lng == 1) v = va_arg(ap, unsigned long);
        else v = va_arg(ap, unsigned);
        buf_put_unsigned(b, v, base);
        break;
      }
      case 'p':
        hak_buf_puts(b, "0x");
        buf_put_unsigned(b, (uintptr_t)va_arg(ap, void *), 16);
        break;
      case '%': hak_buf_putc(b, '%'); break;
      case '\0': return;  // a lone '%' at the end
      default:
        hak_buf_putc(b, '%');
        hak_buf_putc(b, *f);
        break;
    }
  }
}

void hak_buf_printf(hak_buf_t *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  hak_buf_vprintf(b, fmt, ap);
  va_end(ap);
}

size_t hak_buf_finish(hak_buf_t *b) {
  if (b->cap) b->data[b->len < b->cap ? b->len : b->cap - 1] = '\0';
  return b->len;
}

// --- output -------------------------------------------------------------------

void hak_write_all(int fd, const char *s, size_t len) {
  int saved = errno;
  while (len) {
    ssize_t n = write(fd, s, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    s += n;
    len -= (size_t)n;
  }
  errno = saved;
}

void hak_dprintf(int fd, const char *fmt, ...) {
  char tmp[1024];
  hak_buf_t b;
  hak_buf_init(&b, tmp, sizeof tmp);
  va_list ap;
  va_start(ap, fmt);
  hak_buf_vprintf(&b, fmt, ap);
  va_end(ap);
  size_t n = hak_buf_finish(&b);
  hak_write_all(fd, tmp, n < sizeof tmp ? n : sizeof tmp - 1);
}

void hak_log(const char *fmt, ...) {
  char tmp[512];
  hak_buf_t b;
  hak_buf_init(&b, tmp, sizeof tmp);
  hak_buf_puts(&b, "hakmem: ");
  va_list ap;
  va_start(ap, fmt);
  hak_buf_vprintf(&b, fmt, ap);
  va_end(ap);
  hak_buf_putc(&b, '\n');
  size_t n = hak_buf_finish(&b);
  if (n >= sizeof tmp) {  // cut: keep the newline
    n = sizeof tmp - 1;
    tmp[n - 1] = '\n';
  }
  hak_write_all(2, tmp, n);
}

void hak_fatal(const char *msg, const char *file, int line) {
  hak_log("fatal: %s (%s:%d)", msg, file, line);
  abort();
}
