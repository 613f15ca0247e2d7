/* callsite_code.c — where code is (layer L5): a cache of the process's
 * executable segments, for callsite.c's decoder and stack walk (a stack word
 * is a return address only if it points into one). Two static tables
 * swapped under a try-lock, refilled by dl_iterate_phdr on a rare path (a
 * return address the cache does not know); readers take no lock (a seqlock
 * per table, see seg_table_t). Nothing here allocates.
 */
#include <link.h>
#include <stdatomic.h>
#include <string.h>

#include "hakmem/callsite.h"
#include "hakmem/callsite_impl.h"
#include "hakmem/lock.h"

#define LD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define ST(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)

static seg_table_t seg_tables[2];
static _Atomic(seg_table_t *) segs;
static hak_lock_t seg_lock = HAK_LOCK_INIT;
uintptr_t hak_callsite_self_lo, hak_callsite_self_hi;

static int add_object(struct dl_phdr_info *info, size_t size, void *arg) {
  seg_table_t *t = arg;
  if (info->dlpi_name && !strncmp(info->dlpi_name, "linux-vdso", 10)) return 0;
  uintptr_t me = (uintptr_t)&hak_callsite_slow;
  for (unsigned i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X) || t->n >= MAX_SEGS) continue;
    uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
    if (me >= lo && me < hi && info->dlpi_name && info->dlpi_name[0]) hak_callsite_self_lo = lo, hak_callsite_self_hi = hi;
    unsigned k = t->n;
    ST(t->n, k + 1);
    while (k > 0 && LD(t->seg[k - 1].lo) > lo) {  // insertion sort
      ST(t->seg[k].lo, LD(t->seg[k - 1].lo));
      ST(t->seg[k].hi, LD(t->seg[k - 1].hi));
      k--;
    }
    ST(t->seg[k].lo, lo);
    ST(t->seg[k].hi, hi);
  }
  return 0;
}

// Try only: a thread that finds another refreshing (or a fork child that
// inherited the lock taken) goes on with the table it has.
void hak_callsite_refresh(void) {
  if (!hak_trylock(&seg_lock)) return;
  seg_table_t *cur = atomic_load_explicit(&segs, memory_order_acquire);
  seg_table_t *t = cur == &seg_tables[0] ? &seg_tables[1] : &seg_tables[0];
  ST(t->seq, t->seq + 1);  // odd: being rewritten
  atomic_thread_fence(memory_order_release);
  ST(t->n, 0u);
  dl_iterate_phdr(add_object, t);
  uintptr_t max = 0;
  for (unsigned i = 0; i < t->n; i++)
    if (t->seg[i].hi > max) max = t->seg[i].hi;
  ST(t->min, t->n ? t->seg[0].lo : 0);
  ST(t->max, max);
  __atomic_store_n(&t->seq, t->seq + 1, __ATOMIC_RELEASE);  // even again
  atomic_store_explicit(&segs, t, memory_order_release);
  hak_unlock(&seg_lock);
}

// The segment of t holding code address a into *out; false if none (or t
// was being rewritten throughout a few tries).
bool hak_callsite_code_seg(const seg_table_t *t, uintptr_t a, code_seg_t *out) {
  if (!t) return false;
  for (unsigned tries = 0; tries < 4; tries++) {
    unsigned seq = __atomic_load_n(&t->seq, __ATOMIC_ACQUIRE);
    if (seq & 1) continue;
    bool found = false;
    if (a >= LD(t->min) && a < LD(t->max)) {
      unsigned lo = 0, hi = LD(t->n);
      if (hi > MAX_SEGS) hi = MAX_SEGS;
      while (lo < hi) {  // the last segment starting at or below a
        unsigned mid = (lo + hi) / 2;
        if (LD(t->seg[mid].lo) <= a) lo = mid + 1;
        else hi = mid;
      }
      if (lo) {
        out->lo = LD(t->seg[lo - 1].lo);
        out->hi = LD(t->seg[lo - 1].hi);
        found = a >= out->lo && a < out->hi;
      }
    }
    atomic_thread_fence(memory_order_acquire);
    if (__atomic_load_n(&t->seq, __ATOMIC_RELAXED) == seq) return found;
  }
  return false;
}

bool hak_callsite_find_code(uintptr_t a, code_seg_t *out) { return hak_callsite_code_seg(hak_callsite_segs(), a, out); }

const seg_table_t *hak_callsite_segs(void) { return atomic_load_explicit(&segs, memory_order_acquire); }
