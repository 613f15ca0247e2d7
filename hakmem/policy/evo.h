/* evo.h — the per-site learning lifecycle LEARN -> FROZEN -> CANARY (layer L4).
 *
 * Pure decision code: the caller (the front door, L5) owns the clock, the
 * cost signals and the storage; nothing here allocates, makes a syscall or
 * keeps a global. One hak_evo_site_t per call site; the caller serialises
 * calls per site (they run on a slow path or an epoch tick, never per
 * allocation). The config is read-only and must outlive the sites.
 *
 * ---- what the allocator does ----------------------------------------------
 *  fast path   reads the site's hak_policy_t (strategy.h; 8 bytes) and
 *              nothing else. In LEARN, FROZEN and OFF the record is used as
 *              is. Only when record.canary != 0 (CANARY) does it also need a
 *              per-site op counter: hak_policy_route(record, op) picks the
 *              challenger for every 20th op, and the op's cost counts in
 *              window_stats.canary instead of window_stats.main.
 *  boundary    when hak_evo_window_due(site, ops_in_window, now_ns) says so
 *              (window.h: about 50 ms of the site's requests, 64 ... 10,000
 *              of them, at most 2 s; checked on a slow path or epoch tick),
 *              call hak_evo_window_end(site, &ws, now_ns) with
 *                ws.main    ops, CPU cost per op, memory cost per op (meter.h),
 *                           page-fault delta, bytes the site holds
 *                           (for CANARY: the ops NOT routed to the
 *                           challenger; otherwise all of them);
 *                ws.canary  the same for challenger-routed ops (CANARY only;
 *                           -1 for faults/bytes that cannot be attributed);
 *                ws.hist    the site's size-class counts of THIS window
 *                           (HAK_DIST_BUCKETS log2 buckets, site.h's), or NULL;
 *                ws.large_frees  the site's large blocks freed in it (0
 *                           until its first: free policies cannot matter).
 *              When it returns true, republish site->policy (e.g. one
 *              relaxed store of hak_policy_to_word(site->policy)).
 *  OFF         (HAKMEM_EVO=off) window_end does nothing; the front door
 *              need not call it. The record holds the initial strategy.
 *
 * ---- the signals ----------------------------------------------------------
 *  Window cost c = main.cpu_per_op + main.mem_per_op (lower is better; the
 *  memory term prices the bytes the site holds, meter.h). "p99 cost" is a P²
 *  p99 (p2.h) over the window costs of the strategy in force: in LEARN over
 *  the learner's incumbent's windows since it became incumbent, in FROZEN
 *  over the windows since freezing. ELO also uses faults per op and bytes
 *  mapped (elo.h); UCB1 uses c only.
 *
 * ---- transitions (defaults in hak_evo_config_default) ----------------------
 *  LEARN -> FROZEN  (mode AUTO only) the incumbent's running p99 changed by
 *      <= 1% (stable_tol) at each of its last 3 windows (stable_windows),
 *      the learner is settled (UCB1: every arm it may explore (below)
 *      played settle_pulls (2) times, or once at twice the leader's cost or
 *      more, or culled (a second window
 *      would not change the ranking, and a bad arm is the costliest thing
 *      to play), alike arms counting together: the front door leaves a
 *      switch's first requests out of the cost (window.h's warm-up), so two
 *      windows of one arm measure it; ELO: culled to its final survivors),
 *      and LEARN lasted >= min_learn_windows windows and >= min_learn_ns (0:
 *      no wall-clock minimum; windows follow the site's rate, window.h, so a
 *      site of 5,000 requests a second settles within about a second).
 *      Once settled, LEARN plays the arm it would freeze on (no more exploring:
 *      every arm is measured) until that p99 holds still. A settled learner
 *      whose p99 keeps moving (real costs are noisy, and
 *      every incumbent change restarts the p99) freezes anyway once LEARN
 *      has lasted max_learn_windows (20) windows: about 1 s of a site's
 *      windows (window.h), the "about a second" a site is given to learn.
 *      Freezes the arm whose p99 it tracked, and that p99 is the baseline:
 *      the learner's incumbent, or once settled (UCB1) the arm played >=
 *      settle_pulls times with the lowest mean (it moves on only for an arm
 *      2% cheaper): the adoption margin guards LEARN against switching on
 *      noise, but freezing is the last switch, and a site's gain diluted in
 *      the whole program's cost may stay below the margin. The reference
 *      size-class histogram is the sum of LEARN's.
 *      In LEARN the record is the arm the learner plays this window; the
 *      first explore_after (3) windows play the initial arm (a short-lived
 *      program pays nothing for exploring; a long-lived one pays it once);
 *      the learner is fed only the last of them (the first ones are the
 *      program's start-up, every block faulting in for the first time,
 *      which would make the initial arm look worse than any other).
 *  FROZEN -> CANARY  three windows in a row (worsen_windows) each cost
 *      >= 1.2 x baseline (worsen: every one above 120% of what was the p99),
 *      or one window's histogram (>= drift_min_count requests) is at total
 *      variation distance >= 0.25 from the reference (dist.h). After a
 *      canary the baseline is re-measured: the first stable_windows windows
 *      of FROZEN only build it (running p99), and do not count as worse.
 *  CANARY  challengers are tried in the learner's order (best first as it
 *      stands when a trial begins; the frozen one, arms already tried, and
 *      arms routing the site's sizes like either skipped: see below), at
 *      most canary_challengers of them, each for
 *      canary_windows (3) windows on 1 op in 20 (5%). A challenger WINS when,
 *      over its windows (and >= canary_min_ops of its ops), its cost is
 *      below the incumbent's by >= canary_margin (5%): UCB1 compares CPU per
 *      op, ELO the weighted pair score d (elo.h) < -margin. A trial where
 *      one side costs under canary_decisive (0.5) x the other (CPU per op,
 *      with >= canary_min_ops challenger ops) is decided at the window that
 *      shows it, without waiting for canary_windows. Both sides'
 *      results also feed the learner. CANARY -> FROZEN: on a win with the
 *      challenger (reason "won"); when all lose, with the old strategy
 *      (reason "lost": rollback). Either way the reference histogram becomes
 *      the canary windows' and the baseline is re-measured.
 *
 * ---- arms that route a site's sizes alike ------------------------------------
 *  Strategies differ in where requests go and in how freed blocks are kept
 *  (strategy.h: the free policy applies from the threshold up). Over the
 *  size buckets a site has shown (LEARN: all of LEARN's windows; CANARY: the
 *  window that triggered it and the canary's), two arms are ALIKE when each
 *  bucket lies wholly below both thresholds, wholly at or above both with
 *  the same free policy, or is split by the same threshold with the same
 *  free policy: then every request goes the same way and is kept the same
 *  way under either. (A bucket past the pools' limit that one arm sends to
 *  the large engine below its threshold and the other from it up with "no
 *  cache, auto" is alike too: both are the engine's plain route.) Arms that
 *  place a size alike but keep it differently are NOT alike, once the site
 *  has freed a large block (ws.large_frees; UCB1): until then what an arm
 *  does with a freed block cannot matter, and arms that send each bucket to
 *  the same engine are alike (the first free forgets the arms credited so,
 *  to be measured again: evo_arms.c). A window's cost is credited to the arm
 *  played and to every arm alike with it, so a site of ~96 KiB requests
 *  chooses between 2 behaviours, not 6 arms; CANARY skips challengers alike
 *  with the incumbent, and with nothing left to try returns to FROZEN at
 *  once (reason "lost").
 *
 * ---- what LEARN explores (UCB1) ---------------------------------------------
 *  Successive elimination: an arm whose first window costs >= cull_factor
 *  (1.25) x the leader's mean is culled with the arms alike with it: never
 *  explored again, and measured enough for settling (JSON: alive 0). A
 *  free-policy row (SET_FREE) is explored only once every placement row is
 *  measured (settle_pulls windows, culled, or once at 2x the leader), and
 *  only when it sends the site's sizes to the engine the leader sends them
 *  to: it refines the placement the site leads with; otherwise it counts as
 *  measured. So a site whose pools lead never tries a free policy.
 *  A give-back row (no cache, and RETURN or LAZY: the freed block's pages
 *  go back to the kernel) is not explored, nor tried in CANARY, where the
 *  arm in force reuses its freed blocks: its windows fault less than
 *  reuse_share (1/8) of the pages the site's requests span from that row's
 *  threshold up. There a give-back arm refaults what the program touches
 *  of every block again, and what it would save, the freed blocks kept,
 *  cannot be told from the live ones in the memory term (the site's
 *  resident gauge counts both). Such a row counts as measured. (wl_vm: one
 *  2 MiB block reused, 512 pages per request against ~0 faults; a 256k/ret
 *  window cost ~250x the leader's, 12,000 page faults before its cut.
 *  wl_bigswap: 16 live blocks of 4-24 MiB, the memory term 40% of the cost,
 *  a 256k/ret window of 64 requests ~10% of the run.) Where blocks are not
 *  reused (each request faults its pages anyway) or faults are unknown,
 *  the rows are explored as before.
 *
 * ---- HAKMEM_EVO modes --------------------------------------------------------
 *  AUTO    LEARN, then FROZEN <-> CANARY as above.
 *  LEARN   LEARN forever (never freezes; HAKMEM_MODE=LEARNING, research).
 *  FROZEN  starts FROZEN on the initial strategy and stays there: windows are
 *          only recorded (p99 for stats); no learning, no canary.
 *  OFF     state OFF on the initial strategy; window_end is a no-op.
 *
 * History: the last HAK_EVO_HISTORY transitions (from, to, window, reason,
 * strategy after) in a ring, for the stats JSON (hak_evo_to_json).
 */
