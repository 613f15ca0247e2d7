/* learn_report.c — the learning engine's outward views (layer L5): each
 * site's state as JSON (report.c's stats JSON), the leaderboard (RESEARCH's
 * exit report), the test hooks and the invariant walkers. Reads the state
 * learn.c keeps (learn_site.h); changes it only in the test hook that
 * replaces a site's policy.
 */
#include <stdatomic.h>
#include <string.h>

#include "hakmem/check.h"
#include "hakmem/learn.h"
#include "hakmem/learn_site.h"
#include "hakmem/log.h"
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

void hak_learn_print(int fd) {
  for (unsigned id = 0; id < HAK_SITE_CAP; id++) {
    hak_learn_site_t *sl = atomic_load_explicit(&hak_learn_sites[id], memory_order_acquire);
    if (!sl) continue;
    const hak_evo_site_t *e = &sl->evo;
    hak_dprintf(fd, "  site %u at %p: %s on %s after %llu windows (%u canaries, %u adoptions, %u rollbacks)\n", id,
                (void *)atomic_load_explicit(&hak_site_get((hak_site_id_t)id)->addr, memory_order_relaxed),
                hak_evo_state_names[e->state], hak_strategy_info[hak_evo_strategy(e)].name,
                (unsigned long long)e->window, e->canaries, e->adoptions, e->rollbacks);
    // The leaderboard itself: the site's ratings, best first, as JSON.
    char buf[4096];  // ELO's 12 ratings and 8 events: ~2 KB
    size_t n = hak_evo_to_json(buf, sizeof buf, e, 0);
    char *r = strstr(buf, "\"ratings\":");
    char *h = r ? strstr(r, ",\"history\"") : NULL;
    if (r && h && n < sizeof buf) {
      *h = '\0';
      hak_dprintf(fd, "    %s\n", r);
    }
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
