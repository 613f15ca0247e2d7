/* window.h — when a learning window ends, and which of its requests are
 * costed (layer L4).
 *
 * Pure rules on a clock the caller passes in: no syscalls, no globals. The
 * lifecycle (evo.c) keeps one hak_window_t per site and asks it whether the
 * window is due; the front door (learn.c) asks it how many requests to leave
 * out after a switch, when an exploring window may be cut, and publishes the
 * limit for its requests to compare against without a lock.
 *
 * ---- the length of a window: the site's own rate ---------------------------
 *  A window spans about target_ns (50 ms) of the site's time: its op limit is
 *  the site's rate (ops per second, smoothed over the windows so far) times
 *  target_ns, clamped to [min_ops, max_ops] (64 ... HAKMEM_EVO_WINDOW_OPS).
 *  It ends at the first of
 *    - ops >= limit;
 *    - now - start >= target_ns with ops >= min_ops (the first window, whose
 *      rate is unknown, ends so; a site that slowed down too);
 *    - now - start >= max_ns (HAKMEM_EVO_WINDOW_MS) with any ops.
 *  So a site making 5,000 requests a second ends a window every 250 requests
 *  (20 a second) and one making a million every 10,000: how soon a site can
 *  freeze is counted in its windows, not in wall-clock seconds.
 *
 * ---- warm-up after a switch ------------------------------------------------
 *  A new arm starts with cold caches (blocks moving between engines): the
 *  first limit / warm_div requests (at least warm_min) are not costed; a
 *  window whose costed part would fall below a quarter of its limit runs on
 *  until it has one, up to twice its limit (hak_window_extend).
 *
 * ---- the early cut (LEARN, an exploring window) ----------------------------
 *  Once a quarter of the limit (at least cut_min requests) is costed, the
 *  window ends early when its cost so far exceeds the cut (evo.h's
 *  cut_factor x the leader's mean); at any point when the site's resident
 *  bytes exceed resident_factor x the leader's resident bytes +
 *  resident_slack: an arm that keeps more memory than the leader is not let
 *  run long enough to double the program's peak; and when the process's
 *  peak RSS has grown past resident_factor x its peak at the window's start
 *  + peak_slack (hak_window_peak_cut).
 *  And at any point, warm-up included, when the window has already spent
 *  more than the cut x its whole limit (hak_window_overspent): however
 *  cheap its remaining requests, its cost per request cannot come back
 *  under the cut. A pathological arm (a syscall per free, ~400x the
 *  leader's cost) is so cut after a few dozen requests, within a leader
 *  window's time, while an arm that only refills its caches (a few faults
 *  per cached block) runs on. A window cut by any of these rules is charged
 *  what it spent over every request it made, warm-up included (learn.c):
 *  cut in its warm-up it would have no costed request, teach the learner
 *  nothing, and be played again.
 */
#ifndef HAK_POLICY_WINDOW_H
#define HAK_POLICY_WINDOW_H

#include <stdbool.h>
#include <stdint.h>

#include "hakmem/config.h"

typedef struct hak_window_rules {
  uint64_t max_ops;        /* HAKMEM_EVO_WINDOW_OPS (10,000) */
  uint64_t min_ops;        /* a window ends by target time only with this many (64) */
  uint64_t target_ns;      /* a window spans about this much of the site's time (50 ms) */
  uint64_t max_ns;         /* ... and at most this long (HAKMEM_EVO_WINDOW_MS, 2 s) */
  uint32_t warm_div;       /* after a switch, limit / warm_div requests are not costed (4) */
  uint64_t warm_min;       /* ... at least this many (16) */
  uint64_t cut_min;        /* the early cut needs this many costed requests at least (32) */
  double resident_factor;  /* an exploring window ends above this x the leader's resident bytes (1.1: the
                              peak RSS goal, learning at most 1.10x the best fixed strategy's) */
  uint64_t resident_slack; /* ... plus this (1 MiB: small sites' noise) */
  uint64_t peak_slack;     /* ... or raises the process's peak RSS past resident_factor x its peak at the window's
                              start + this (256 KiB) */
} hak_window_rules_t;

