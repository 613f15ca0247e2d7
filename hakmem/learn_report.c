/* learn_report.c — the learning engine's outward views (layer L5): each
 * site's state as JSON (report.c's stats JSON), its state, placement and
 * free policy in the exit report and the leaderboard table (RESEARCH's exit
 * report), the test hooks and the invariant walkers. Reads the state
 * learn.c keeps (learn_site.h); changes it only in the test hook that
 * replaces a site's policy.
 */
#include <stdatomic.h>
#include <string.h>

#include "hakmem/check.h"
#include "hakmem/include/hakmem.h"
#include "hakmem/learn.h"
#include "hakmem/learn_site.h"
#include "hakmem/log.h"
#include "hakmem/options.h"
#include "hakmem/policy/evo.h"

// --- reports ------------------------------------------------------------------------

void hak_learn_json(hak_buf_t *b, hak_site_id_t id) {
  hak_learn_site_t *sl = atomic_load_explicit(&hak_learn_sites[id], memory_order_acquire);
  if (!sl) {
    hak_buf_puts(b, "null");
    return;
  }
  // sizes_seen also shows the window in progress and the quiet range (a
  // quiet site's requests are not counted, but fall inside that range).
  uint32_t more = 0;
  for (unsigned k = 0; k < HAK_DIST_BUCKETS; k++)
    if (atomic_load_explicit(&sl->hist[k], memory_order_relaxed) || (k >= sl->lo && k <= sl->hi)) more |= 1u << k;
  // hak_evo_to_json writes into a flat buffer: format into the space left.
  size_t room = b->len < b->cap ? b->cap - b->len : 0;
  size_t n = hak_evo_to_json(room ? b->data + b->len : NULL, room, &sl->evo, more);
  b->len += n;
}

// "256K" / "1M" / "1.5M" for a threshold.
static void put_size(hak_buf_t *b, uint32_t bytes) {
  if (bytes >= (1u << 20) && bytes % (1u << 20) == 0) hak_buf_printf(b, "%uM", bytes >> 20);
  else hak_buf_printf(b, "%uK", bytes >> 10);
}

// The strategy's placement and free policy, in words.
static void put_strategy(hak_buf_t *b, unsigned row) {
  hak_policy_t p = hak_strategy_info[row].policy;
  char text[48];
  hak_strategy_free_text(p, text, sizeof text);
  hak_buf_printf(b, "%s (large from ", hak_strategy_info[row].name);
  put_size(b, p.large_threshold);
  hak_buf_printf(b, ", %s)", text);
}

// Pads the line to column `at` (the formatter has no widths), at least one space.
static void tab(hak_buf_t *b, size_t at) {
  do hak_buf_putc(b, ' ');
  while (b->len < at);
}

// RESEARCH: the site's leaderboard, best first, as a table: rank, strategy,
// its threshold and free policy, the mean window cost (cycles per request,
// memory term included), the ELO rating, the windows measured, alive or
// culled (ELO), and which one is in force.
static void print_board(int fd, const hak_evo_site_t *e) {
  static const size_t cols[] = {4, 10, 22, 30, 52, 66, 76, 86};
  bool elo = e->cfg->learner == HAK_EVO_ELO;
  uint8_t order[HAK_STRATEGY_MAX];
  if (elo) hak_elo_rank(&e->l.elo, order);
  else hak_ucb1_rank(&e->l.ucb1, order);
  const char *head[] = {"rank", "strategy", "large", "free policy", "mean cost", "rating", "windows", "state"};
  char line[192];
  hak_buf_t b;
  hak_buf_init(&b, line, sizeof line);
  for (unsigned c = 0; c < 8; c++) tab(&b, cols[c]), hak_buf_puts(&b, head[c]);
  hak_buf_finish(&b);
  hak_dprintf(fd, "%s\n", line);
  for (unsigned r = 0; r < e->n_arms; r++) {
    unsigned a = order[r], row = hak_evo_arm_strategy(e, a);
    hak_policy_t p = hak_strategy_info[row].policy;
    char text[48];
    hak_strategy_free_text(p, text, sizeof text);
    double mean = elo ? hak_elo_mean(&e->l.elo, a).cpu : hak_ucb1_mean(&e->l.ucb1, a);
    unsigned long long n = elo ? e->l.elo.batches[a] : e->l.ucb1.pulls[a];
    hak_buf_init(&b, line, sizeof line);
    tab(&b, cols[0]), hak_buf_printf(&b, "%u", r + 1);
    tab(&b, cols[1]), hak_buf_puts(&b, hak_strategy_info[row].name);
    tab(&b, cols[2]), put_size(&b, p.large_threshold);
    tab(&b, cols[3]), hak_buf_puts(&b, text);
    tab(&b, cols[4]), hak_buf_printf(&b, "%llu", n && mean > 0 ? (unsigned long long)(mean + 0.5) : 0ull);
    tab(&b, cols[5]);
    if (elo) hak_buf_printf(&b, "%lld", (long long)e->l.elo.rating[a]);
    else hak_buf_puts(&b, "-");
    tab(&b, cols[6]), hak_buf_printf(&b, "%llu", n);
    tab(&b, cols[7]), hak_buf_puts(&b, !elo || e->l.elo.alive[a] ? "alive" : "culled");
    if (row == hak_evo_strategy(e)) hak_buf_puts(&b, "  <- in force");
    hak_buf_finish(&b);
    hak_dprintf(fd, "%s\n", line);
  }
}