#ifndef HAK_POLICY_EVO_H
#define HAK_POLICY_EVO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hakmem/config.h"
#include "hakmem/policy/dist.h"
#include "hakmem/policy/elo.h"
#include "hakmem/policy/p2.h"
#include "hakmem/policy/strategy.h"
#include "hakmem/policy/ucb1.h"
#include "hakmem/policy/window.h"

typedef enum hak_evo_mode { HAK_EVO_MODE_AUTO, HAK_EVO_MODE_LEARN, HAK_EVO_MODE_FROZEN, HAK_EVO_MODE_OFF } hak_evo_mode_t;
typedef enum hak_evo_state { HAK_EVO_LEARN, HAK_EVO_FROZEN, HAK_EVO_CANARY, HAK_EVO_OFF } hak_evo_state_t;
typedef enum hak_evo_learner { HAK_EVO_UCB1, HAK_EVO_ELO } hak_evo_learner_t;
typedef enum hak_evo_reason {
  HAK_EVO_R_START,  /* the first state */
  HAK_EVO_R_STABLE, /* LEARN -> FROZEN: p99 stable */
  HAK_EVO_R_WORSE,  /* FROZEN -> CANARY: p99 worsened */
  HAK_EVO_R_DRIFT,  /* FROZEN -> CANARY: size classes moved */
  HAK_EVO_R_WON,    /* CANARY -> FROZEN: challenger adopted */
  HAK_EVO_R_LOST    /* CANARY -> FROZEN: rolled back */
} hak_evo_reason_t;