typedef struct hak_window {
  uint64_t start_ns; /* when the window began */
  uint64_t limit;    /* ops at which it ends */
  double rate;       /* the site's ops per second, smoothed (0: not measured yet) */
} hak_window_t;

HAK_INTERNAL hak_window_rules_t hak_window_rules_default(void);

/* The op limit for a site of rate ops/s (0: unknown, max_ops). */
HAK_INTERNAL uint64_t hak_window_limit(const hak_window_rules_t *r, double rate);

/* A site's first window starts at now_ns, rate unknown. */
HAK_INTERNAL void hak_window_init(hak_window_t *w, const hak_window_rules_t *r, uint64_t now_ns);

/* True when a window of ops requests, begun at w->start_ns, ends at now_ns. */
HAK_INTERNAL bool hak_window_due(const hak_window_rules_t *r, const hak_window_t *w, uint64_t ops, uint64_t now_ns);

/* The same with the window's end moved to limit ops (a warm-up extension,
 * hak_window_extend): the target time grows in proportion. */
HAK_INTERNAL bool hak_window_due_at(const hak_window_rules_t *r, const hak_window_t *w, uint64_t ops, uint64_t limit,
                                    uint64_t now_ns);

/* The earliest time at which a window of limit ops can end by time (with
 * min_ops): start + target_ns x limit / w->limit, at most start + max_ns. */
HAK_INTERNAL uint64_t hak_window_due_ns(const hak_window_rules_t *r, const hak_window_t *w, uint64_t limit);

/* End the window (ops requests at now_ns): fold its rate in (a window of
 * fewer than min_ops requests ended by max_ns counts too: the site is slow)
 * and begin the next at now_ns with the new limit. */
HAK_INTERNAL void hak_window_close(hak_window_t *w, const hak_window_rules_t *r, uint64_t ops, uint64_t now_ns);

/* Restart the clock without ending a window (a quiet FROZEN site between
 * watched windows: its rate is kept). */
HAK_INTERNAL void hak_window_restart(hak_window_t *w, uint64_t now_ns);

/* Requests not costed after an arm switch in a window of this limit. */
HAK_INTERNAL uint64_t hak_window_warm(const hak_window_rules_t *r, uint64_t limit);

/* The limit a window must run to when its cost is measured from request
 * mark on: unchanged when enough is costed by then; otherwise
 * mark + a quarter of the limit, at most twice the limit. */
HAK_INTERNAL uint64_t hak_window_extend(const hak_window_rules_t *r, uint64_t limit, uint64_t mark);

/* The early cut of an exploring window: costed requests so far, their cost
 * per request (cost, with the memory term), the cut (0: none), the site's
 * resident bytes now and the leader's (-1: unknown). */
HAK_INTERNAL bool hak_window_cut(const hak_window_rules_t *r, uint64_t limit, uint64_t costed, double cost, double cut,
                                 int64_t resident, int64_t lead_resident);

/* The peak cut of an exploring window: the process's peak resident set
 * now and when the window began (KiB, as getrusage's ru_maxrss; -1:
 * unknown). The peak RSS goal is the process's, and the site's resident
 * gauge sees only the large engine's bytes per site (the pools count mapped
 * segments, most of them not resident): an explorer's blocks in the pools,
 * or a large engine arm tried beside the pools' pages, raise the peak
 * unseen (wl_json: 6.4 -> 7.6 MiB in one window on 64k, static 6.9). */
HAK_INTERNAL bool hak_window_peak_cut(const hak_window_rules_t *r, int64_t peak_kib, int64_t start_peak_kib);

/* True when an exploring window of limit requests has already spent more
 * than cut (per request) x limit since it began (spent: the same unit as
 * cut, e.g. cycles): it loses whatever comes. cut 0: never. */
HAK_INTERNAL bool hak_window_overspent(uint64_t limit, double spent, double cut);

#endif /* HAK_POLICY_WINDOW_H */
