/* common.c — see common.h. Argument parsing, clock, pattern, result line. */
#include "compare/workloads/common.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static const char *wl_name = "workload";
static void wl_write_stats(void);

static struct {
  const char *name;
  void *fn;
} wl_sites[16];
static int wl_n_sites;

// --- arguments -----------------------------------------------------------------

static void wl_usage(const char *name, const char *help, int code) {
  fprintf(code ? stderr : stdout,
          "usage: %s [--scale X] [--threads N] [--seed S]\n%s\n"
          "  --scale X    work multiplier (default 1.0; 0.01 for a smoke run)\n"
          "  --threads N  worker threads, where the workload uses them\n"
          "  --seed S     RNG seed (default 42)\n"
          "Prints one JSON line; exit 2 means a pattern check failed.\n",
          name, help);
  exit(code);
}

void wl_parse_args(int argc, char **argv, wl_args_t *args, const char *name,
                   int default_threads, const char *help) {
  wl_name = name;
  wl_name_site("wl_malloc", (void *)wl_malloc); /* the one shared site of the older workloads */
  args->name = name;
  args->scale = 1.0;
  args->threads = default_threads;
  args->seed = 42;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) wl_usage(name, help, 0);
    if (i + 1 >= argc) wl_usage(name, help, WL_EXIT_USAGE);
    const char *v = argv[++i];
    char *end = NULL;
    errno = 0;
    if (strcmp(a, "--scale") == 0) {
      args->scale = strtod(v, &end);
      if (*end || errno || !(args->scale > 0) || args->scale > 1e4) wl_usage(name, help, WL_EXIT_USAGE);
    } else if (strcmp(a, "--threads") == 0) {
      long t = strtol(v, &end, 10);
      if (*end || errno || t < 1 || t > 256) wl_usage(name, help, WL_EXIT_USAGE);
      args->threads = (int)t;
    } else if (strcmp(a, "--seed") == 0) {
      args->seed = strtoull(v, &end, 0);
      if (*end || errno) wl_usage(name, help, WL_EXIT_USAGE);
    } else {
      wl_usage(name, help, WL_EXIT_USAGE);
    }
  }
}

uint64_t wl_scaled(const wl_args_t *args, double base) {
  double v = base * args->scale;
  return v < 1.0 ? 1 : (uint64_t)llround(v);
}

// --- clock, sizes ---------------------------------------------------------------

uint64_t wl_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

size_t wl_small_size(wl_rng_t *r, size_t max) {
  /* pick a power-of-two band [b/2, b] uniformly, then a size inside it */
  int bands = 0;
  while (((size_t)16 << bands) <= max) bands++; /* 16, 32, ... up to max */
  size_t hi = (size_t)16 << wl_range(r, 0, (uint64_t)bands - 1);
  if (hi > max) hi = max;
  size_t lo = hi / 2;
  return (size_t)wl_range(r, lo, hi);
}

// --- blocks ---------------------------------------------------------------------

void wl_oom(size_t n) {
  fprintf(stderr, "%s: malloc(%zu) returned NULL\n", wl_name, n);
  exit(WL_EXIT_OOM);
}

void *wl_malloc(size_t n) {
  void *p = malloc(n);
  if (!p) wl_oom(n);
  wl_escape(p);
  return p;
}

void wl_name_site(const char *name, void *fn) {
  if (wl_n_sites >= (int)(sizeof wl_sites / sizeof wl_sites[0])) return;
  wl_sites[wl_n_sites].name = name;
  wl_sites[wl_n_sites].fn = fn;
  wl_n_sites++;
}

static inline uint64_t wl_word(uint64_t tag, size_t off) {
  return (tag ^ (off * 0x9E3779B97F4A7C15ull)) | 1; /* never all-zero */
}

static inline size_t wl_stride(size_t n) { return n <= 4096 ? 64 : 4096; }