/* Names for HAKMEM_EVO values and JSON ("auto", ...; "LEARN", ...; "stable", ...). */
HAK_INTERNAL extern const char *const hak_evo_mode_names[];   /* NULL-terminated */
HAK_INTERNAL extern const char *const hak_evo_state_names[];
HAK_INTERNAL extern const char *const hak_evo_reason_names[];

#define HAK_EVO_HISTORY 8u

typedef struct hak_evo_config {
  hak_evo_mode_t mode;          /* AUTO */
  hak_evo_learner_t learner;    /* UCB1 */
  uint32_t sets;                /* candidate rows (HAK_STRAT_SET_*); 0: the learner's own set */
  uint64_t initial_threshold;   /* start on the candidate nearest this (256 KiB) ... */
  int initial_row;              /* ... or on this strategy row when it is a candidate (-1: none) */
  hak_window_rules_t win;       /* when windows end (window.h) */
  uint64_t min_learn_ns;        /* LEARN lasts at least this long (0) */
  uint32_t min_learn_windows;   /* ... and this many windows (0) */
  uint32_t max_learn_windows;   /* a settled learner freezes after this many LEARN windows even when its p99 moves (20) */
  double stable_tol;            /* 0.01 */
  uint32_t stable_windows;      /* 3 */
  uint32_t settle_pulls;        /* UCB1 is settled when every arm was played this often (2) */
  double worsen;                /* 0.20 */
  uint32_t worsen_windows;      /* 3 */
  double drift;                 /* HAK_DIST_DRIFT (0.25) */
  uint64_t drift_min_count;     /* a window's histogram needs this many requests to judge (64) */
  uint32_t canary_windows;      /* windows per challenger (3) */
  uint32_t canary_challengers;  /* challengers per CANARY (2) */
  double canary_margin;         /* 0.05 */
  uint64_t canary_min_ops;      /* challenger ops needed for a verdict (50) */
  double canary_decisive;       /* CANARY: a side costing < this x the other decides at once (0.5; 0: never) */
  uint32_t explore_after;       /* LEARN plays the initial arm for this many windows before exploring (3) */
  double cut_factor;            /* LEARN: an exploring window ends early above this x the leader's cost (1.1; 0: never) */
  double cull_factor;           /* LEARN (UCB1): an arm whose first window costs this x the leader's or more is not explored again (1.25; 0: never) */
  double reuse_share;           /* UCB1: an arm whose windows fault under this share of the pages the site's requests span
                                   reuses its freed blocks, and give-back arms are skipped beside it (evo.h, "what LEARN
                                   explores"; 0.125; 0: never skipped) */
  uint64_t seed;                /* ELO's random state (mixed with the site's salt) */
  hak_ucb1_config_t ucb1;
  hak_elo_config_t elo;
} hak_evo_config_t;

