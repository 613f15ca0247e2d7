/* evo_inspect.c — read-only views of a learning site (layer L4): the JSON
 * object of the stats report (hak_evo_to_json) and the invariant walker
 * (hak_evo_is_valid) that HAK_DEBUG_WALK runs after every window end. Pure,
 * like evo.c: both only read the site. Called by learn.c (reports, debug
 * builds) and the policy tests.
 */
#include "hakmem/check.h"
#include "hakmem/log.h"
#include "hakmem/policy/evo.h"
#include "hakmem/policy/evo_impl.h"

// --- the transition ring ---------------------------------------------------------------

bool hak_evo_history(const hak_evo_site_t *s, unsigned i, hak_evo_event_t *out) {
  unsigned kept = s->history_len < HAK_EVO_HISTORY ? s->history_len : HAK_EVO_HISTORY;
  if (i >= kept) return false;
  *out = s->history[(s->history_len - 1 - i) % HAK_EVO_HISTORY];
  return true;
}

// --- the walker -------------------------------------------------------------------------

bool hak_evo_is_valid(const hak_evo_site_t *s) {
  if (!s->cfg || s->state > HAK_EVO_OFF || s->n_arms < 1 || s->n_arms > HAK_STRATEGY_MAX) return false;
  if (s->cur >= s->n_arms || s->incumbent >= s->n_arms || s->initial >= s->n_arms) return false;
  if (s->freed > 1 || s->culled >> s->n_arms) return false;
  for (unsigned a = 0; a < s->n_arms; a++)
    if (!(s->sig_faults[a] >= 0 && s->sig_faults[a] < 1e300)) return false;
  if (!(hak_evo_is_elo(s) ? s->l.elo.n == s->n_arms && hak_elo_is_valid(&s->l.elo)
                  : s->l.ucb1.n == s->n_arms && hak_ucb1_is_valid(&s->l.ucb1)))
    return false;
  if (s->state == HAK_EVO_CANARY &&
      (s->challenger >= s->n_arms || s->challenger == s->cur || s->tried >= s->n_arms || s->tried_mask >> s->n_arms))
    return false;
  // Every state was entered through a recorded transition (the start included).
  hak_evo_event_t last;
  if (!hak_evo_history(s, 0, &last) || last.to != s->state || last.from > HAK_EVO_OFF) return false;
  if (s->stable > s->inc_windows || !(s->baseline >= 0) || s->state_start_window > s->window) return false;
  // The reference distribution is made of windows' sizes, all in sizes_seen.
  for (unsigned b = 0; b < HAK_DIST_BUCKETS; b++)
    if (s->ref_hist[b] && !(s->sizes_seen >> b & 1u)) return false;
  return true;
}

// --- JSON -------------------------------------------------------------------------------


static unsigned long long round_u(double x) {
  if (!(x > 0)) return 0;
  if (x >= 1.8e19) return 18000000000000000000ull;
  return (unsigned long long)(x + 0.5);
}

static long long round_i(double x) {
  if (!(x == x)) return 0;
  if (x > 9e18) return 9000000000000000000ll;
  if (x < -9e18) return -9000000000000000000ll;
  return (long long)(x < 0 ? x - 0.5 : x + 0.5);
}

// ,"large_threshold":N,"cache_slots":N,"release":"auto","resident_shift":N
static void put_policy(hak_buf_t *b, hak_policy_t p) {
  hak_buf_printf(b, ",\"large_threshold\":%u,\"cache_slots\":%u,\"release\":\"%s\",\"resident_shift\":%u",
                 (unsigned)p.large_threshold, (unsigned)p.cache_slots, p.release < 4 ? hak_release_names[p.release] : "?",
                 (unsigned)p.resident_shift);
}