void hak_learn_print(int fd) {
  bool research = hak_mode_get() == HAK_MODE_RESEARCH || hak_opt(HAK_OPT_VERBOSE) >= 2;
  for (unsigned id = 0; id < HAK_SITE_CAP; id++) {
    hak_learn_site_t *sl = atomic_load_explicit(&hak_learn_sites[id], memory_order_acquire);
    if (!sl) continue;
    const hak_evo_site_t *e = &sl->evo;
    char what[128];
    hak_buf_t b;
    hak_buf_init(&b, what, sizeof what);
    put_strategy(&b, hak_evo_strategy(e));
    hak_buf_finish(&b);
    hak_dprintf(fd, "  site %u at %p: %s on %s after %llu windows of %llu requests (%u canaries, %u adoptions, %u rollbacks)\n",
                id, (void *)atomic_load_explicit(&hak_site_get((hak_site_id_t)id)->addr, memory_order_relaxed),
                hak_evo_state_names[e->state], what, (unsigned long long)e->window, (unsigned long long)e->win.limit,
                e->canaries, e->adoptions, e->rollbacks);
    if (research) print_board(fd, e);
  }
}

bool hak_learn_has(hak_site_id_t id) { return atomic_load_explicit(&hak_learn_sites[id], memory_order_relaxed) != NULL; }

uint64_t hak_learn_policy_word(hak_site_id_t id) {
  hak_learn_site_t *sl = atomic_load_explicit(&hak_learn_sites[id], memory_order_acquire);
  return sl ? atomic_load_explicit(&sl->policy, memory_order_relaxed) : 0;
}

unsigned hak_learn_exploring(void) {
  unsigned n = 0;
  for (unsigned id = 0; id < HAK_SITE_CAP; id++) {
    hak_learn_site_t *sl = atomic_load_explicit(&hak_learn_sites[id], memory_order_acquire);
    if (sl && hak_trylock(&sl->lock)) {
      n += hak_evo_exploring(&sl->evo);
      hak_unlock(&sl->lock);
    }
  }
  return n;
}

void hak_learn_set_policy_word(hak_site_id_t id, uint64_t word) {
  hak_learn_site_t *sl = atomic_load_explicit(&hak_learn_sites[id], memory_order_acquire);
  if (!sl) sl = hak_learn_site_new(id);
  if (!sl) return;
  hak_lock(&sl->lock);
  sl->evo.policy = hak_policy_from_word(word);
  hak_learn_publish(sl, atomic_load_explicit(&sl->counting, memory_order_relaxed));
  HAK_DEBUG_WALK(hak_learn_site_is_valid(sl));
  hak_unlock(&sl->lock);
}

void hak_learn_window_marks(hak_site_id_t id, uint64_t *counted, uint64_t *cost_from) {
  hak_learn_site_t *sl = atomic_load_explicit(&hak_learn_sites[id], memory_order_acquire);
  *counted = sl ? atomic_load_explicit(&sl->win_ops, memory_order_relaxed) : 0;
  *cost_from = sl ? hak_learn_cost_mark(sl) : 0;
}

// --- walkers ------------------------------------------------------------------------

bool hak_learn_site_is_valid(const hak_learn_site_t *sl) {
  if (sl->id >= HAK_SITE_CAP) return false;
  hak_learn_site_t *listed = atomic_load_explicit(&hak_learn_sites[sl->id], memory_order_relaxed);
  if (listed && listed != sl) return false;  // NULL: not published yet (hak_learn_site_new)
  if (sl->lo >= HAK_SITE_HIST || sl->hi >= HAK_SITE_HIST || !hak_evo_is_valid(&sl->evo)) return false;
  bool counting = atomic_load_explicit(&sl->counting, memory_order_relaxed);
  uint64_t quiet = atomic_load_explicit(&hak_learn_quiet[sl->id], memory_order_relaxed);
  hak_evo_state_t st = (hak_evo_state_t)sl->evo.state;
  // What requests read agrees with the lifecycle: the policy word is the
  // lifecycle's record; a site is quiet (a non-zero quiet record) only while
  // it does not count; LEARN and CANARY always count, OFF never does.
  if (atomic_load_explicit(&sl->policy, memory_order_relaxed) != hak_policy_to_word(sl->evo.policy)) return false;
  if ((quiet && counting) || ((st == HAK_EVO_LEARN || st == HAK_EVO_CANARY) && !counting)) return false;
  if (st == HAK_EVO_OFF && (counting || !quiet)) return false;
  if (atomic_load_explicit(&sl->learning, memory_order_relaxed) != (st == HAK_EVO_LEARN)) return false;
  uint64_t due = atomic_load_explicit(&sl->due_ns, memory_order_relaxed);
  if (st == HAK_EVO_OFF ? due != UINT64_MAX : due != UINT64_MAX && due < sl->evo.win.start_ns) return false;
  // A quiet site waits for its watched window (FROZEN) or forever (OFF).
  if (quiet && st == HAK_EVO_FROZEN && !atomic_load_explicit(&sl->watch_at, memory_order_relaxed)) return false;
  return true;
}

bool hak_learn_is_valid(void) {
  for (unsigned id = 0; id < HAK_SITE_CAP; id++) {
    hak_learn_site_t *sl = atomic_load_explicit(&hak_learn_sites[id], memory_order_acquire);
    if (!sl || !hak_trylock(&sl->lock)) continue;
    bool ok = hak_learn_site_is_valid(sl);
    hak_unlock(&sl->lock);
    if (!ok) return false;
  }
  return true;
}
