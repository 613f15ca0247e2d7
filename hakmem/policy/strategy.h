/* strategy.h — the one table of candidate per-site strategies, and the
 * per-site policy record the allocator's fast path reads (layer L4).
 *
 * HAK_STRATEGIES is the single definition: the learners (ucb1.c, elo.c), the
 * lifecycle (evo.c), the stats JSON and the dashboard all name strategies by
 * their row in it. Rows are sorted by large threshold and never reordered
 * within a build, so a row index (hak_strategy_id_t) is a stable name.
 *
 * A strategy decides, for one call site, where its requests go and how its
 * freed blocks are kept (the large engine's hak_large_how_t, large.h):
 *   large_threshold  requests of at least this size go to the large engine
 *                    instead of the pools (and, past HAK_POOL_MAX, always);
 *   cache_slots      BigCache admission of the site's freed large blocks:
 *                    0 none, n at most n per (site, size class) ring, 255 the
 *                    ring's cap;
 *   release          what becomes of a freed block BigCache does not keep
 *                    (hak_release_t): KEEP mapped (HOT), LAZY MADV_FREE
 *                    (WARM), RETURN at once, AUTO the global size rule;
 *   resident_shift   0: the global caps only; k: the site's kept freed
 *                    blocks hold at most 1 << k bytes resident.
 * The free policy applies from the threshold up: a request below it that the
 * pools cannot hold goes to the large engine with {0, AUTO, 0} (no cache,
 * the global rule), as it did before strategies carried a free policy.
 * Each row belongs to one or more candidate sets (a learner explores a set):
 *   HAK_STRAT_SET_UCB1  6 thresholds, 64 KiB ... 2 MiB, doubling, each with
 *                       the engine's own free policy {255, AUTO, 0};
 *   HAK_STRAT_SET_FREE  4 free policies at the default threshold 256 KiB:
 *                       no cache, RETURN, LAZY, KEEP (KEEP last: the
 *                       learner tries the memory-hungry arm after the lean
 *                       ones). KEEP has no site cap of its own: a cap sends
 *                       the freed blocks past it COLD, and a hot site's
 *                       generation (48 MiB freed at once) then re-faulted
 *                       every block (frozen 256k/keep with a 16 MiB cap:
 *                       1.95 s against 0.07 s on wl_phase_life --scale
 *                       0.1). The engine's global caps (BigCache's bytes,
 *                       the spare pool's resident cap) still bound it, and
 *                       the learner's memory term prices what it holds;
 *   HAK_STRAT_SET_ELO  12 thresholds on the geometric ladder 512 KiB ... 32 MiB
 *                      (ratio 64^(1/11) ~ 1.46, rounded to 64 KiB).
 * UCB1 explores SET_UCB1 | SET_FREE by default (10 arms; a site's sizes make
 * most of them alike, evo.h, so a one-size site chooses among about 5
 * behaviours, and one that frees no large block among its placements
 * alone; a give-back row, no cache with RETURN or LAZY, is left out beside
 * an arm that reuses the site's freed blocks, evo.h); the allocator narrows
 * it to SET_UCB1 unless HAKMEM_EVO_FREE_ARMS is set (LEARNING, RESEARCH;
 * learn_site.c).
 *
 * Pure data and a few pure functions: no allocation, no syscalls, no state.
 */
#ifndef HAK_POLICY_STRATEGY_H
#define HAK_POLICY_STRATEGY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hakmem/config.h"

#define HAK_STRAT_SET_UCB1 1u
#define HAK_STRAT_SET_ELO 2u
#define HAK_STRAT_SET_FREE 4u

/* hak_policy_t.release values: the same numbers as large.h's hak_release_t
 * (policy/ sees no engine header; learn.h checks that they agree). */
#define HAK_STRAT_AUTO 0u   /* the global size rule (HOT/WARM/COLD) */
#define HAK_STRAT_KEEP 1u   /* mapped, untouched (HOT) */
#define HAK_STRAT_LAZY 2u   /* MADV_FREE (WARM) */
#define HAK_STRAT_RETURN 3u /* back to the OS at once */
#define HAK_STRAT_RING 255u /* cache_slots: the ring's own cap */

/* The pools' largest block (sizeclass.h's HAK_POOL_MAX; learn.h checks
 * they agree): from here up every request goes to the large engine. */
#define HAK_STRAT_POOL_MAX ((uint64_t)512 << 10)

#define HAK_STRAT_K(k) ((uint32_t)(k) << 10)

/* X(ID, json name, large threshold, cache_slots, release, resident_shift, sets)
 * Sorted by threshold; rows of one threshold keep the engine's own free
 * policy first (hak_strategy_nearest picks it). */
