/* bigcache.c — per (site x class) rings of freed large blocks (layer L3).
 * See bigcache.h for the contract. Called by large.c; fuzzed alone by
 * fuzz/bigcache_fuzzer.c against a shadow model.
 *
 * Layout: rings[r].e[s] is slot s of ring r; used slots are marked in the
 * ring's bitmap. Every used slot is also on one age list (oldest first),
 * linked by slot number (r * MAX_SLOTS + s), so the oldest block anywhere
 * is found in O(1) for the byte cap and the age limit.
 */
#include "hakmem/bigcache.h"

#include <stdatomic.h>
#include <string.h>

#include "hakmem/check.h"
#include "hakmem/lock.h"
#include "hakmem/stats.h"

#define NSLOTS (HAK_BIGCACHE_RINGS * HAK_BIGCACHE_MAX_SLOTS)
#define NIL 0xffffu

typedef struct entry {
  void *blk;
  size_t bytes;
  uint64_t stamp;  // when it was cached
  uint64_t seq;    // caching order: stamps tie within a millisecond
  uint16_t prev, next;  // age list
} entry_t;

typedef struct ring {
  uint32_t key;       // (site << 8 | cls) + 1; 0 when the ring is unclaimed
  uint16_t used;      // bitmap of used slots
  uint64_t last_use;  // for choosing which way to steal
  entry_t e[HAK_BIGCACHE_MAX_SLOTS];
} ring_t;

static struct {
  hak_lock_t lock;
  hak_bigcache_cfg_t cfg;
  uint64_t now;  // the latest clock reading seen (never goes back)
  uint64_t seq;  // puts so far
  size_t bytes, count;
  uint16_t oldest, newest;  // age list ends
} bc = {.oldest = NIL, .newest = NIL};
// Under bc.lock. Apart from bc because it is zero at start: in .bss, never
// touched until a large block is cached, it costs a process nothing; inside
// bc's initialised data it was 328 KiB of file-backed .data, some of it
// faulted in at load time.
static ring_t rings[HAK_BIGCACHE_RINGS];
// Bytes per site: written under bc.lock, read without it.
static _Atomic size_t site_bytes[HAK_BIGCACHE_SITES];

static inline uint16_t site_of_key(uint32_t key) { return (uint16_t)((key - 1) >> 8); }

static void site_charge(uint32_t key, size_t bytes, bool add) {
  _Atomic size_t *c = &site_bytes[site_of_key(key) % HAK_BIGCACHE_SITES];
  size_t v = atomic_load_explicit(c, memory_order_relaxed);
  HAK_ASSERT_INTERNAL(add || v >= bytes);
  atomic_store_explicit(c, add ? v + bytes : v - bytes, memory_order_relaxed);
}

static inline entry_t *slot_entry(uint16_t id) {
  return &rings[id / HAK_BIGCACHE_MAX_SLOTS].e[id % HAK_BIGCACHE_MAX_SLOTS];
}

static inline uint32_t key_of(uint16_t site, uint8_t cls) { return ((uint32_t)site << 8 | cls) + 1; }

static inline unsigned ring_hash(uint32_t key) {
  return (unsigned)(((uint64_t)key * 0x9E3779B97F4A7C15ull) >> 40) & (HAK_BIGCACHE_RINGS - 1) & ~1u;
}

static uint64_t clock_in(uint64_t now) {
  if (now > bc.now) bc.now = now;
  return bc.now;
}

// --- age list ---------------------------------------------------------------------

static void age_link(uint16_t id) {
  entry_t *e = slot_entry(id);
  e->prev = bc.newest;
  e->next = NIL;
  if (bc.newest != NIL) slot_entry(bc.newest)->next = id;
  else bc.oldest = id;
  bc.newest = id;
}

static void age_unlink(uint16_t id) {
  entry_t *e = slot_entry(id);
  if (e->prev != NIL) slot_entry(e->prev)->next = e->next;
  else bc.oldest = e->next;
  if (e->next != NIL) slot_entry(e->next)->prev = e->prev;
  else bc.newest = e->prev;
}

// Take slot id out of the cache; returns its entry (still readable).
static entry_t *slot_remove(uint16_t id) {
  ring_t *r = &rings[id / HAK_BIGCACHE_MAX_SLOTS];
  unsigned s = id % HAK_BIGCACHE_MAX_SLOTS;
  HAK_ASSERT_INTERNAL(r->used & (1u << s));
  r->used &= (uint16_t) ~(1u << s);
  age_unlink(id);
  bc.bytes -= r->e[s].bytes;
  site_charge(r->key, r->e[s].bytes, false);
  bc.count--;
  HAK_STAT_SUB(bigcache_bytes, r->e[s].bytes);
  return &r->e[s];
}

static void victim_add(hak_bigcache_victims_t *out, uint16_t id) {
  ring_t *r = &rings[id / HAK_BIGCACHE_MAX_SLOTS];
  entry_t *e = slot_remove(id);
  HAK_ASSERT_INTERNAL(out->n < HAK_BIGCACHE_VICTIMS);
  out->v[out->n++] = (hak_bigcache_victim_t){e->blk, e->bytes, site_of_key(r->key), (uint8_t)(r->key - 1)};
  HAK_STAT_INC(bigcache_evictions);
}

