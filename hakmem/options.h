/* options.h — every run-time option, in one table (layer L0).
 *
 * HAK_OPTIONS is the single definition: the enum, the parser, the defaults,
 * the mode presets, the README table (//hakmem:options_doc) and the labels in
 * the stats JSON all come from it. Options are read once at start-up from
 * environ (HAKMEM_<NAME>=value) without allocating; a bad value warns once on
 * stderr and keeps the mode's value. After start-up the table is immutable and
 * the hot path reads hak_opt(ID) from a cached struct.
 *
 * Precedence: built-in default < HAKMEM_MODE preset < HAKMEM_<NAME>.
 */
#ifndef HAK_OPTIONS_H
#define HAK_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hakmem/config.h"
#include "hakmem/include/hakmem.h"

typedef enum hak_opt_type {
  HAK_OPT_BOOL,  /* 0/1, on/off, yes/no, true/false */
  HAK_OPT_UINT,  /* decimal integer */
  HAK_OPT_SIZE,  /* bytes, with K/M/G/T suffixes (binary) */
  HAK_OPT_ENUM,  /* one of the names listed for the option */
  HAK_OPT_STRING /* text of at most max bytes (min and default unused: the default is empty) */
} hak_opt_type_t;

/* String options keep their text in the options struct itself (no pointer
 * into environ, which the program may change): at most HAK_OPT_STR_SLOTS of
 * them, each up to HAK_OPT_STR_MAX - 1 bytes. */
#define HAK_OPT_STR_SLOTS 4u
#define HAK_OPT_STR_MAX 256u

typedef enum hak_thp { HAK_THP_OFF = 0, HAK_THP_ON = 1, HAK_THP_AUTO = 2 } hak_thp_t;
typedef enum hak_foreign { HAK_FOREIGN_ABORT = 0, HAK_FOREIGN_IGNORE = 1 } hak_foreign_t;

#define HAK_KiB ((uint64_t)1 << 10)
#define HAK_MiB ((uint64_t)1 << 20)
#define HAK_GiB ((uint64_t)1 << 30)