HAK_INTERNAL hak_evo_config_t hak_evo_config_default(void);

/* The part of a window's ops routed to one strategy. -1 = unknown. */
typedef struct hak_evo_obs {
  uint64_t ops;         /* operations */
  double cpu_per_op;    /* time cost per operation, any fixed unit (e.g. cycles) */
  int64_t faults;       /* page faults during the window, or -1 */
  int64_t bytes_mapped; /* bytes the site holds at window end, or -1 */
  double mem_per_op;    /* memory cost per operation, the same unit (meter.h; 0: none) */
} hak_evo_obs_t;

typedef struct hak_window_stats {
  hak_evo_obs_t main;   /* all ops, or in CANARY the incumbent's */
  hak_evo_obs_t canary; /* CANARY only: the challenger's ops */
  const uint64_t *hist; /* HAK_DIST_BUCKETS counts of this window's sizes, or NULL */
  uint64_t requests;    /* every request of the window, costed or not (the site's
                           rate, window.h); 0: main.ops + canary.ops */
  bool exploit_only;    /* LEARN: play the learner's leader next window, not an
                           exploration (another site is exploring) */
  uint64_t large_frees; /* large blocks of the site freed in the window (0 until
                           the first: every free policy then behaves alike) */
} hak_window_stats_t;

typedef struct hak_evo_event {
  uint64_t window;  /* windows ended before the transition */
  uint8_t from, to; /* hak_evo_state_t */
  uint8_t reason;   /* hak_evo_reason_t */
  uint8_t strategy; /* strategy row in force after it */
} hak_evo_event_t;

typedef struct hak_evo_site {
  hak_policy_t policy;          /* THE record the fast path reads */
  uint8_t state;                /* hak_evo_state_t */
  uint8_t cur;                  /* arm in force (index into the learner's arms) */
  uint8_t challenger;           /* CANARY: the arm on trial */
  uint8_t tried;                /* CANARY: challengers tried so far */
  uint32_t tried_mask;          /* CANARY: which arms (1 << arm) were tried */
  uint8_t baseline_pending;     /* FROZEN: baseline still being measured */
  uint8_t incumbent;            /* LEARN: the learner's incumbent last window */
  uint8_t n_arms;
  uint8_t initial;              /* the arm nearest initial_threshold */
  const hak_evo_config_t *cfg;
  uint64_t window;              /* windows ended */
  hak_window_t win;             /* the window in progress (window.h) */
  uint64_t state_start_ns;
  uint64_t state_start_window;
  hak_p2_t p99;                 /* running p99 of the cost in force */
  double last_p99;              /* its value one window earlier */
  uint32_t inc_windows;         /* windows fed to p99 */
  uint32_t stable;              /* consecutive windows with |dp99| <= tol */
  uint32_t worse;               /* consecutive windows >= (1 + worsen) * baseline */
  double baseline;              /* FROZEN's reference p99 */
  uint32_t canary_done;         /* windows of the current challenger */
  double acc[2][4];             /* CANARY sums: [incumbent, challenger] x {ops, ops*cpu, faults, bytes} */
  double acc_known[2][2];       /* ... windows with known faults, bytes */
  uint64_t ref_hist[HAK_DIST_BUCKETS]; /* the distribution the strategy was chosen on */
  uint64_t new_hist[HAK_DIST_BUCKETS]; /* LEARN / CANARY: gathering the next reference */
  uint32_t drifts, canaries, adoptions, rollbacks;
  hak_evo_event_t history[HAK_EVO_HISTORY];
  uint32_t history_len;         /* events ever recorded (the ring keeps the last 8) */
  uint32_t sizes_seen;          /* bit b: some window had requests in log2 bucket b */
  uint8_t freed;                /* some window had large frees (ws.large_frees) */
  uint32_t culled;              /* LEARN (UCB1): arms (1 << arm) not explored again: a first window far worse than the leader's */
  /* UCB1: per arm, the summed page faults per op of the windows credited to it whose faults are known (LEARN,
   FROZEN), and their number: the give-back rule's reuse (evo_arms.c) */
  double sig_faults[HAK_STRATEGY_MAX];
  uint32_t sig_n[HAK_STRATEGY_MAX];
  union {
    hak_ucb1_t ucb1;
    hak_elo_t elo;
  } l;
} hak_evo_site_t;

