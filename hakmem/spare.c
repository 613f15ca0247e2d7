/* spare.c — the spare pool (layer L3). See spare.h.
 * Called by large.c: put on an uncached free, get on a BigCache miss,
 * expire on its periodic tick, drain on hak_trim().
 */
#include "hakmem/spare.h"

#include <stdatomic.h>

#include "hakmem/check.h"
#include "hakmem/lock.h"
#include "hakmem/stats.h"

static struct {
  hak_lock_t lock;
  hak_spare_cfg_t cfg;
  uint64_t now;
  size_t bytes, resident, count;
  hak_spare_node_t *cls_top[2][HAK_SPARE_CLASSES];  // [0]: HOT and WARM, [1]: COLD
  hak_spare_node_t *oldest, *newest;
} sp = {.cfg = {.max_bytes = (size_t)1 << 30, .resident_bytes = (size_t)64 << 20, .age_ms = 10000}};
// Written under sp.lock, read without it (hak_spare_site_resident).
static _Atomic size_t site_resident[HAK_SPARE_SITES];

static inline hak_spare_node_t **stack_of(const hak_spare_node_t *n) {
  return &sp.cls_top[n->thermal == HAK_COLD][n->cls];
}

static void site_charge(const hak_spare_node_t *n, bool add) {
  if (n->thermal == HAK_COLD) return;
  _Atomic size_t *c = &site_resident[n->site % HAK_SPARE_SITES];
  size_t v = atomic_load_explicit(c, memory_order_relaxed);
  HAK_ASSERT_INTERNAL(add || v >= n->bytes);
  atomic_store_explicit(c, add ? v + n->bytes : v - n->bytes, memory_order_relaxed);
}

void hak_spare_configure(const hak_spare_cfg_t *cfg) {
  hak_lock(&sp.lock);
  sp.cfg = *cfg;
  hak_unlock(&sp.lock);
}

static void unlink_node(hak_spare_node_t *n) {
  HAK_ASSERT_INTERNAL(sp.count > 0 && sp.bytes >= n->bytes);
  HAK_ASSERT_INTERNAL(n->thermal == HAK_COLD || sp.resident >= n->bytes);
  HAK_ASSERT_INTERNAL(n->cls_prev ? n->cls_prev->cls_next == n : *stack_of(n) == n);
  HAK_ASSERT_INTERNAL(n->age_prev ? n->age_prev->age_next == n : sp.oldest == n);
  if (n->cls_prev) n->cls_prev->cls_next = n->cls_next;
  else *stack_of(n) = n->cls_next;
  if (n->cls_next) n->cls_next->cls_prev = n->cls_prev;
  if (n->age_prev) n->age_prev->age_next = n->age_next;
  else sp.oldest = n->age_next;
  if (n->age_next) n->age_next->age_prev = n->age_prev;
  else sp.newest = n->age_prev;
  sp.bytes -= n->bytes;
  if (n->thermal != HAK_COLD) sp.resident -= n->bytes;
  site_charge(n, false);
  sp.count--;
  HAK_STAT_SUB(spare_bytes, n->bytes);
}

// Resident cap: cool the oldest HOT and WARM spares (MADV_FREE'd pages stay
// resident until the kernel is short of memory) once they have been idle
// for HAK_SPARE_COOL_MS, so that a program freeing and re-allocating a
// working set larger than the cap in quick succession keeps it resident;
// past 4x the cap they are cooled at once. The age list is oldest first.
static void cool_locked(hak_spare_work_t *work) {
  for (hak_spare_node_t *x = sp.oldest; x && sp.resident > sp.cfg.resident_bytes && work->n_cool < HAK_SPARE_WORK;) {
    hak_spare_node_t *next = x->age_next;
    bool hard = sp.resident > 4 * sp.cfg.resident_bytes;
    if (!hard && sp.now - x->stamp < HAK_SPARE_COOL_MS) break;  // the rest are younger
    if (x->thermal != HAK_COLD) {
      unlink_node(x);
      work->cool[work->n_cool++] = x;
    }
    x = next;
  }
}

void hak_spare_put(hak_spare_node_t *n, uint8_t cls, size_t bytes, hak_thermal_t thermal, uint16_t site,
                   uint64_t now, hak_spare_work_t *work) {
  HAK_ASSERT(cls < HAK_SPARE_CLASSES);
  work->n_unmap = work->n_cool = 0;
  hak_lock(&sp.lock);
  if (now > sp.now) sp.now = now;
  *n = (hak_spare_node_t){.stamp = sp.now, .bytes = bytes, .site = site, .cls = cls, .thermal = (uint8_t)thermal};
  n->cls_next = *stack_of(n);
  if (n->cls_next) n->cls_next->cls_prev = n;
  *stack_of(n) = n;
  n->age_prev = sp.newest;
  if (sp.newest) sp.newest->age_next = n;
  else sp.oldest = n;
  sp.newest = n;
  sp.bytes += bytes;
  if (thermal != HAK_COLD) sp.resident += bytes;
  site_charge(n, true);
  sp.count++;
  HAK_STAT_ADD(spare_bytes, bytes);

  // Address-space cap: unmap the oldest. The pool was within the cap before
  // this put, so if the work list runs out, giving up the new spare is enough.
  while (sp.bytes > sp.cfg.max_bytes) {
    hak_spare_node_t *victim = work->n_unmap < HAK_SPARE_WORK - 1 ? sp.oldest : n;
    unlink_node(victim);
    work->unmap[work->n_unmap++] = victim;
    if (victim == n) break;
  }
  cool_locked(work);
  HAK_ASSERT_INTERNAL(sp.bytes <= sp.cfg.max_bytes && work->n_unmap <= HAK_SPARE_WORK);
  hak_unlock(&sp.lock);
}