void wl_fill(void *p, size_t n, uint64_t tag) {
  unsigned char *b = p;
  if (n < 8) {
    for (size_t i = 0; i < n; i++) b[i] = (unsigned char)(wl_word(tag, i) >> 8);
    return;
  }
  size_t s = wl_stride(n);
  for (size_t off = 0; off + 8 <= n; off += s) {
    uint64_t w = wl_word(tag, off);
    memcpy(b + off, &w, 8);
  }
  uint64_t last = wl_word(tag, n - 8) ^ 0x5555;
  memcpy(b + n - 8, &last, 8);
}

uint64_t wl_check(const void *p, size_t n, uint64_t tag, const char *what) {
  const unsigned char *b = p;
  uint64_t sum = 0;
  if (n < 8) {
    for (size_t i = 0; i < n; i++) {
      if (b[i] != (unsigned char)(wl_word(tag, i) >> 8))
        wl_fail("%s: byte %zu of a %zu-byte block changed (tag %#llx)", what, i, n,
                (unsigned long long)tag);
      sum += b[i];
    }
    return sum;
  }
  size_t s = wl_stride(n);
  for (size_t off = 0; off + 8 <= n; off += s) {
    uint64_t w;
    memcpy(&w, b + off, 8);
    /* the last word may overlap the final stride word; it is checked below */
    if (off + 16 <= n && w != wl_word(tag, off))
      wl_fail("%s: word at offset %zu of a %zu-byte block changed (tag %#llx)", what, off, n,
              (unsigned long long)tag);
    sum += w;
  }
  uint64_t last;
  memcpy(&last, b + n - 8, 8);
  if (last != (wl_word(tag, n - 8) ^ 0x5555))
    wl_fail("%s: last word of a %zu-byte block changed (tag %#llx)", what, n,
            (unsigned long long)tag);
  return sum + last;
}

uint64_t wl_churn(wl_rng_t *rng, void **obj, size_t *len, uint64_t *tag, unsigned slots, uint64_t ops,
                  size_t max, const char *what) {
  uint64_t sum = 0;
  for (uint64_t i = 0; i < ops; i++) {
    unsigned s = (unsigned)(wl_next(rng) % slots);
    if (obj[s]) {
      sum += wl_check(obj[s], len[s], tag[s], what);
      free(obj[s]);
    }
    len[s] = wl_small_size(rng, max);
    tag[s] = wl_next(rng);
    obj[s] = wl_malloc(len[s]);
    wl_fill(obj[s], len[s], tag[s]);
  }
  for (unsigned s = 0; s < slots; s++) {
    if (!obj[s]) continue;
    sum += wl_check(obj[s], len[s], tag[s], what);
    free(obj[s]);
    obj[s] = NULL;
  }
  return sum;
}

void wl_fail(const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "%s: CHECK FAILED: %s\n", wl_name, msg);
  fflush(stderr);
  _exit(WL_EXIT_CHECK);
}

uint64_t wl_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t wl_rss_kb(void) {
  char buf[128];
  int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  unsigned long long size = 0, resident = 0;
  if (sscanf(buf, "%llu %llu", &size, &resident) != 2) return 0;
  return resident * (uint64_t)sysconf(_SC_PAGESIZE) / 1024;
}

/* Peak RSS of this process image (VmHWM), KiB. Unlike ru_maxrss it does not
 * include the launching process's memory from before exec. */
static uint64_t wl_hwm_kb(void) {
  char buf[4096];
  int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  const char *p = strstr(buf, "VmHWM:");
  return p ? strtoull(p + 6, NULL, 10) : 0;
}

// --- result line -------------------------------------------------------------------

void wl_extra(wl_result_t *res, const char *key, double value) {
  if (res->n_extra >= WL_MAX_EXTRA) return;
  res->extra_key[res->n_extra] = key;
  res->extra_val[res->n_extra] = value;
  res->n_extra++;
}

