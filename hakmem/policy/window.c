/* window.c — the window rules of window.h (layer L4). Pure: the clock and
 * the counts come in as arguments. Called by evo.c (due, close) and learn.c
 * (warm-up, extension, the early cut). */
#include "hakmem/policy/window.h"

hak_window_rules_t hak_window_rules_default(void) {
  return (hak_window_rules_t){
      .max_ops = 10000,
      .min_ops = 64,
      .target_ns = 50000000ull,
      .max_ns = 2000000000ull,
      .warm_div = 4,
      .warm_min = 16,
      .cut_min = 32,
      .resident_factor = 1.1,
      .resident_slack = 1u << 20,
      .peak_slack = 256u << 10,
  };
}

uint64_t hak_window_limit(const hak_window_rules_t *r, double rate) {
  uint64_t lo = r->min_ops < r->max_ops ? r->min_ops : r->max_ops;
  if (!(rate > 0)) return r->max_ops;
  double want = rate * (double)r->target_ns / 1e9;
  if (!(want < (double)r->max_ops)) return r->max_ops;
  return want > (double)lo ? (uint64_t)want : lo;
}

void hak_window_init(hak_window_t *w, const hak_window_rules_t *r, uint64_t now_ns) {
  w->start_ns = now_ns;
  w->rate = 0;
  w->limit = hak_window_limit(r, 0);
}

static uint64_t elapsed(const hak_window_t *w, uint64_t now_ns) { return now_ns > w->start_ns ? now_ns - w->start_ns : 0; }

// The target time of a window that runs to limit ops instead of w->limit.
static uint64_t target_for(const hak_window_rules_t *r, const hak_window_t *w, uint64_t limit) {
  uint64_t t = r->target_ns;
  if (w->limit && limit > w->limit) t = (uint64_t)((double)t * (double)limit / (double)w->limit);
  return t < r->max_ns ? t : r->max_ns;
}

bool hak_window_due_at(const hak_window_rules_t *r, const hak_window_t *w, uint64_t ops, uint64_t limit,
                       uint64_t now_ns) {
  uint64_t t = elapsed(w, now_ns);
  return ops >= limit || (t >= target_for(r, w, limit) && ops >= r->min_ops) || (t >= r->max_ns && ops > 0);
}

bool hak_window_due(const hak_window_rules_t *r, const hak_window_t *w, uint64_t ops, uint64_t now_ns) {
  return hak_window_due_at(r, w, ops, w->limit, now_ns);
}

uint64_t hak_window_due_ns(const hak_window_rules_t *r, const hak_window_t *w, uint64_t limit) {
  uint64_t t = target_for(r, w, limit);
  return w->start_ns + t < w->start_ns ? UINT64_MAX : w->start_ns + t;
}

void hak_window_close(hak_window_t *w, const hak_window_rules_t *r, uint64_t ops, uint64_t now_ns) {
  uint64_t t = elapsed(w, now_ns);
  // A window cut early, or one of a few requests, measures the rate as well
  // as a full one: requests over time. Half the weight to the newest keeps
  // the limit following a site that speeds up or slows down within a few
  // windows.
  if (ops && t) {
    double rate = (double)ops * 1e9 / (double)t;
    w->rate = w->rate > 0 ? 0.5 * w->rate + 0.5 * rate : rate;
  }
  w->limit = hak_window_limit(r, w->rate);
  w->start_ns = now_ns;
}

void hak_window_restart(hak_window_t *w, uint64_t now_ns) { w->start_ns = now_ns; }

uint64_t hak_window_warm(const hak_window_rules_t *r, uint64_t limit) {
  uint64_t n = r->warm_div ? limit / r->warm_div : 0;
  return n > r->warm_min ? n : r->warm_min;
}

static uint64_t quarter(const hak_window_rules_t *r, uint64_t limit) {
  uint64_t q = limit / 4;
  return q > r->cut_min ? q : r->cut_min;
}

uint64_t hak_window_extend(const hak_window_rules_t *r, uint64_t limit, uint64_t mark) {
  uint64_t want = mark + quarter(r, limit);
  if (want <= limit) return limit;
  return want < 2 * limit ? want : 2 * limit;
}

bool hak_window_cut(const hak_window_rules_t *r, uint64_t limit, uint64_t costed, double cost, double cut,
                    int64_t resident, int64_t lead_resident) {
  // Memory needs no precision: an arm past the leader's bytes ends its window
  // at once (the caller checks every few dozen requests).
  if (resident >= 0 && lead_resident >= 0 &&
      (double)resident > r->resident_factor * (double)lead_resident + (double)r->resident_slack)
    return true;
  return costed >= quarter(r, limit) && cut > 0 && cost > cut;
}

bool hak_window_peak_cut(const hak_window_rules_t *r, int64_t peak_kib, int64_t start_peak_kib) {
  if (peak_kib < 0 || start_peak_kib <= 0) return false;
  return (double)peak_kib > r->resident_factor * (double)start_peak_kib + (double)(r->peak_slack >> 10);
}

bool hak_window_overspent(uint64_t limit, double spent, double cut) {
  return cut > 0 && limit > 0 && spent > cut * (double)limit;
}