hak_spare_node_t *hak_spare_get(uint8_t cls, uint8_t max_cls, uint64_t now) {
  (void)now;
  if (max_cls >= HAK_SPARE_CLASSES) max_cls = HAK_SPARE_CLASSES - 1;
  hak_spare_node_t *n = NULL;
  hak_lock(&sp.lock);
  for (unsigned c = cls; c <= max_cls && !n; c++) n = sp.cls_top[0][c] ? sp.cls_top[0][c] : sp.cls_top[1][c];
  if (n) unlink_node(n);
  hak_unlock(&sp.lock);
  if (n) HAK_STAT_INC(spare_hits);
  return n;
}

hak_spare_node_t *hak_spare_get_resident(uint8_t lo, uint8_t hi, bool largest) {
  if (hi >= HAK_SPARE_CLASSES) hi = HAK_SPARE_CLASSES - 1;
  if (lo > hi) return NULL;
  hak_spare_node_t *n = NULL;
  hak_lock(&sp.lock);
  if (sp.resident) {
    if (largest)
      for (int c = hi; c >= lo && !n; c--) n = sp.cls_top[0][c];
    else
      for (unsigned c = lo; c <= hi && !n; c++) n = sp.cls_top[0][c];
    if (n) unlink_node(n);
  }
  hak_unlock(&sp.lock);
  if (n) HAK_STAT_INC(spare_hits);
  return n;
}

static hak_spare_node_t *find_resident_locked(uintptr_t at) {
  for (hak_spare_node_t *x = sp.oldest; x; x = x->age_next)
    if ((uintptr_t)x == at) return x->thermal != HAK_COLD ? x : NULL;
  return NULL;
}

// The bytes of the run n starts, counted up to want.
static size_t run_locked(const hak_spare_node_t *n, size_t want) {
  size_t run = n->bytes;
  for (const hak_spare_node_t *x = n; run < want && (x = find_resident_locked((uintptr_t)x + x->bytes));) run += x->bytes;
  return run;
}

hak_spare_node_t *hak_spare_get_run(uint8_t lo, uint8_t hi, size_t want, size_t *run_out) {
  if (hi >= HAK_SPARE_CLASSES) hi = HAK_SPARE_CLASSES - 1;
  hak_spare_node_t *best = NULL;
  size_t best_run = 0;
  hak_lock(&sp.lock);
  for (int c = hi; c >= lo && best_run < want; c--)
    for (hak_spare_node_t *n = sp.cls_top[0][c]; n && best_run < want; n = n->cls_next) {
      size_t run = run_locked(n, want);
      if (run > best_run) best = n, best_run = run;
    }
  if (best) unlink_node(best);
  hak_unlock(&sp.lock);
  if (best) HAK_STAT_INC(spare_hits);
  *run_out = best_run;
  return best;
}

hak_spare_node_t *hak_spare_take_before(const hak_spare_node_t *next) {
  hak_lock(&sp.lock);
  hak_spare_node_t *x = sp.oldest;
  while (x && (x->thermal == HAK_COLD || (uintptr_t)x + x->bytes != (uintptr_t)next)) x = x->age_next;
  if (x) unlink_node(x);
  hak_unlock(&sp.lock);
  if (x) HAK_STAT_INC(spare_hits);
  return x;
}

hak_spare_node_t *hak_spare_get_donor(size_t gap, size_t min, size_t cut_min) {
  hak_spare_node_t *cut = NULL, *whole = NULL;
  hak_lock(&sp.lock);
  for (hak_spare_node_t *x = sp.oldest; x; x = x->age_next) {
    if (x->thermal == HAK_COLD) continue;
    if (x->bytes >= gap + cut_min) {
      if (!cut || x->bytes < cut->bytes) cut = x;
    } else if (x->bytes >= min && x->bytes <= gap && (!whole || x->bytes > whole->bytes)) {
      whole = x;
    }
  }
  hak_spare_node_t *n = cut ? cut : whole;
  if (n) unlink_node(n);
  hak_unlock(&sp.lock);
  if (n) HAK_STAT_INC(spare_hits);
  return n;
}

