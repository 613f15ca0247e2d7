/* common.h — shared scaffolding for the comparison workloads (compare/workloads/).
 *
 * Owns: argument parsing (--scale, --threads, --seed), the clock, a seeded RNG,
 * the fill/check pattern every workload writes into its blocks, and the one
 * JSON result line each workload prints on stdout.
 *
 * Invariants: nothing here calls malloc on a measured path (the JSON line is
 * built in a stack buffer and written with write(2)); the pattern is a pure
 * function of (tag, offset), so a block can be checked by anyone who knows its
 * tag and size. A failed check prints one line on stderr and exits with
 * WL_EXIT_CHECK (2), which the runner reports as "check_failed".
 *
 * Called by: every workload's main(). The workloads use plain malloc/free so
 * that any allocator can be put under them with LD_PRELOAD.
 */
#ifndef HAKMEM_COMPARE_COMMON_H
#define HAKMEM_COMPARE_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The C++ workload (cxx_sized.cc) includes this header too. */
#ifdef __cplusplus
extern "C" {
#define WL_NORETURN [[noreturn]]
#else
#define WL_NORETURN _Noreturn
#endif

#define WL_EXIT_USAGE 1 /* bad arguments */
#define WL_EXIT_CHECK 2 /* a pattern did not verify: the allocator is wrong */
#define WL_EXIT_OOM 3   /* malloc returned NULL */

// --- arguments -----------------------------------------------------------------
typedef struct {
  const char *name; /* workload name, printed in the JSON line */
  double scale;     /* work multiplier; 1.0 is the default comparison size */
  int threads;      /* worker threads (workloads that use them) */
  uint64_t seed;    /* RNG seed; same seed, same sequence of requests */
} wl_args_t;

/* Parses --scale X, --threads N, --seed S, --help. Exits on bad input. */
void wl_parse_args(int argc, char **argv, wl_args_t *args, const char *name,
                   int default_threads, const char *help);

/* max(1, round(base * scale)) — the one way workloads size themselves. */
uint64_t wl_scaled(const wl_args_t *args, double base);

// --- clock and RNG -------------------------------------------------------------
uint64_t wl_now_ns(void); /* CLOCK_MONOTONIC */

typedef struct {
  uint64_t s;
} wl_rng_t;

static inline wl_rng_t wl_rng(uint64_t seed, uint64_t stream) {
  wl_rng_t r = {seed * 0x9E3779B97F4A7C15ull + stream * 0xD1B54A32D192ED03ull + 1};
  return r;
}

static inline uint64_t wl_next(wl_rng_t *r) { /* splitmix64 */
  uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* Uniform in [lo, hi] (inclusive). */
static inline uint64_t wl_range(wl_rng_t *r, uint64_t lo, uint64_t hi) {
  return lo + wl_next(r) % (hi - lo + 1);
}

/* Log-uniform small size in [8, max]: as many 8–16 B requests as 512–1024 B. */
size_t wl_small_size(wl_rng_t *r, size_t max);

// --- blocks: allocate, fill, check -----------------------------------------------
/* malloc that exits with WL_EXIT_OOM on NULL. Every caller of wl_malloc is
 * ONE call site to a site-aware allocator (hakmem): workloads that need
 * distinct sites write their own noinline helper per site (WL_SITE below). */
void *wl_malloc(size_t n);

/* Exits with WL_EXIT_OOM after a failed malloc(n). */
WL_NORETURN void wl_oom(size_t n);

/* Defines `static void *fn(size_t n)`: malloc from a call site of its own
 * (noinline, a distinct body so the compiler cannot merge two of them), and
 * registers nothing: call wl_name_site(#fn, fn) once so that stats can be
 * labelled with the helper's name. */
#define WL_SITE(fn)                                              \
  static __attribute__((noinline)) void *fn(size_t n) {          \
    __asm__ volatile("# call site " #fn);                        \
    void *p = malloc(n);                                         \
    if (!p) wl_oom(n);                                           \
    wl_escape(p);                                                \
    return p;                                                    \
  }

/* Names the call site(s) inside function fn (a WL_SITE helper) for the
 * allocator statistics written at exit (see wl_report). At most 16 names. */
void wl_name_site(const char *name, void *fn);

/* Writes the pattern for `tag` into p[0..n): one 8-byte word per 64-byte line
 * for blocks up to 4 KiB, one word per 4 KiB page above that, always the first
 * and last word. Every page and every small line is touched, as a real user
 * would, without turning the benchmark into a memset benchmark. */
void wl_fill(void *p, size_t n, uint64_t tag);

/* Verifies what wl_fill wrote; on a mismatch exits WL_EXIT_CHECK with `what`.
 * Returns a checksum of the words read (fold it into the printed checksum so
 * the compiler cannot drop the reads). */
uint64_t wl_check(const void *p, size_t n, uint64_t tag, const char *what);

/* Thread-local churn over `slots` live blocks (obj/len/tag arrays of that
 * many entries, obj all NULL on entry): `ops` times, check + free the block
 * in a random slot and malloc + fill a new one of wl_small_size(max) bytes;
 * then check + free every block left. Returns the checksum of all checks.
 * The loop of scaling.c and mixed-random (what: the check's message). */
uint64_t wl_churn(wl_rng_t *rng, void **obj, size_t *len, uint64_t *tag, unsigned slots, uint64_t ops,
                  size_t max, const char *what);

/* Fails the run: prints "<workload>: CHECK FAILED: <msg>" and exits 2. */
WL_NORETURN void wl_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Makes the compiler believe the pointer escapes (no malloc/free elision). */
static inline void wl_escape(void *p) { __asm__ volatile("" : : "r"(p) : "memory"); }

/* CPU time of the process so far (user + system, CLOCK_PROCESS_CPUTIME_ID):
 * less disturbed than wall time on a shared machine. */
uint64_t wl_cpu_ns(void);

/* Resident set size now, in KiB, from /proc/self/statm (no allocation). */
uint64_t wl_rss_kb(void);

// --- result line -------------------------------------------------------------------
#define WL_MAX_EXTRA 16

typedef struct {
  uint64_t ops;        /* operations done (the workload defines one op) */
  uint64_t elapsed_ns; /* measured phase only, from the inside */
  uint64_t checksum;   /* fold of everything read back */
  int n_extra;
  const char *extra_key[WL_MAX_EXTRA];
  double extra_val[WL_MAX_EXTRA];
} wl_result_t;

void wl_extra(wl_result_t *res, const char *key, double value);

/* Prints the one JSON line: workload, scale, threads, seed, ops, elapsed_ns,
 * ns_per_op, checksum, peak_rss_kb (VmHWM at exit), malloc_from (the shared object that provides malloc in
 * this process, so the runner can prove LD_PRELOAD took effect), extra{}.
 * Then, when the environment variable HAK_COMPARE_STATS_OUT names a file and
 * the allocator in this process exports hak_stats_json (hakmem; looked up
 * with dlsym, so there is no link dependency), writes there
 *   {"site_names":[{"name":"site_a","addr":"0x..."},...],"stats":<hak_stats_json>}
 * (after the measured loop; this part allocates). Other allocators: no file. */
void wl_report(const wl_args_t *args, const wl_result_t *res);

/* Median of n values (sorts the array in place). */
uint64_t wl_median_u64(uint64_t *v, size_t n);
/* Nearest-rank percentile q in (0,1] of a sorted array. */
uint64_t wl_pct_sorted_u64(const uint64_t *v, size_t n, double q);

#ifdef __cplusplus
}
#endif

#endif /* HAKMEM_COMPARE_COMMON_H */