static inline uint16_t slot_id(const ring_t *r, unsigned s) {
  return (uint16_t)((unsigned)(r - rings) * HAK_BIGCACHE_MAX_SLOTS + s);
}

// Every used slot of r to out, while out has room (the used slots only).
static void victims_of_ring(const ring_t *r, hak_bigcache_victims_t *out) {
  for (unsigned m = r->used; m && out->n < HAK_BIGCACHE_VICTIMS; m &= m - 1)
    victim_add(out, slot_id(r, (unsigned)__builtin_ctz(m)));
}

// The used slot of r cached first (oldest) or last (newest).
static int ring_pick(const ring_t *r, bool newest) {
  int best = -1;
  for (unsigned m = r->used; m; m &= m - 1) {  // the used slots only
    int s = __builtin_ctz(m);
    if (best < 0 || (newest ? r->e[s].seq > r->e[best].seq : r->e[s].seq < r->e[best].seq)) best = s;
  }
  return best;
}

static ring_t *ring_find(uint32_t key) {
  unsigned h = ring_hash(key);
  for (unsigned w = 0; w < 2; w++)
    if (rings[h + w].key == key) return &rings[h + w];
  return NULL;
}

// --- public -------------------------------------------------------------------------

void hak_bigcache_configure(const hak_bigcache_cfg_t *cfg) {
  hak_lock(&bc.lock);
  bc.cfg = *cfg;
  if (bc.cfg.slots < 1) bc.cfg.slots = 1;
  if (bc.cfg.slots > HAK_BIGCACHE_MAX_SLOTS) bc.cfg.slots = HAK_BIGCACHE_MAX_SLOTS;
  hak_unlock(&bc.lock);
}

void *hak_bigcache_get(uint16_t site, uint8_t cls, uint64_t now, size_t *bytes) {
  return hak_bigcache_get_fit(site, cls, cls, false, now, bytes);
}

void *hak_bigcache_get_fit(uint16_t site, uint8_t cls, uint8_t max_cls, bool largest, uint64_t now, size_t *bytes) {
  void *blk = NULL;
  hak_lock(&bc.lock);
  for (unsigned i = 0; cls + i <= max_cls && !blk && bc.count; i++) {
    ring_t *r = ring_find(key_of(site, (uint8_t)(largest ? max_cls - i : cls + i)));
    int s = r ? ring_pick(r, true) : -1;
    if (s >= 0) {
      entry_t *e = slot_remove(slot_id(r, (unsigned)s));
      blk = e->blk;
      *bytes = e->bytes;
      r->last_use = clock_in(now);
    }
  }
  hak_unlock(&bc.lock);
  if (blk) HAK_STAT_INC(bigcache_hits);
  else HAK_STAT_INC(bigcache_misses);
  return blk;
}

bool hak_bigcache_put(uint16_t site, uint8_t cls, void *blk, size_t bytes, uint64_t now,
                      hak_bigcache_victims_t *out) {
  return hak_bigcache_put_capped(site, cls, blk, bytes, HAK_BIGCACHE_MAX_SLOTS, now, out);
}

bool hak_bigcache_put_capped(uint16_t site, uint8_t cls, void *blk, size_t bytes, unsigned cap, uint64_t now,
                             hak_bigcache_victims_t *out) {
  out->n = 0;
  uint32_t key = key_of(site, cls);
  hak_lock(&bc.lock);
  now = clock_in(now);
  if (cap > bc.cfg.slots) cap = bc.cfg.slots;
  if (!bc.cfg.enabled || !cap || bytes > bc.cfg.max_bytes / 2) goto reject;

  // Make room under the byte cap, oldest first.
  while (bc.bytes + bytes > bc.cfg.max_bytes) {
    if (out->n == HAK_BIGCACHE_VICTIMS) goto reject;
    victim_add(out, bc.oldest);
  }

  ring_t *r = ring_find(key);
  if (!r) {
    unsigned h = ring_hash(key);
    ring_t *a = &rings[h], *b = &rings[h + 1];
    // A free way, else the emptier way, else the one used least recently.
    if (!a->used) r = a;
    else if (!b->used) r = b;
    else r = a->last_use <= b->last_use ? a : b;
    if (r->used) {
      if (out->n + (unsigned)__builtin_popcount(r->used) > HAK_BIGCACHE_VICTIMS) goto reject;
      HAK_STAT_INC(bigcache_ring_steals);
      victims_of_ring(r, out);
    }
    r->key = key;
  }
  // Ring full: its oldest block leaves.
  while ((unsigned)__builtin_popcount(r->used) >= cap) {
    if (out->n == HAK_BIGCACHE_VICTIMS) goto reject;
    victim_add(out, slot_id(r, (unsigned)ring_pick(r, false)));
  }
  unsigned s = (unsigned)__builtin_ctz(~(unsigned)r->used);
  HAK_ASSERT_INTERNAL(s < bc.cfg.slots && s < HAK_BIGCACHE_MAX_SLOTS);
  HAK_ASSERT_INTERNAL(bc.bytes + bytes <= bc.cfg.max_bytes);
  r->used |= (uint16_t)(1u << s);
  r->e[s] = (entry_t){.blk = blk, .bytes = bytes, .stamp = now, .seq = ++bc.seq};
  r->last_use = now;
  age_link(slot_id(r, s));
  bc.bytes += bytes;
  site_charge(key, bytes, true);
  bc.count++;
  hak_unlock(&bc.lock);
  HAK_STAT_INC(bigcache_puts);
  HAK_STAT_ADD(bigcache_bytes, bytes);
  return true;

reject:
  hak_unlock(&bc.lock);
  HAK_STAT_INC(bigcache_rejects);
  return false;
}