bool hak_spare_take_node(const hak_spare_node_t *want, size_t min_bytes) {
  bool found = false;
  hak_lock(&sp.lock);
  // A walk of the age list: the pool holds few spares (its caps), and no
  // node is dereferenced before it is known to be one of them.
  hak_spare_node_t *x = find_resident_locked((uintptr_t)want);
  if (x && x->bytes >= min_bytes) {
    unlink_node(x);
    found = true;
  }
  hak_unlock(&sp.lock);
  if (found) HAK_STAT_INC(spare_hits);
  return found;
}

void hak_spare_expire(uint64_t now, hak_spare_work_t *work) {
  work->n_unmap = work->n_cool = 0;
  hak_lock(&sp.lock);
  if (now > sp.now) sp.now = now;
  while (sp.oldest && sp.now - sp.oldest->stamp >= sp.cfg.age_ms && work->n_unmap < HAK_SPARE_WORK) {
    hak_spare_node_t *old = sp.oldest;
    unlink_node(old);
    work->unmap[work->n_unmap++] = old;
  }
  cool_locked(work);
  HAK_ASSERT_INTERNAL(sp.bytes <= sp.cfg.max_bytes && work->n_unmap <= HAK_SPARE_WORK);
  hak_unlock(&sp.lock);
}

void hak_spare_take_site(uint16_t site, hak_spare_work_t *work) {
  work->n_unmap = work->n_cool = 0;
  hak_lock(&sp.lock);
  for (hak_spare_node_t *x = sp.oldest; x && work->n_unmap < HAK_SPARE_WORK;) {
    hak_spare_node_t *next = x->age_next;
    if (x->site == site && x->thermal != HAK_COLD) {
      unlink_node(x);
      work->unmap[work->n_unmap++] = x;
    }
    x = next;
  }
  hak_unlock(&sp.lock);
}

void hak_spare_drain(hak_spare_work_t *work) {
  work->n_unmap = work->n_cool = 0;
  hak_lock(&sp.lock);
  while (sp.oldest && work->n_unmap < HAK_SPARE_WORK) {
    hak_spare_node_t *old = sp.oldest;
    unlink_node(old);
    work->unmap[work->n_unmap++] = old;
  }
  hak_unlock(&sp.lock);
}

size_t hak_spare_bytes(void) {
  hak_lock(&sp.lock);
  size_t b = sp.bytes;
  hak_unlock(&sp.lock);
  return b;
}

size_t hak_spare_resident_bytes(void) {
  hak_lock(&sp.lock);
  size_t b = sp.resident;
  hak_unlock(&sp.lock);
  return b;
}

size_t hak_spare_site_resident(uint16_t site) {
  return atomic_load_explicit(&site_resident[site % HAK_SPARE_SITES], memory_order_relaxed);
}

bool hak_spare_is_valid(void) {
  static size_t per_site[HAK_SPARE_SITES];  // under sp.lock
  bool ok = true;
  hak_lock(&sp.lock);
  size_t bytes = 0, resident = 0, count = 0, in_classes = 0;
  for (unsigned i = 0; i < HAK_SPARE_SITES; i++) per_site[i] = 0;
  const hak_spare_node_t *prev = NULL;
  for (const hak_spare_node_t *n = sp.oldest; n && count <= sp.count; n = n->age_next) {
    if (n->age_prev != prev || n->cls >= HAK_SPARE_CLASSES || n->thermal > HAK_COLD) ok = false;
    if (prev && n->stamp < prev->stamp) ok = false;
    bytes += n->bytes;
    if (n->thermal != HAK_COLD) resident += n->bytes;
    if (n->thermal != HAK_COLD) per_site[n->site % HAK_SPARE_SITES] += n->bytes;
    count++;
    prev = n;
  }
  if (prev != sp.newest) ok = false;
  for (unsigned c = 0; c < 2 * HAK_SPARE_CLASSES; c++) {
    const hak_spare_node_t *p = NULL;
    bool cold = c >= HAK_SPARE_CLASSES;
    for (const hak_spare_node_t *n = sp.cls_top[cold][c % HAK_SPARE_CLASSES]; n && in_classes <= sp.count;
         n = n->cls_next) {
      if (n->cls != c % HAK_SPARE_CLASSES || n->cls_prev != p || (n->thermal == HAK_COLD) != cold) ok = false;
      in_classes++;
      p = n;
    }
  }
  if (count != sp.count || in_classes != sp.count || bytes != sp.bytes || resident != sp.resident) ok = false;
  if (sp.bytes > sp.cfg.max_bytes) ok = false;
  for (unsigned i = 0; i < HAK_SPARE_SITES; i++)
    if (per_site[i] != atomic_load_explicit(&site_resident[i], memory_order_relaxed)) ok = false;
  hak_unlock(&sp.lock);
  return ok;
}

void hak_spare_fork_prepare(void) { hak_lock(&sp.lock); }
void hak_spare_fork_release(void) { hak_unlock(&sp.lock); }
