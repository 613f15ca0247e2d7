/* profile_write.c — the heap profile's file (layer L5): pprof's heap_v2 text
 * format, one record per (site × size bucket) with the site's frames, then
 * MAPPED_LIBRARIES (a copy of /proc/self/maps, read with open/read). Built
 * in a static buffer and written with write(2) to a temporary file that is
 * renamed over FILE ("%p" in the name: the process id); nothing here calls
 * malloc. Called by profile.c (intervals, under its lock) and at exit
 * (hak_profile_write). See profile.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>  // rename(2) only: no FILE here
#include <string.h>
#include <unistd.h>

#include "hakmem/callsite.h"
#include "hakmem/lock.h"
#include "hakmem/log.h"
#include "hakmem/options.h"
#include "hakmem/os.h"
#include "hakmem/profile.h"
#include "hakmem/profile_impl.h"
#include "hakmem/site.h"

static char out_buf[64 * 1024];

typedef struct writer {
  int fd;
  size_t len;
  bool failed;
} writer_t;

static void w_flush(writer_t *w) {
  if (!w->len) return;
  const char *s = out_buf;
  size_t left = w->len;
  while (left) {
    ssize_t n = write(w->fd, s, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      w->failed = true;
      break;
    }
    s += n;
    left -= (size_t)n;
  }
  w->len = 0;
}

// Append one line (at most 1 KiB of formatted text).
static __attribute__((format(printf, 2, 3))) void w_printf(writer_t *w, const char *fmt, ...) {
  if (sizeof out_buf - w->len < 1024) w_flush(w);
  hak_buf_t b;
  hak_buf_init(&b, out_buf + w->len, 1024);
  va_list ap;
  va_start(ap, fmt);
  hak_buf_vprintf(&b, fmt, ap);
  va_end(ap);
  size_t n = hak_buf_finish(&b);
  w->len += n < 1023 ? n : 1023;
}

static void w_maps(writer_t *w) {
  int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  for (;;) {
    if (w->len == sizeof out_buf) w_flush(w);
    ssize_t n = read(fd, out_buf + w->len, sizeof out_buf - w->len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    w->len += (size_t)n;
  }
  close(fd);
}

// FILE with "%p" replaced by the pid; false when it does not fit.
static bool profile_path(char *path, size_t cap) {
  const char *f = hak_opt_str(HAK_OPT_PROFILE);
  hak_buf_t b;
  hak_buf_init(&b, path, cap);
  for (; *f; f++) {
    if (f[0] == '%' && f[1] == 'p') {
      hak_buf_printf(&b, "%d", (int)getpid());
      f++;
    } else {
      hak_buf_putc(&b, *f);
    }
  }
  return hak_buf_finish(&b) < cap;
}

static void write_records(writer_t *w) {
  uint64_t in_n = 0, in_b = 0, al_n = 0, al_b = 0;
  const size_t cells = (size_t)HAK_SITE_CAP * HAK_SITE_HIST;
  for (size_t c = 0; c < cells; c++) {
    in_n += hak_prof.cells[c].live_n;
    in_b += hak_prof.cells[c].live_b;
    al_n += hak_prof.cells[c].alloc_n;
    al_b += hak_prof.cells[c].alloc_b;
  }
  w_printf(w, "heap profile: %llu: %llu [%llu: %llu] @ heap_v2/%llu\n", (unsigned long long)in_n,
           (unsigned long long)in_b, (unsigned long long)al_n, (unsigned long long)al_b,
           (unsigned long long)hak_prof.period);
  for (size_t c = 0; c < cells; c++) {
    const cell_t *cell = &hak_prof.cells[c];
    if (!cell->alloc_n) continue;
    uintptr_t frames[FRAMES_MAX];
    unsigned n = hak_site_frames((hak_site_id_t)(c / HAK_SITE_HIST), frames, FRAMES_MAX);
    if (!n) frames[n++] = 0;  // the shared "other sites" entry has no address
    w_printf(w, "%llu: %llu [%llu: %llu] @", (unsigned long long)cell->live_n, (unsigned long long)cell->live_b,
             (unsigned long long)cell->alloc_n, (unsigned long long)cell->alloc_b);
    // Frames are return addresses. pprof subtracts 1 from every frame but
    // the first (it expects the first to be a PC), so the first is written
    // as the call instruction's last byte: its line, not the next one's.
    for (unsigned i = 0; i < n; i++)
      w_printf(w, " 0x%llx", (unsigned long long)(i == 0 && frames[0] ? frames[0] - 1 : frames[i]));
    w_printf(w, "\n");
  }
  w_printf(w, "\nMAPPED_LIBRARIES:\n");
  w_maps(w);
}

static bool write_failed(const char *path, int err) {
  static _Atomic int warned;
  if (!atomic_exchange(&warned, 1)) hak_log("profile: could not write %s (errno %d)", path, err);
  return false;
}

static bool write_profile(void) {
  char path[HAK_OPT_STR_MAX + 16], tmp[HAK_OPT_STR_MAX + 48];
  if (!profile_path(path, sizeof path)) return write_failed(hak_opt_str(HAK_OPT_PROFILE), ENAMETOOLONG);
  hak_buf_t b;
  hak_buf_init(&b, tmp, sizeof tmp);
  hak_buf_printf(&b, "%s.tmp.%d", path, (int)getpid());
  hak_buf_finish(&b);
  int saved = errno;
  writer_t w = {.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)};
  if (w.fd < 0) {
    bool r = write_failed(tmp, errno);
    errno = saved;
    return r;
  }
  write_records(&w);
  w_flush(&w);
  bool ok = !w.failed && close(w.fd) == 0;
  if (ok && rename(tmp, path) != 0) ok = false;
  if (!ok) {
    int err = errno;
    unlink(tmp);
    write_failed(path, err);
  }
  errno = saved;
  return ok;
}

bool hak_profile_write_locked(void) { return write_profile(); }

bool hak_profile_write(void) {
  if (!hak_profile_on) return false;
  hak_lock(&hak_prof.lock);
  bool ok = write_profile();
  hak_prof.last_write_ms = hak_os_now_ms();
  hak_unlock(&hak_prof.lock);
  return ok;
}