/* X(ID, type, default, min, max, enum names (or NULL), meaning) */
#define HAK_OPTIONS(X)                                                                            \
  X(LARGE_THRESHOLD, HAK_OPT_SIZE, 256 * HAK_KiB, 32 * HAK_KiB, 512 * HAK_KiB, NULL,            \
    "requests of at least this size go to the large-block engine; smaller ones to the pools")   \
  X(BIGCACHE, HAK_OPT_BOOL, 1, 0, 1, NULL, "cache freed large blocks per call site x size class") \
  X(BIGCACHE_SLOTS, HAK_OPT_UINT, 4, 1, 16, NULL, "blocks kept per (site, size class) ring")     \
  X(BIGCACHE_MAX_BYTES, HAK_OPT_SIZE, 16 * HAK_MiB, 0, 64 * HAK_GiB, NULL,                       \
    "cap on the bytes BigCache holds; past it the oldest block leaves")                          \
  X(BIGCACHE_AGE_MS, HAK_OPT_UINT, 2000, 1, 3600000, NULL,                                        \
    "a block cached longer than this leaves BigCache through the free policy")                   \
  X(FREE_POLICY, HAK_OPT_BOOL, 1, 0, 1, NULL,                                                     \
    "keep uncached freed blocks mapped as HOT/WARM/COLD spares (off: munmap at once)")           \
  X(HOT_MAX, HAK_OPT_SIZE, 1 * HAK_GiB, 0, 64 * HAK_GiB, NULL,                                    \
    "freed blocks below this stay mapped untouched (HOT)")                                      \
  X(COLD_MIN, HAK_OPT_SIZE, 1 * HAK_GiB, 0, 64 * HAK_GiB, NULL,                                   \
    "freed blocks of at least this get a batched MADV_DONTNEED (COLD); between: MADV_FREE")      \
  X(SPARE_MAX_BYTES, HAK_OPT_SIZE, 1 * HAK_GiB, 0, 1024 * HAK_GiB, NULL,                          \
    "cap on the address space the spare pool keeps mapped; past it blocks are unmapped")        \
  X(SPARE_RESIDENT_BYTES, HAK_OPT_SIZE, 32 * HAK_MiB, 0, 64 * HAK_GiB, NULL,                      \
    "cap on resident (HOT and WARM) spare bytes; past it the oldest are advised like COLD ones") \
  X(SPARE_FIT_CLASSES, HAK_OPT_UINT, 8, 0, 16, NULL,                                              \
    "a spare up to this many size classes larger may serve a request (8: up to 4x)")            \
  X(SPARE_AGE_MS, HAK_OPT_UINT, 10000, 1, 3600000, NULL, "spares unused this long are unmapped") \
  X(BATCH, HAK_OPT_BOOL, 1, 0, 1, NULL, "batch MADV_DONTNEED calls (off: advise at once)")        \
  X(BATCH_BYTES, HAK_OPT_SIZE, 16 * HAK_MiB, 4 * HAK_KiB, 64 * HAK_GiB, NULL,                     \
    "flush the madvise batch when this many bytes are queued")                                  \
  X(BATCH_RANGES, HAK_OPT_UINT, 64, 1, 64, NULL, "flush the madvise batch when this many ranges are queued") \
  X(THP, HAK_OPT_ENUM, HAK_THP_AUTO, 0, 2, hak_thp_names,                                         \
    "transparent huge pages: off (MADV_NOHUGEPAGE), on (all large blocks), auto (blocks >= 2 MiB)") \
  X(POOL_RELEASE_MS, HAK_OPT_UINT, 100, 0, 3600000, NULL,                                          \
    "pool pages empty this long go back to the OS (batched MADV_DONTNEED); segments are unmapped") \
  X(SITE_SAMPLE, HAK_OPT_UINT, 0, 0, 1 << 20, NULL,                                               \
    "record 1 in N small allocations in the per-site counters (0: none; large ones: all)")      \
  X(SITE_WRAPPERS, HAK_OPT_BOOL, 1, 0, 1, NULL,                                                   \
    "find allocation wrappers at run time and key their requests by the calling context above them") \
  X(SITE_DEPTH, HAK_OPT_UINT, 1, 1, 3, NULL, "frames above a wrapper that make up a site")         \
  X(SITE_WRAP, HAK_OPT_STRING, 0, 0, HAK_OPT_STR_MAX - 1, NULL,                                    \
    "more wrappers: comma-separated function names or object files (libfoo.so)")              \
  X(FOREIGN_FREE, HAK_OPT_ENUM, 0, 0, 1, hak_foreign_names,                                       \
    "free or realloc of a pointer hakmem never handed out: abort as glibc does, or ignore and count")         \
  X(CHECK, HAK_OPT_BOOL, 0, 0, 1, NULL,                                                            \
    "checked mode: catch double/invalid frees, overflows and free-list corruption (slower)")   \
  X(CHECK_GUARD, HAK_OPT_UINT, 4096, 0, 16384, NULL,                                              \
    "checked mode: at most this many pool-sized blocks live on pages of their own; freed, any access faults while they wait in its quarantine (0: none)") \
  X(EVO, HAK_OPT_ENUM, 0, 0, 3, hak_evo_names,                                                    \
    "per-site learning: auto (LEARN, FROZEN, CANARY), learn (never freeze), frozen, off")       \
  X(EVO_INITIAL, HAK_OPT_SIZE, 0, 0, 32 * HAK_MiB, NULL,                                           \
    "strategy a site starts on: the row nearest this threshold (0: LARGE_THRESHOLD)")           \
  X(EVO_STRATEGY, HAK_OPT_STRING, 0, 0, HAK_OPT_STR_MAX - 1, NULL,                                \
    "strategy a site starts on, by row name (e.g. 256k/keep; overrides EVO_INITIAL; empty: none)") \
  X(EVO_FREE_ARMS, HAK_OPT_BOOL, 0, 0, 1, NULL,                                                   \
    "UCB1 also explores free policies (no cache, give back, MADV_FREE, keep mapped) for sites that free large blocks") \
  X(EVO_LEARNER, HAK_OPT_ENUM, 0, 0, 1, hak_learner_names,                                        \
    "learner: ucb1 (6 thresholds and 4 free policies) or elo (12 thresholds)")                   \
  X(EVO_WINDOW_OPS, HAK_OPT_UINT, 10000, 16, 100000000, NULL, "a learning window ends after at most this many ops of a site...") \
  X(EVO_WINDOW_MS, HAK_OPT_UINT, 2000, 1, 3600000, NULL, "... or after this long")                 \
  X(EVO_TARGET_MS, HAK_OPT_UINT, 50, 1, 3600000, NULL,                                             \
    "a window is the ops a site makes in about this long (its own rate; at least 64 ops)")      \
  X(EVO_MEM_COST, HAK_OPT_UINT, 4000, 0, 1000000000, NULL,                                         \
    "memory's price in a window's cost: us of time per MiB a site holds for a second (0: time only)") \
  X(EVO_MIN_LEARN_MS, HAK_OPT_UINT, 0, 0, 3600000, NULL, "a site learns at least this long before it freezes (0: its windows decide)") \
  X(EVO_WATCH_MS, HAK_OPT_UINT, 1000, 0, 3600000, NULL,                                           \
    "a frozen site counts its requests (drift, p99) for one window this often; between, nothing (0: always)") \
  X(PROFILE, HAK_OPT_STRING, 0, 0, HAK_OPT_STR_MAX - 1, NULL,                                     \
    "write a per-site heap profile (pprof's heap format) to this file at exit")               \
  X(PROFILE_INTERVAL, HAK_OPT_UINT, 0, 0, 86400, NULL,                                            \
    "with PROFILE: also write it every this many seconds (0: at exit only)")                  \
  X(PROFILE_SAMPLE, HAK_OPT_SIZE, 512 * HAK_KiB, 1, 1 * HAK_GiB, NULL,                             \
    "with PROFILE: sample about one allocation per this many bytes allocated (1: every one)") \
  X(VERBOSE, HAK_OPT_UINT, 0, 0, 2, NULL, "1: print statistics at exit; 2: also per-site detail")

