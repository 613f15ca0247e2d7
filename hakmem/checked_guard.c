/* checked_guard.c — checked mode's guarded pool blocks (layer L5). See
 * checked.h. Called by alloc.c (checked-mode allocation, and every free,
 * realloc and usable size of a pointer in the guard region) and by checked.c
 * (allocation kinds).
 *
 * One region, mapped on the first guarded request and never unmapped, holds
 * two tiers of slots: tier 0 one data page each (blocks whose pointer, its
 * canary head and its rounded size fit one page), tier 1 enough pages for
 * the largest pool request (LARGE_THRESHOLD then). A slot is a PROT_NONE
 * guard page followed by its data pages; the next slot's guard page (or the
 * region's last page) follows, so a block placed flush against the end of
 * its data pages overflows into an inaccessible page. Only a live block's
 * pages are read-write; everything else in the region is PROT_NONE, so the
 * VMAs are at most two per live block plus one. Layout of a live block:
 *   [canary from its first page .. p) p [request) [canary .. slot end)
 * Metadata (request, pointer, pages, kind, state) lives out of band, in a
 * separate mapping, so a freed block has nothing readable left.
 *
 * Bounds: at most `budget` blocks live (HAKMEM_CHECK_GUARD, read when the
 * region is made; lowering the option later lowers it); tier 0 has
 * 2 * budget slots, tier 1 budget / 16 (at least 8); each tier's quarantine
 * (FIFO) holds at most half its slots and GUARD_QUARANTINE_BYTES of pages,
 * so a tier is short of slots only while its live blocks are more than
 * half. A request that finds no room takes checked mode's pool path.
 *
 * Slot states: FREE (on its tier's free stack or never used), LIVE, BUSY
 * (being freed: one thread checks its canaries and changes its protection
 * outside the lock; a free of it is a double free), QUARANTINED. System
 * calls are made outside the lock. A multi-page block's pages are dropped
 * at its free, so the quarantine keeps only one-page blocks resident.
 */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "hakmem/checked.h"
#include "hakmem/fork.h"
#include "hakmem/lock.h"
#include "hakmem/options.h"
#include "hakmem/os.h"

#define GUARD_QUARANTINE_BYTES ((size_t)16 << 20) /* per tier */
#define NONE UINT32_MAX

enum { S_FREE = 0, S_LIVE = 1, S_BUSY = 2, S_QUARANTINED = 3 };
enum { R_NONE = 0, R_MAKING = 1, R_READY = 2, R_FAILED = 3 };

typedef struct g_slot {
  uint32_t req;   // bytes asked for
  uint32_t back;  // the pointer is the slot's end minus back
  uint32_t next;  // free stack link
  uint16_t pages; // data pages made accessible (the slot's last ones)
  uint8_t state;
  uint8_t kind;   // hak_alloc_kind_t
} g_slot_t;

typedef struct g_tier {
  uintptr_t base;  // slot 0's guard page
  size_t stride;   // guard page + data pages
  uint32_t n, first, used, free;  // slots, global index of slot 0, slots ever used, free stack
  uint32_t *ring;  // its quarantine: at most n / 2 slots (FIFO) ...
  uint32_t ring_head, ring_n;
  size_t ring_bytes;  // ... and GUARD_QUARANTINE_BYTES
} g_tier_t;

_Atomic uintptr_t hak_checked_guard_lo, hak_checked_guard_hi;

static struct {
  hak_lock_t lock;
  _Atomic int ready;
  size_t page;
  uint32_t budget, live;
  g_tier_t tier[2];
  g_slot_t *slot;
} g;

// fork(): a leaf lock (taken under no other, none taken under it), in the
// registry (fork.h) from hak_init on, whether or not the region is ever
// made: calling pthread_atfork from the first guarded malloc could itself
// allocate.
static void g_fork_prepare(void) { hak_lock(&g.lock); }
static void g_fork_release(void) { hak_unlock(&g.lock); }
static const hak_fork_handler_t guard_fork = {"checked guard", g_fork_prepare, g_fork_release, g_fork_release};

void hak_checked_guard_fork_register(void) { hak_fork_register(&guard_fork); }

static size_t pages_of(size_t bytes) { return (bytes + g.page - 1) / g.page; }