void hak_bigcache_expire(uint64_t now, hak_bigcache_victims_t *out) {
  out->n = 0;
  hak_lock(&bc.lock);
  now = clock_in(now);
  while (bc.oldest != NIL && out->n < HAK_BIGCACHE_VICTIMS && now - slot_entry(bc.oldest)->stamp >= bc.cfg.age_ms)
    victim_add(out, bc.oldest);
  hak_unlock(&bc.lock);
}

void hak_bigcache_drain(hak_bigcache_victims_t *out) {
  out->n = 0;
  hak_lock(&bc.lock);
  while (bc.oldest != NIL && out->n < HAK_BIGCACHE_VICTIMS) victim_add(out, bc.oldest);
  hak_unlock(&bc.lock);
}

void hak_bigcache_drain_site(uint16_t site, hak_bigcache_victims_t *out) {
  out->n = 0;
  if (!hak_bigcache_site_bytes(site)) return;  // the common case: nothing to walk
  hak_lock(&bc.lock);
  for (unsigned i = 0; i < HAK_BIGCACHE_RINGS && out->n < HAK_BIGCACHE_VICTIMS; i++) {
    ring_t *r = &rings[i];
    if (r->used && site_of_key(r->key) == site) victims_of_ring(r, out);
  }
  hak_unlock(&bc.lock);
}

size_t hak_bigcache_bytes(void) {
  hak_lock(&bc.lock);
  size_t b = bc.bytes;
  hak_unlock(&bc.lock);
  return b;
}

size_t hak_bigcache_count(void) {
  hak_lock(&bc.lock);
  size_t n = bc.count;
  hak_unlock(&bc.lock);
  return n;
}

size_t hak_bigcache_site_bytes(uint16_t site) {
  return atomic_load_explicit(&site_bytes[site % HAK_BIGCACHE_SITES], memory_order_relaxed);
}

bool hak_bigcache_is_valid(void) {
  static size_t per_site[HAK_BIGCACHE_SITES];  // under bc.lock
  bool ok = true;
  hak_lock(&bc.lock);
  size_t bytes = 0, count = 0;
  for (unsigned i = 0; i < HAK_BIGCACHE_SITES; i++) per_site[i] = 0;
  for (unsigned i = 0; i < HAK_BIGCACHE_RINGS; i++) {
    const ring_t *r = &rings[i];
    if (r->used && !r->key) ok = false;  // used slots need an owner
    if ((unsigned)__builtin_popcount(r->used) > bc.cfg.slots) ok = false;
    if (r->key && ring_hash(r->key) != (i & ~1u)) ok = false;  // in its own set
    for (unsigned s = 0; s < HAK_BIGCACHE_MAX_SLOTS; s++) {
      if (!(r->used & (1u << s))) continue;
      bytes += r->e[s].bytes;
      per_site[site_of_key(r->key) % HAK_BIGCACHE_SITES] += r->e[s].bytes;
      count++;
      if (!r->e[s].blk) ok = false;
    }
  }
  // The age list holds exactly the used slots, oldest first.
  size_t listed = 0;
  uint64_t last = 0;
  uint16_t prev = NIL;
  for (uint16_t id = bc.oldest; id != NIL && listed <= NSLOTS; id = slot_entry(id)->next) {
    const ring_t *r = &rings[id / HAK_BIGCACHE_MAX_SLOTS];
    const entry_t *e = slot_entry(id);
    if (!(r->used & (1u << (id % HAK_BIGCACHE_MAX_SLOTS))) || e->prev != prev || e->stamp < last) ok = false;
    last = e->stamp;
    prev = id;
    listed++;
  }
  if (prev != bc.newest || listed != count || count != bc.count || bytes != bc.bytes) ok = false;
  if (bc.cfg.enabled && bc.bytes > bc.cfg.max_bytes) ok = false;
  for (unsigned i = 0; i < HAK_BIGCACHE_SITES; i++)
    if (per_site[i] != atomic_load_explicit(&site_bytes[i], memory_order_relaxed)) ok = false;
  hak_unlock(&bc.lock);
  return ok;
}

void hak_bigcache_fork_prepare(void) { hak_lock(&bc.lock); }
void hak_bigcache_fork_release(void) { hak_unlock(&bc.lock); }