static const char *wl_malloc_from(void) {
  void *sym = dlsym(RTLD_DEFAULT, "malloc");
  Dl_info info;
  if (sym && dladdr(sym, &info) && info.dli_fname) return info.dli_fname;
  return "unknown";
}

void wl_report(const wl_args_t *args, const wl_result_t *res) {
  char line[4096];
  size_t len = 0;
#define WL_PUT(...)                                                              \
  do {                                                                           \
    int k = snprintf(line + len, sizeof line - len, __VA_ARGS__);                \
    if (k > 0) len = (size_t)k < sizeof line - len ? len + (size_t)k : sizeof line - 1; \
  } while (0)
  double ns_per_op = res->ops ? (double)res->elapsed_ns / (double)res->ops : 0.0;
  WL_PUT("{\"workload\":\"%s\",\"scale\":%.6g,\"threads\":%d,\"seed\":%llu,", args->name,
         args->scale, args->threads, (unsigned long long)args->seed);
  WL_PUT("\"ops\":%llu,\"elapsed_ns\":%llu,\"ns_per_op\":%.3f,\"checksum\":\"%016llx\",",
         (unsigned long long)res->ops, (unsigned long long)res->elapsed_ns, ns_per_op,
         (unsigned long long)res->checksum);
  WL_PUT("\"peak_rss_kb\":%llu,", (unsigned long long)wl_hwm_kb());
  WL_PUT("\"malloc_from\":\"%s\",\"extra\":{", wl_malloc_from());
  for (int i = 0; i < res->n_extra; i++)
    WL_PUT("%s\"%s\":%.6g", i ? "," : "", res->extra_key[i], res->extra_val[i]);
  WL_PUT("}}\n");
#undef WL_PUT
  size_t off = 0;
  while (off < len) {
    ssize_t w = write(1, line + off, len - off);
    if (w <= 0) break;
    off += (size_t)w;
  }
  wl_write_stats();
}

/* The allocator's own statistics (hakmem's hak_stats_json) into the file
 * named by HAK_COMPARE_STATS_OUT, wrapped with the names of the workload's
 * call-site helpers. No hak_stats_json in this process: nothing written. */
static void wl_write_stats(void) {
  const char *path = getenv("HAK_COMPARE_STATS_OUT");
  if (!path || !*path) return;
  size_t (*stats_json)(char *, size_t) = (size_t(*)(char *, size_t))dlsym(RTLD_DEFAULT, "hak_stats_json");
  if (!stats_json) return;
  /* The document can grow between the sizing call and the real one (the
   * buffer's own malloc is counted): leave room, and retry if it was not enough. */
  char *buf = NULL;
  size_t cap = stats_json(NULL, 0) * 2 + 4096, got = 0;
  for (int tries = 0; tries < 4; tries++, cap = got * 2 + 4096) {
    free(buf);
    if (!(buf = malloc(cap))) return;
    if ((got = stats_json(buf, cap)) < cap) break;
  }
  if (got >= cap) { /* still growing: write nothing rather than torn JSON */
    free(buf);
    return;
  }
  FILE *f = fopen(path, "w");
  if (f) {
    fputs("{\"site_names\":[", f);
    for (int i = 0; i < wl_n_sites; i++)
      fprintf(f, "%s{\"name\":\"%s\",\"addr\":\"%p\"}", i ? "," : "", wl_sites[i].name, wl_sites[i].fn);
    fputs("],\"stats\":", f);
    fwrite(buf, 1, got, f);
    fputs("}\n", f);
    fclose(f);
  }
  free(buf);
}

static int wl_cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

uint64_t wl_median_u64(uint64_t *v, size_t n) {
  if (n == 0) return 0;
  qsort(v, n, sizeof *v, wl_cmp_u64);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

uint64_t wl_pct_sorted_u64(const uint64_t *v, size_t n, double q) {
  if (n == 0) return 0;
  size_t rank = (size_t)ceil(q * (double)n);
  if (rank < 1) rank = 1;
  if (rank > n) rank = n;
  return v[rank - 1];
}