// The region and its metadata, once; false when the budget is 0 or the OS refused.
static bool g_make(void) {
  int r = atomic_load_explicit(&g.ready, memory_order_acquire);
  if (HAK_LIKELY(r == R_READY)) return true;
  if (r != R_NONE || !hak_opt(HAK_OPT_CHECK_GUARD)) return false;
  if (!atomic_compare_exchange_strong(&g.ready, &r, R_MAKING)) return false;  // another thread makes it
  int saved = errno;
  g.page = hak_os_page_size();
  g.budget = (uint32_t)hak_opt(HAK_OPT_CHECK_GUARD);
  size_t d1 = pages_of(hak_opt(HAK_OPT_LARGE_THRESHOLD) + HAK_CHECKED_HEAD);
  g.tier[0] = (g_tier_t){.stride = 2 * g.page, .n = 2 * g.budget, .free = NONE};
  g.tier[1] = (g_tier_t){.stride = (d1 + 1) * g.page, .n = g.budget / 16 > 8 ? g.budget / 16 : 8, .free = NONE};
  g.tier[1].first = g.tier[0].n;
  size_t len = g.tier[0].n * g.tier[0].stride + g.tier[1].n * g.tier[1].stride + g.page;
  size_t nslots = (size_t)g.tier[0].n + g.tier[1].n;
  size_t meta = pages_of(nslots * sizeof(g_slot_t) + nslots / 2 * sizeof(uint32_t)) * g.page;
  char *base = hak_os_map(len, g.page);
  char *m = base ? hak_os_map(meta, g.page) : NULL;
  // One write while the region is one read-write mapping gives it its
  // kernel-side anon_vma; every piece mprotect cuts out later shares it, so
  // a freed block's pages merge back with their neighbours (pieces that got
  // anon_vmas of their own at their first fault would not merge).
  if (base) *(volatile char *)base = 0;
  if (!m || !hak_os_protect(base, len, false)) {  // the pools serve every request, errno as it was
    if (m) hak_os_unmap(m, meta);
    if (base) hak_os_unmap(base, len);
    atomic_store(&g.ready, R_FAILED);
    errno = saved;
    return false;
  }
  g.slot = (g_slot_t *)m;
  g.tier[0].ring = (uint32_t *)(m + nslots * sizeof(g_slot_t));
  g.tier[1].ring = g.tier[0].ring + g.tier[0].n / 2;
  g.tier[0].base = (uintptr_t)base;
  g.tier[1].base = (uintptr_t)base + g.tier[0].n * g.tier[0].stride;
  atomic_store_explicit(&hak_checked_guard_lo, (uintptr_t)base, memory_order_relaxed);
  atomic_store_explicit(&hak_checked_guard_hi, (uintptr_t)base + len, memory_order_release);
  atomic_store_explicit(&g.ready, R_READY, memory_order_release);
  return true;
}

static g_tier_t *tier_of(uint32_t i) { return &g.tier[i >= g.tier[1].first]; }
// One past the last data byte of slot i.
static char *slot_end(uint32_t i) {
  g_tier_t *t = tier_of(i);
  return (char *)(t->base + (i - t->first + 1) * t->stride);
}
static char *ptr_of(uint32_t i) { return slot_end(i) - g.slot[i].back; }
static char *pages_start(uint32_t i) { return slot_end(i) - (size_t)g.slot[i].pages * g.page; }

// The slot p falls in, or NONE when p is on a guard page.
static uint32_t slot_at(const void *p) {
  uintptr_t a = (uintptr_t)p;
  g_tier_t *t = &g.tier[a >= g.tier[1].base];
  size_t k = (a - t->base) / t->stride;
  if (k >= t->n || (a - t->base) % t->stride < g.page) return NONE;
  return t->first + (uint32_t)k;
}

// Under the lock: slot i back on its tier's free stack.
static void put_free(uint32_t i) {
  g_tier_t *t = tier_of(i);
  g.slot[i].state = S_FREE;
  g.slot[i].next = t->free;
  t->free = i;
}

void *hak_checked_guard_alloc(size_t size, size_t align, bool zero) {
  if (!g_make()) return NULL;
  size_t a = align > HAK_MIN_ALIGN ? align : HAK_MIN_ALIGN;
  if (a > g.page) return NULL;
  size_t back = ((size ? size : 1) + a - 1) & ~(a - 1);
  size_t pages = pages_of(back + HAK_CHECKED_HEAD);
  g_tier_t *t = &g.tier[pages > 1];
  if (pages > t->stride / g.page - 1) return NULL;
  uint32_t i = NONE;
  hak_lock(&g.lock);
  uint64_t limit = hak_opt(HAK_OPT_CHECK_GUARD);
  if (g.live < limit && g.live < g.budget) {
    if (t->free != NONE) {
      i = t->free;
      t->free = g.slot[i].next;
    } else if (t->used < t->n) {
      i = t->first + t->used++;
    }
  }
  if (i != NONE) {
    g.slot[i] = (g_slot_t){.req = (uint32_t)size, .back = (uint32_t)back, .next = NONE, .pages = (uint16_t)pages,
                           .state = S_LIVE, .kind = HAK_KIND_MALLOC};
    g.live++;
  }
  hak_unlock(&g.lock);
  if (i == NONE) return NULL;
  char *start = pages_start(i), *p = ptr_of(i), *end = slot_end(i);
  if (!hak_os_protect(start, pages * g.page, true)) {  // out of mappings: the pools serve it
    hak_lock(&g.lock);
    g.live--;
    put_free(i);
    hak_unlock(&g.lock);
    return NULL;
  }
  memset(start, HAK_CANARY, (size_t)(p - start));
  memset(p + size, HAK_CANARY, (size_t)(end - (p + size)));
  if (zero) memset(p, 0, size);
  return p;
}