/* Start a site at now_ns. salt (e.g. the site id) varies ELO's random
 * stream between sites. */
HAK_INTERNAL void hak_evo_init(hak_evo_site_t *s, const hak_evo_config_t *cfg, uint64_t salt, uint64_t now_ns);

/* True when the current window should end (window.h's rules). */
HAK_INTERNAL bool hak_evo_window_due(const hak_evo_site_t *s, uint64_t ops_in_window, uint64_t now_ns);

/* Restart the window clock at now_ns without ending a window (the caller
 * paused counting, e.g. a FROZEN site between watched windows). */
HAK_INTERNAL void hak_evo_window_restart(hak_evo_site_t *s, uint64_t now_ns);

/* LEARN: the cost per op above which the window being played may end early
 * (an exploration that is clearly losing need not run its full length):
 * cut_factor x the learner leader's mean cost, when the arm played is not
 * the leader and the leader has been measured; 0 (never cut) otherwise. */
HAK_INTERNAL double hak_evo_cut_cost(const hak_evo_site_t *s);

/* End the current window with its stats; may change state and policy.
 * Returns true when s->policy changed (republish it). A window with
 * main.ops == 0 (nothing costed) only measures the rate from requests and
 * starts the next window. */
HAK_INTERNAL bool hak_evo_window_end(hak_evo_site_t *s, const hak_window_stats_t *ws, uint64_t now_ns);

/* True when a LEARN site plays an arm other than its learner's leader
 * (exploring). */
HAK_INTERNAL bool hak_evo_exploring(const hak_evo_site_t *s);

/* The strategy row in force (FROZEN/OFF: the frozen one; LEARN: the one
 * played this window; CANARY: the incumbent). */
HAK_INTERNAL unsigned hak_evo_strategy(const hak_evo_site_t *s);
/* The learner's arm (index) -> strategy row. */
HAK_INTERNAL unsigned hak_evo_arm_strategy(const hak_evo_site_t *s, unsigned arm);

/* Invariant walker (HAK_DEBUG_WALK after every window end): indices in
 * range, the learner valid, the state the one its last recorded transition
 * entered, the reference distribution within the sizes seen. */
HAK_INTERNAL bool hak_evo_is_valid(const hak_evo_site_t *s);

/* The i-th most recent transition (i = 0 newest); false past the ring. */
HAK_INTERNAL bool hak_evo_history(const hak_evo_site_t *s, unsigned i, hak_evo_event_t *out);

/* The site as one JSON object into buf (snprintf-like: returns the length
 * the whole text needs; writes at most cap bytes, NUL included):
 *   {"state":"FROZEN","mode":"auto","learner":"ucb1","strategy":"512k",
 *    "challenger":null,"large_threshold":524288,"cache_slots":255,"release":"auto",
 *    "resident_shift":0,"free":"cache, auto","rate":5000,"window_limit":250,"window":42,"sizes_seen":[17,18],"p99":1234,"baseline":1230,
 *    "counts":{"drifts":0,"canaries":1,"adoptions":1,"rollbacks":0},
 *    "ratings":[{"name":"512k","n":9,"mean":1201,"rating":1500,"alive":1,
 *                "large_threshold":524288,"cache_slots":255,"release":"auto","resident_shift":0},...],
 *    "history":[{"window":0,"from":"LEARN","to":"LEARN","reason":"start","strategy":"256k"},...]}
 * Numbers are integers (costs rounded); ratings best first; history oldest
 * first. UCB1 sites report rating 0; ELO sites report mean = mean CPU/op.
 * sizes_seen: the log2 size buckets of every window so far (a request of
 * n bytes is in bucket floor(log2 n)) and those of more_sizes (bit b:
 * bucket b; the caller's knowledge, e.g. a window in progress), to tell
 * which strategies route the site's requests alike. */
HAK_INTERNAL size_t hak_evo_to_json(char *buf, size_t cap, const hak_evo_site_t *s, uint32_t more_sizes);

#endif /* HAK_POLICY_EVO_H */