size_t hak_evo_to_json(char *buf, size_t cap, const hak_evo_site_t *s, uint32_t more_sizes) {
  hak_buf_t b;
  hak_buf_init(&b, buf, cap);
  const hak_evo_config_t *cfg = s->cfg;
  hak_buf_printf(&b, "{\"state\":\"%s\",\"mode\":\"%s\",\"learner\":\"%s\",\"strategy\":\"%s\",\"challenger\":",
                 hak_evo_state_names[s->state], hak_evo_mode_names[cfg->mode], hak_evo_is_elo(s) ? "elo" : "ucb1",
                 hak_strategy_info[hak_evo_strategy(s)].name);
  if (s->state == HAK_EVO_CANARY)
    hak_buf_printf(&b, "\"%s\"", hak_strategy_info[hak_evo_arm_strategy(s, s->challenger)].name);
  else hak_buf_puts(&b, "null");
  // The placement and free policy in force, field by field (the dashboard
  // plots them), and the window length the site's rate gives.
  hak_policy_t p = hak_strategy_info[hak_evo_strategy(s)].policy;
  char free_text[48];
  hak_strategy_free_text(p, free_text, sizeof free_text);
  put_policy(&b, p);
  hak_buf_printf(&b, ",\"free\":\"%s\",\"rate\":%llu,\"window_limit\":%llu", free_text, round_u(s->win.rate),
                 (unsigned long long)s->win.limit);
  hak_buf_printf(&b, ",\"window\":%llu,\"sizes_seen\":[", (unsigned long long)s->window);
  for (unsigned k = 0, first = 1; k < HAK_DIST_BUCKETS; k++)
    if ((s->sizes_seen | more_sizes) >> k & 1u) hak_buf_printf(&b, "%s%u", first ? "" : ",", k), first = 0;
  hak_buf_printf(&b, "],\"p99\":%llu,\"baseline\":%llu", round_u(hak_p2_value(&s->p99)), round_u(s->baseline));
  hak_buf_printf(&b, ",\"counts\":{\"drifts\":%u,\"canaries\":%u,\"adoptions\":%u,\"rollbacks\":%u}", s->drifts,
                 s->canaries, s->adoptions, s->rollbacks);
  hak_buf_puts(&b, ",\"ratings\":[");
  uint8_t order[HAK_STRATEGY_MAX];
  if (hak_evo_is_elo(s)) hak_elo_rank(&s->l.elo, order);
  else hak_ucb1_rank(&s->l.ucb1, order);
  for (unsigned r = 0; r < s->n_arms; r++) {
    unsigned a = order[r];
    unsigned long long n, mean;
    long long rating;
    unsigned alive;
    if (hak_evo_is_elo(s)) {
      n = s->l.elo.batches[a], mean = round_u(hak_elo_mean(&s->l.elo, a).cpu);
      rating = round_i(s->l.elo.rating[a]), alive = s->l.elo.alive[a];
    } else {
      n = s->l.ucb1.pulls[a], mean = round_u(hak_ucb1_mean(&s->l.ucb1, a)), rating = 0, alive = !(s->culled >> a & 1u);
    }
    const hak_strategy_info_t *row = &hak_strategy_info[hak_evo_arm_strategy(s, a)];
    hak_buf_printf(&b, "%s{\"name\":\"%s\",\"n\":%llu,\"mean\":%llu,\"rating\":%lld,\"alive\":%u", r ? "," : "",
                   row->name, n, mean, rating, alive);
    put_policy(&b, row->policy);
    hak_buf_putc(&b, '}');
  }
  hak_buf_puts(&b, "],\"history\":[");
  unsigned kept = s->history_len < HAK_EVO_HISTORY ? s->history_len : HAK_EVO_HISTORY;
  for (unsigned i = kept; i-- > 0;) {
    hak_evo_event_t ev;
    hak_evo_history(s, i, &ev);
    hak_buf_printf(&b, "%s{\"window\":%llu,\"from\":\"%s\",\"to\":\"%s\",\"reason\":\"%s\",\"strategy\":\"%s\"}",
                   i + 1 == kept ? "" : ",", (unsigned long long)ev.window, hak_evo_state_names[ev.from],
                   hak_evo_state_names[ev.to], hak_evo_reason_names[ev.reason], hak_strategy_info[ev.strategy].name);
  }
  hak_buf_puts(&b, "]}");
  return hak_buf_finish(&b);
}