// The slot of live block p; aborts with free's message unless p is one.
// Returns with the lock held.
static uint32_t live_locked(const void *p) {
  uint32_t i = slot_at(p);
  if (i == NONE) hak_checked_misuse("invalid free (not a live block)", p);
  hak_lock(&g.lock);
  uint8_t s = g.slot[i].state;
  const char *why = NULL;
  if (s == S_QUARANTINED || s == S_BUSY) why = "double free (the block is in the guard quarantine)";
  else if (s != S_LIVE) why = "double free (or free of a block never handed out)";
  else if ((const char *)p != ptr_of(i)) why = "invalid free (pointer inside a block)";
  if (why) {
    hak_unlock(&g.lock);
    hak_checked_misuse(why, p);
  }
  return i;
}

// Under the lock: the quarantine's oldest entries leave until it has room
// for `bytes` more.
static void q_evict(g_tier_t *t, size_t bytes) {
  uint32_t cap = t->n / 2;
  while (t->ring_n && (t->ring_n >= cap || t->ring_bytes + bytes > GUARD_QUARANTINE_BYTES)) {
    uint32_t j = t->ring[(t->ring_head + cap - t->ring_n) % cap];
    t->ring_n--;
    t->ring_bytes -= (size_t)g.slot[j].pages * g.page;
    put_free(j);
  }
}

void hak_checked_guard_free(void *p) {
  uint32_t i = live_locked(p);
  g_slot_t *s = &g.slot[i];
  hak_alloc_kind_t kind = (hak_alloc_kind_t)s->kind;
  if (kind != HAK_KIND_MALLOC && hak_checked) {  // (tests turn checked mode off with blocks live)
    hak_unlock(&g.lock);
    hak_checked_not_malloc(kind, p);
  }
  s->state = S_BUSY;  // of two racing frees exactly one gets here
  g.live--;
  hak_unlock(&g.lock);
  char *start = pages_start(i), *end = slot_end(i);
  if (!hak_checked_all_bytes((unsigned char *)p + s->req, (unsigned char *)end, HAK_CANARY))
    hak_checked_misuse("heap overflow past the end of a block, found at free", p);
  if (!hak_checked_all_bytes((unsigned char *)start, (unsigned char *)p, HAK_CANARY))
    hak_checked_misuse("heap underflow before the start of a block, found at free", p);
  size_t bytes = (size_t)s->pages * g.page;
  // A multi-page block waits without its pages (resident: the live blocks
  // and the one-page ones); refused (out of mappings), the block still
  // waits its turn, readable.
  if (s->pages > 1) hak_os_advise(start, bytes, HAK_ADVISE_DONTNEED);
  (void)hak_os_protect(start, bytes, false);
  g_tier_t *t = tier_of(i);
  hak_lock(&g.lock);
  q_evict(t, bytes);
  s->state = S_QUARANTINED;
  t->ring[t->ring_head] = i;
  t->ring_head = (t->ring_head + 1) % (t->n / 2);
  t->ring_n++;
  t->ring_bytes += bytes;
  hak_unlock(&g.lock);
}

size_t hak_checked_guard_usable(const void *p) {
  uint32_t i = slot_at(p);
  if (i == NONE) return 0;
  hak_lock(&g.lock);
  size_t n = g.slot[i].state == S_LIVE && (const char *)p == ptr_of(i) ? g.slot[i].req : 0;
  hak_unlock(&g.lock);
  return n;
}

size_t hak_checked_guard_req(const void *p) {
  uint32_t i = live_locked(p);
  size_t n = g.slot[i].req;
  hak_unlock(&g.lock);
  return n;
}

hak_alloc_kind_t hak_checked_guard_kind(const void *p, size_t *req, bool set, hak_alloc_kind_t to) {
  uint32_t i = live_locked(p);
  hak_alloc_kind_t was = (hak_alloc_kind_t)g.slot[i].kind;
  if (req) *req = g.slot[i].req;
  if (set) g.slot[i].kind = (uint8_t)to;
  hak_unlock(&g.lock);
  return was;
}

size_t hak_checked_guard_live(void) {
  hak_lock(&g.lock);
  size_t n = g.live;
  hak_unlock(&g.lock);
  return n;
}