#define HAK_STRATEGIES(X) \
  X(T64K, "64k", HAK_STRAT_K(64), HAK_STRAT_RING, HAK_STRAT_AUTO, 0, HAK_STRAT_SET_UCB1) \
  X(T128K, "128k", HAK_STRAT_K(128), HAK_STRAT_RING, HAK_STRAT_AUTO, 0, HAK_STRAT_SET_UCB1) \
  X(T256K, "256k", HAK_STRAT_K(256), HAK_STRAT_RING, HAK_STRAT_AUTO, 0, HAK_STRAT_SET_UCB1) \
  X(T256K_NC, "256k/nc", HAK_STRAT_K(256), 0, HAK_STRAT_AUTO, 0, HAK_STRAT_SET_FREE) \
  X(T256K_RET, "256k/ret", HAK_STRAT_K(256), 0, HAK_STRAT_RETURN, 0, HAK_STRAT_SET_FREE) \
  X(T256K_LAZY, "256k/lazy", HAK_STRAT_K(256), 0, HAK_STRAT_LAZY, 0, HAK_STRAT_SET_FREE) \
  X(T256K_KEEP, "256k/keep", HAK_STRAT_K(256), HAK_STRAT_RING, HAK_STRAT_KEEP, 0, HAK_STRAT_SET_FREE) \
  X(T512K, "512k", HAK_STRAT_K(512), HAK_STRAT_RING, HAK_STRAT_AUTO, 0, HAK_STRAT_SET_UCB1 | HAK_STRAT_SET_ELO) \
  X(T768K, "768k", HAK_STRAT_K(768), HAK_STRAT_RING, HAK_STRAT_AUTO, 0, HAK_STRAT_SET_ELO) \
  X(T1M, "1m", HAK_STRAT_K(1024), HAK_STRAT_RING, HAK_STRAT_AUTO, 0, HAK_STRAT_SET_UCB1) \
  X(T1088K, "1088k", HAK_STRAT_K(1088), HAK_STRAT_RING, HAK_STRAT_AUTO, 0, HAK_STRAT_SET_ELO) \
  X(T1600K, "1600k", HAK_STRAT_K(1600), HAK_STRAT_RING, HAK_STRAT_AUTO, 0, HAK_STRAT_SET_ELO) \
  X(T2M, "2m", HAK_STRAT_K(2048), HAK_STRAT_RING, HAK_STRAT_AUTO, 0, HAK_STRAT_SET_UCB1) \
  X(T2304K, "2304k", HAK_STRAT_K(2304), HAK_STRAT_RING, HAK_STRAT_AUTO, 0, HAK_STRAT_SET_ELO) \
  X(T3392K, "3392k", HAK_STRAT_K(3392), HAK_STRAT_RING, HAK_STRAT_AUTO, 0, HAK_STRAT_SET_ELO) \
  X(T4928K, "4928k", HAK_STRAT_K(4928), HAK_STRAT_RING, HAK_STRAT_AUTO, 0, HAK_STRAT_SET_ELO) \
  X(T7232K, "7232k", HAK_STRAT_K(7232), HAK_STRAT_RING, HAK_STRAT_AUTO, 0, HAK_STRAT_SET_ELO) \
  X(T10560K, "10560k", HAK_STRAT_K(10560), HAK_STRAT_RING, HAK_STRAT_AUTO, 0, HAK_STRAT_SET_ELO) \
  X(T15M, "15m", HAK_STRAT_K(15360), HAK_STRAT_RING, HAK_STRAT_AUTO, 0, HAK_STRAT_SET_ELO) \
  X(T22464K, "22464k", HAK_STRAT_K(22464), HAK_STRAT_RING, HAK_STRAT_AUTO, 0, HAK_STRAT_SET_ELO) \
  X(T32M, "32m", HAK_STRAT_K(32768), HAK_STRAT_RING, HAK_STRAT_AUTO, 0, HAK_STRAT_SET_ELO)

typedef enum hak_strategy_id {
#define HAK_STRAT_ENUM_ID(id, name, thr, slots, release, resident, sets) HAK_STRAT_##id,
  HAK_STRATEGIES(HAK_STRAT_ENUM_ID)
#undef HAK_STRAT_ENUM_ID
  HAK_STRAT_COUNT
} hak_strategy_id_t;

/* Most arms a learner can hold (every row of the table fits); it sizes the
 * per-site learner arrays, so keep it close to HAK_STRAT_COUNT. */
#define HAK_STRATEGY_MAX 24u
_Static_assert(HAK_STRAT_COUNT <= HAK_STRATEGY_MAX, "strategy table larger than HAK_STRATEGY_MAX");