typedef enum hak_opt_id {
#define HAK_OPT_ENUM_ID(id, type, def, lo, hi, names, meaning) HAK_OPT_##id,
  HAK_OPTIONS(HAK_OPT_ENUM_ID)
#undef HAK_OPT_ENUM_ID
  HAK_OPT_COUNT
} hak_opt_id_t;

typedef struct hak_options {
  hak_mode_t mode;
  uint64_t v[HAK_OPT_COUNT];
  uint8_t set_by_env[HAK_OPT_COUNT]; /* 1 when HAKMEM_<NAME> chose the value */
  unsigned warnings;                 /* bad or unknown variables seen */
  char str[HAK_OPT_STR_SLOTS][HAK_OPT_STR_MAX]; /* string options' text, in table order */
} hak_options_t;

typedef struct hak_option_info {
  const char *name; /* without the HAKMEM_ prefix */
  hak_opt_type_t type;
  uint64_t def, min, max;
  const char *const *names; /* enum value names, NULL-terminated */
  const char *meaning;
} hak_option_info_t;

HAK_INTERNAL extern const char *const hak_thp_names[];
HAK_INTERNAL extern const char *const hak_evo_names[];     /* in hak_evo_mode_t order (policy/evo.h) */
HAK_INTERNAL extern const char *const hak_learner_names[]; /* in hak_evo_learner_t order */
HAK_INTERNAL extern const char *const hak_foreign_names[]; /* abort, ignore */
HAK_INTERNAL extern const hak_option_info_t hak_option_info[HAK_OPT_COUNT];
HAK_INTERNAL extern hak_options_t hak_options; /* the process's options, set once by hak_init */

HAK_INLINE uint64_t hak_opt(hak_opt_id_t id) { return hak_options.v[id]; }

/* The text of string option id in *o ("" when unset; v[id] stays 0). */
HAK_INTERNAL const char *hak_options_str(const hak_options_t *o, hak_opt_id_t id);
HAK_INLINE const char *hak_opt_str(hak_opt_id_t id) { return hak_options_str(&hak_options, id); }

/* Fill *out from an environ-style array (NULL-terminated "K=V" strings; NULL
 * is an empty environment). When warn is true, each bad or unknown HAKMEM_
 * variable is reported once on stderr. Pure apart from that: tests call it. */
HAK_INTERNAL void hak_options_parse(const char *const *envp, bool warn, hak_options_t *out);

/* The mode's preset values applied over the defaults, without environment. */
HAK_INTERNAL void hak_options_preset(hak_mode_t mode, hak_options_t *out);

/* Parses a mode name (case-insensitive); false when unknown. */
HAK_INTERNAL bool hak_mode_parse(const char *s, hak_mode_t *out);

/* Text of value v of option id ("16M", "auto", "1") into buf. */
HAK_INTERNAL void hak_option_format(hak_opt_id_t id, uint64_t v, char *buf, size_t cap);

/* The README's option table, in Markdown, into buf (snprintf-like return). */
HAK_INTERNAL size_t hak_options_markdown(char *buf, size_t cap);

#endif /* HAK_OPTIONS_H */