/* CANARY routes every HAK_CANARY_EVERY-th operation of a site (5%) to the
 * challenger; fixed so the fast path needs no configuration to route. */
#define HAK_CANARY_EVERY 20u

// --- the per-site policy record ------------------------------------------------
/* The only thing the allocation fast path reads for a site. 8 bytes, so the
 * front door can publish it with one relaxed 64-bit atomic store
 * (hak_policy_to_word) and read it with one load (hak_policy_from_word).
 * In FROZEN, OFF and LEARN `canary` is 0 and the record is used as is. In
 * CANARY, `canary` is 1 + the challenger's strategy row, and
 * hak_policy_route() picks the record for one operation. */
typedef struct hak_policy {
  uint32_t large_threshold; /* bytes: requests >= this go to the large engine */
  uint8_t cache_slots;      /* BigCache per (site, class) ring: 0 none, n, 255 the cap */
  uint8_t release;          /* HAK_STRAT_AUTO/KEEP/LAZY/RETURN (hak_release_t) */
  uint8_t resident_shift;   /* 0: global caps; k: at most 1 << k kept bytes resident */
  uint8_t canary;           /* 0, or 1 + challenger row (CANARY only) */
} hak_policy_t;
_Static_assert(sizeof(hak_policy_t) == 8, "hak_policy_t must stay one word");

typedef struct hak_strategy_info {
  const char *name;    /* short name for JSON and the dashboard */
  hak_policy_t policy; /* the record this strategy publishes (canary = 0) */
  uint32_t sets;       /* HAK_STRAT_SET_* mask */
} hak_strategy_info_t;

HAK_INTERNAL extern const hak_strategy_info_t hak_strategy_info[HAK_STRAT_COUNT];

HAK_INLINE uint64_t hak_policy_to_word(hak_policy_t p) {
  uint64_t w;
  __builtin_memcpy(&w, &p, sizeof w);
  return w;
}
HAK_INLINE hak_policy_t hak_policy_from_word(uint64_t w) {
  hak_policy_t p;
  __builtin_memcpy(&p, &w, sizeof p);
  return p;
}

/* The record for operation number op of a site (op: any per-site counter
 * that advances by one per operation). Outside CANARY it is p itself; in
 * CANARY, op % HAK_CANARY_EVERY == 0 takes the challenger's row. */
HAK_INLINE hak_policy_t hak_policy_route(hak_policy_t p, uint64_t op) {
  if (HAK_LIKELY(p.canary == 0) || op % HAK_CANARY_EVERY != 0) return p;
  return hak_strategy_info[p.canary - 1].policy;
}

/* True when op of a site in CANARY is routed to the challenger. */
HAK_INLINE bool hak_policy_is_canary_op(hak_policy_t p, uint64_t op) {
  return p.canary != 0 && op % HAK_CANARY_EVERY == 0;
}

/* The row named name (exact match), or -1. */
HAK_INTERNAL int hak_strategy_find(const char *name);

/* The row whose threshold is nearest to bytes (ties: the first row), within
 * the sets in mask (0: any row). -1 when mask selects nothing. */
HAK_INTERNAL int hak_strategy_nearest(uint64_t bytes, uint32_t mask);

/* True when a and b keep freed blocks alike (cache, release, resident cap). */
HAK_INLINE bool hak_policy_same_free(hak_policy_t a, hak_policy_t b) {
  return a.cache_slots == b.cache_slots && a.release == b.release && a.resident_shift == b.resident_shift;
}

/* The free policy a request of size under p gets (below the threshold: the
 * engine's plain {0, AUTO, 0}); only the three free-policy fields are set. */
HAK_INLINE hak_policy_t hak_policy_free_for(hak_policy_t p, uint64_t size) {
  hak_policy_t f = {0, 0, HAK_STRAT_AUTO, 0, 0};
  if (size >= p.large_threshold) f.cache_slots = p.cache_slots, f.release = p.release, f.resident_shift = p.resident_shift;
  return f;
}

/* A one-line summary of a row's free policy ("cache 255, auto", "no cache,
 * return", "cache 255, keep <= 16M" for a resident cap) into buf (snprintf-like). */
HAK_INTERNAL size_t hak_strategy_free_text(hak_policy_t p, char *buf, size_t cap);

HAK_INTERNAL extern const char *const hak_release_names[]; /* "auto", "keep", "lazy", "return" */

/* Writes the rows of the sets in mask into ids (at most cap), in table order;
 * returns how many rows match (may exceed cap, like snprintf). */
HAK_INTERNAL unsigned hak_strategy_set(uint32_t mask, uint8_t *ids, unsigned cap);

#endif /* HAK_POLICY_STRATEGY_H */
