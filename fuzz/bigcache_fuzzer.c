/* bigcache_fuzzer.c — BigCache against a shadow model (fuzz/, libFuzzer).
 *
 * The input is a configuration followed by operations: put a block for a
 * (site, class), also with a ring cap (hak_bigcache_put_capped), get for a
 * (site, class), also over a range of classes (hak_bigcache_get_fit), move
 * the clock (also backwards), expire, drain one batch, drain everything.
 * After every operation the harness checks BigCache against the model below:
 *   - a get returns the most recently cached block of its key, or NULL
 *     exactly when the model holds none; never a block that is not cached;
 *     get_fit that of the first class in its order the model holds one of;
 *   - every victim was cached, carries its own site/class/bytes, and leaves
 *     exactly once; victims leave in the contract's order: the byte cap takes
 *     the oldest blocks, a full ring its own oldest, a steal the whole ring of
 *     another key of the same set (only when both ways are busy), expiry and
 *     drain the oldest first;
 *   - a put is accepted exactly when the contract says so (a capped one
 *     fills its ring to min(cap, slots) at most; cap 0 rejects);
 *   - per-ring and total caps hold; bytes and count agree;
 *   - the counters (hits, misses, puts, rejects, evictions, steals, bytes)
 *     equal the model's; the rings of every set the input used hold
 *     exactly the model's blocks (after every operation);
 *     hak_bigcache_is_valid() passes (a walk of every slot: after
 *     configuring, every 64th operation, and at the end).
 *
 * bigcache.c is compiled into this file so that its static state can be reset
 * before each input (a crash then reproduces from its input alone) and so
 * that the model can ask which set a key hashes to (ring_hash).
 * Blocks are fake addresses: BigCache never touches the memory it caches.
 */
#include "hakmem/bigcache.c"

#include <string.h>

#include "fuzz/fuzz_input.h"

#define MAX_BLOCKS 512u
#define NKEYS 16u
#define BLOCK_BASE ((uintptr_t)1 << 32)
#define BLOCK_STEP ((uintptr_t)1 << 22)

typedef struct fkey {
  uint16_t site;
  uint8_t cls;
} fkey_t;

typedef struct mblock {
  bool cached;
  fkey_t key;
  size_t bytes;
  uint64_t seq;    // order of caching: larger is newer
  uint64_t stamp;  // clock when cached
} mblock_t;

static struct {
  hak_bigcache_cfg_t cfg;  // as BigCache applies it (slots clamped)
  mblock_t b[MAX_BLOCKS];
  unsigned nb;
  uint64_t clock, seq;
  size_t bytes, count;
  uint64_t hits, misses, puts, rejects, evictions, steals;
} m;

static fkey_t palette[NKEYS];

// Totals over all inputs of this process, printed at exit when
// HAK_FUZZ_VERBOSE is set: which paths the corpus reaches.
static struct {
  uint64_t inputs, puts, capped_puts, rejects, overflow_rejects, steals, ring_full, byte_cap, hits, misses, expired;
  uint64_t fit_gets, fit_other_class;
} seen;

static void print_seen(void) {
  fprintf(stderr,
          "bigcache_fuzzer: %llu inputs: %llu puts, %llu rejects (%llu by victim overflow), %llu steals, "
          "%llu ring-full and %llu byte-cap victims, %llu hits, %llu misses, %llu expired; %llu capped puts, "
          "%llu get_fit (%llu hits in another class)\n",
          (unsigned long long)seen.inputs, (unsigned long long)seen.puts, (unsigned long long)seen.rejects,
          (unsigned long long)seen.overflow_rejects, (unsigned long long)seen.steals,
          (unsigned long long)seen.ring_full, (unsigned long long)seen.byte_cap, (unsigned long long)seen.hits,
          (unsigned long long)seen.misses, (unsigned long long)seen.expired, (unsigned long long)seen.capped_puts,
          (unsigned long long)seen.fit_gets, (unsigned long long)seen.fit_other_class);
}

static inline void *ptr_of(unsigned i) { return (void *)(BLOCK_BASE + i * BLOCK_STEP); }
static inline unsigned index_of(const void *p) {
  uintptr_t a = (uintptr_t)p;
  FUZZ_CHECK(a >= BLOCK_BASE && (a - BLOCK_BASE) % BLOCK_STEP == 0 && (a - BLOCK_BASE) / BLOCK_STEP < m.nb,
             "BigCache returned %p, which was never put", p);
  return (unsigned)((a - BLOCK_BASE) / BLOCK_STEP);
}
static inline bool key_eq(fkey_t a, fkey_t b) { return a.site == b.site && a.cls == b.cls; }
static inline unsigned set_of(fkey_t k) { return ring_hash(key_of(k.site, k.cls)); }

// Keys 0-5 share one set, 6-9 another (steals need three keys in a set); the
// rest are ordinary.
static void init_palette(void) {
  static bool done;
  if (done) return;
  done = true;
  unsigned n = 0;
  for (uint32_t k = 1; n < 10 && k < (1u << 24); k++) {
    fkey_t key = {(uint16_t)(k >> 8), (uint8_t)k};
    unsigned s = set_of(key);
    bool fits = n == 0 || (n < 6 && s == set_of(palette[0])) || (n == 6 && s != set_of(palette[0])) ||
                (n > 6 && s == set_of(palette[6]));
    if (fits) palette[n++] = key;
  }
  FUZZ_CHECK(n == 10, "could not find colliding keys");
  // Three classes in a row at each of two sites, for get_fit.
  for (unsigned i = 10; i < NKEYS; i++) palette[i] = (fkey_t){(uint16_t)(1000 + (i - 10) / 3), (uint8_t)(30 + i)};
}

// --- the model ------------------------------------------------------------------------

static int oldest(const fkey_t *key) {
  int best = -1;
  for (unsigned i = 0; i < m.nb; i++)
    if (m.b[i].cached && (!key || key_eq(m.b[i].key, *key)) && (best < 0 || m.b[i].seq < m.b[best].seq))
      best = (int)i;
  return best;
}

static int newest(fkey_t key) {
  int best = -1;
  for (unsigned i = 0; i < m.nb; i++)
    if (m.b[i].cached && key_eq(m.b[i].key, key) && (best < 0 || m.b[i].seq > m.b[best].seq)) best = (int)i;
  return best;
}

static unsigned count_of(fkey_t key) {
  unsigned n = 0;
  for (unsigned i = 0; i < m.nb; i++) n += m.b[i].cached && key_eq(m.b[i].key, key);
  return n;
}

// Distinct keys other than `except` holding blocks in set s (at most 2: two ways).
static unsigned busy_keys(unsigned s, fkey_t except, fkey_t out[2]) {
  unsigned n = 0;
  for (unsigned i = 0; i < m.nb; i++) {
    if (!m.b[i].cached || key_eq(m.b[i].key, except) || set_of(m.b[i].key) != s) continue;
    bool dup = false;
    for (unsigned j = 0; j < n; j++) dup |= key_eq(out[j], m.b[i].key);
    if (dup) continue;
    FUZZ_CHECK(n < 2, "three keys hold blocks in set %u: a set has two ways", s);
    out[n++] = m.b[i].key;
  }
  return n;
}

// A victim leaves: it must be cached, match its record, and (when expect >= 0) be that block.
static void take_victim(const hak_bigcache_victim_t *v, int expect, const char *why) {
  unsigned i = index_of(v->blk);
  mblock_t *b = &m.b[i];
  FUZZ_CHECK(b->cached, "%s victim: block %u is not cached (left twice?)", why, i);
  FUZZ_CHECK(expect < 0 || (unsigned)expect == i, "%s victim: got block %u, expected %d", why, i, expect);
  FUZZ_CHECK(v->bytes == b->bytes && v->site == b->key.site && v->cls == b->key.cls,
             "%s victim %u: record (%zu, %u, %u) != (%zu, %u, %u)", why, i, v->bytes, v->site, v->cls, b->bytes,
             b->key.site, b->key.cls);
  b->cached = false;
  m.bytes -= b->bytes;
  m.count--;
  m.evictions++;
}

static void clock_to(uint64_t now) {
  if (now > m.clock) m.clock = now;
}

// --- operations -----------------------------------------------------------------------

// The sets (pairs of rings) an input's keys hash to, for check_rings.
static uint8_t sets_used[HAK_BIGCACHE_RINGS / 16];  // bit per set
static uint16_t set_list[HAK_BIGCACHE_RINGS / 2];
static unsigned nsets;

static void use_set(fkey_t key) {
  unsigned s = set_of(key) / 2;
  if (sets_used[s / 8] & (1u << (s % 8))) return;
  sets_used[s / 8] |= (uint8_t)(1u << (s % 8));
  set_list[nsets++] = (uint16_t)s;
}

static fkey_t pick_key(fuzz_in_t *in) {
  uint8_t c = in_u8(in);
  fkey_t k = c < 240 ? palette[c % NKEYS] : (fkey_t){in_u16(in), in_u8(in)};  // or anywhere
  use_set(k);
  return k;
}

static size_t pick_bytes(fuzz_in_t *in) {
  size_t max = m.cfg.max_bytes;
  switch (in_u8(in) % 8) {
    case 0: return (size_t)32768 << (in_u8(in) % 8);
    case 1: return max / 2;
    case 2: return max / 2 + 1;
    case 3: return max / 8 + in_u8(in);
    case 4: return in_u8(in);
    case 5: return (size_t)in_range(in, 0, max / 2);
    case 6: return (size_t)in_range(in, 0, max / 32 + 1);
    default: return in_u32(in);
  }
}

// A put; key and bytes come from the input unless given. cap < 0: a plain
// hak_bigcache_put; else hak_bigcache_put_capped with that ring cap (which
// the configured slots bound; 0 rejects).
static void op_put(fuzz_in_t *in, uint64_t now, const fkey_t *fixed_key, size_t fixed_bytes, int cap) {
  // A block the caller holds: a new one, or one that left the cache earlier.
  unsigned i = m.nb;
  uint8_t c = in_u8(in);
  if (c & 1 || m.nb == MAX_BLOCKS) {
    for (unsigned k = 0, start = m.nb ? in_u16(in) % m.nb : 0; k < m.nb; k++) {
      unsigned j = (start + k) % m.nb;
      if (!m.b[j].cached) {
        i = j;
        break;
      }
    }
  }
  if (i == MAX_BLOCKS) return;  // everything is cached
  if (i == m.nb) m.b[m.nb++] = (mblock_t){0};
  fkey_t key = fixed_key ? *fixed_key : pick_key(in);
  size_t bytes = fixed_key ? fixed_bytes : pick_bytes(in);

  hak_bigcache_victims_t out;
  memset(&out, 0xa5, sizeof out);  // put must reset out->n itself
  bool kept = cap < 0 ? hak_bigcache_put(key.site, key.cls, ptr_of(i), bytes, now, &out)
                      : hak_bigcache_put_capped(key.site, key.cls, ptr_of(i), bytes, (unsigned)cap, now, &out);
  unsigned ring_cap = cap < 0 || (unsigned)cap > m.cfg.slots ? m.cfg.slots : (unsigned)cap;
  clock_to(now);
  FUZZ_CHECK(out.n <= HAK_BIGCACHE_VICTIMS, "put: %u victims", out.n);

  unsigned vi = 0;
  bool expect_kept = false;
  if (!m.cfg.enabled || !ring_cap || bytes > m.cfg.max_bytes / 2) goto decided;  // declined outright
  // The byte cap: the oldest blocks anywhere leave first.
  while (m.bytes + bytes > m.cfg.max_bytes) {
    if (vi == HAK_BIGCACHE_VICTIMS) goto decided;
    FUZZ_CHECK(vi < out.n, "put of %zu: %zu cached, cap %zu, but only %u victims", bytes, m.bytes,
               m.cfg.max_bytes, out.n);
    take_victim(&out.v[vi++], oldest(NULL), "byte-cap");
    seen.byte_cap++;
  }
  // No ring for the key and both ways of its set busy: one way is emptied.
  if (count_of(key) == 0) {
    fkey_t busy[2];
    if (busy_keys(set_of(key), key, busy) == 2) {
      if (vi == out.n) {  // only a victim-list overflow excuses not stealing
        FUZZ_CHECK(vi + count_of(busy[0]) > HAK_BIGCACHE_VICTIMS || vi + count_of(busy[1]) > HAK_BIGCACHE_VICTIMS,
                   "put: both ways busy, room for victims, but no steal");
        goto decided;
      }
      fkey_t k2 = {out.v[vi].site, out.v[vi].cls};
      FUZZ_CHECK(key_eq(k2, busy[0]) || key_eq(k2, busy[1]), "steal took key (%u, %u), not a busy way of the set",
                 k2.site, k2.cls);
      unsigned c2 = count_of(k2);
      FUZZ_CHECK(vi + c2 <= out.n, "steal of (%u, %u): %u blocks, %u victims left", k2.site, k2.cls, c2, out.n - vi);
      for (unsigned j = 0; j < c2; j++) {
        FUZZ_CHECK(out.v[vi].site == k2.site && out.v[vi].cls == k2.cls, "steal mixes keys");
        take_victim(&out.v[vi++], -1, "steal");
      }
      m.steals++;
      seen.steals++;
    }
  }
  // The key's ring is full (at its cap): its oldest blocks leave.
  while (count_of(key) >= ring_cap) {
    if (vi == HAK_BIGCACHE_VICTIMS) goto decided;
    FUZZ_CHECK(vi < out.n, "put: ring of (%u, %u) full (%u slots) but no victim", key.site, key.cls, ring_cap);
    take_victim(&out.v[vi++], oldest(&key), "ring-full");
    seen.ring_full++;
  }
  expect_kept = true;

decided:
  FUZZ_CHECK(kept == expect_kept, "put of %zu bytes for (%u, %u): returned %d, model says %d", bytes, key.site,
             key.cls, kept, expect_kept);
  FUZZ_CHECK(out.n == vi, "put: %u victims, model explains %u", out.n, vi);
  if (!kept) {
    m.rejects++;
    seen.rejects++;
    seen.overflow_rejects += vi > 0 || (m.cfg.enabled && ring_cap && bytes <= m.cfg.max_bytes / 2);
    return;
  }
  seen.puts++;
  seen.capped_puts += cap >= 0;
  m.b[i] = (mblock_t){.cached = true, .key = key, .bytes = bytes, .seq = ++m.seq, .stamp = m.clock};
  FUZZ_CHECK(count_of(key) <= m.cfg.slots, "put: key (%u, %u) holds more than %u blocks", key.site, key.cls,
             m.cfg.slots);
  m.bytes += bytes;
  m.count++;
  m.puts++;
}

// A get; fit: hak_bigcache_get_fit over the key's class and up to 3 above
// it, smallest (or largest) class first, which finds the newest block of
// the first class the model holds one of.
static void op_get(fuzz_in_t *in, uint64_t now, bool fit) {
  fkey_t asked = pick_key(in), key = asked;
  uint8_t c = fit ? in_u8(in) : 0, max_cls = (uint8_t)(asked.cls + c % 4 < 255 ? asked.cls + c % 4 : 255);
  bool largest = c & 4;
  size_t bytes = 0;
  void *blk = fit ? hak_bigcache_get_fit(asked.site, asked.cls, max_cls, largest, now, &bytes)
                  : hak_bigcache_get(asked.site, asked.cls, now, &bytes);
  if (blk) clock_to(now);  // a miss does not read the clock (the contract leaves it open)
  int want = -1;
  for (unsigned i = 0; asked.cls + i <= max_cls; i++) {
    fkey_t k = {asked.site, (uint8_t)(largest ? max_cls - i : asked.cls + i)};
    use_set(k);
    if (want < 0 && (want = newest(k)) >= 0) key = k;
  }
  seen.fit_gets += fit;
  seen.fit_other_class += fit && want >= 0 && key.cls != asked.cls;
  if (want < 0) {
    FUZZ_CHECK(!blk, "get (%u, %u .. %u): returned %p, model holds nothing", asked.site, asked.cls, max_cls, blk);
    m.misses++;
    seen.misses++;
    return;
  }
  FUZZ_CHECK(blk, "get (%u, %u): NULL, model holds %u blocks", key.site, key.cls, count_of(key));
  unsigned i = index_of(blk);
  FUZZ_CHECK(m.b[i].cached && key_eq(m.b[i].key, key), "get (%u, %u): block %u is not a cached block of the key",
             key.site, key.cls, i);
  FUZZ_CHECK(i == (unsigned)want, "get (%u, %u): block %u (seq %llu), the most recent is %d (seq %llu)", key.site,
             key.cls, i, (unsigned long long)m.b[i].seq, want, (unsigned long long)m.b[want].seq);
  FUZZ_CHECK(bytes == m.b[i].bytes, "get: bytes %zu != %zu", bytes, m.b[i].bytes);
  m.b[i].cached = false;
  m.bytes -= m.b[i].bytes;
  m.count--;
  m.hits++;
  seen.hits++;
}

// Expire (age limit) or drain (everything): the oldest leave first, 32 at most.
static unsigned op_leave(bool expire, uint64_t now) {
  hak_bigcache_victims_t out;
  memset(&out, 0xa5, sizeof out);
  if (expire) {
    hak_bigcache_expire(now, &out);
    clock_to(now);
  } else {
    hak_bigcache_drain(&out);
  }
  FUZZ_CHECK(out.n <= HAK_BIGCACHE_VICTIMS, "%u victims", out.n);
  unsigned vi = 0;
  for (int o; vi < HAK_BIGCACHE_VICTIMS && (o = oldest(NULL)) >= 0; vi++) {
    if (expire && m.clock - m.b[o].stamp < m.cfg.age_ms) break;
    FUZZ_CHECK(vi < out.n, "%s: block %d should leave (age %llu, limit %llu)", expire ? "expire" : "drain", o,
               (unsigned long long)(m.clock - m.b[o].stamp), (unsigned long long)m.cfg.age_ms);
    take_victim(&out.v[vi], o, expire ? "expire" : "drain");
    seen.expired += expire;
  }
  FUZZ_CHECK(out.n == vi, "%s: %u victims, model expects %u", expire ? "expire" : "drain", out.n, vi);
  return out.n;
}

// hak_bigcache_is_valid() walks all 8192 slots; after every operation of a
// long input it was most of the time. After every operation check_rings()
// checks the rings of the sets this input has used (the only ones a correct
// BigCache writes to) against the model; the whole walk, which also catches
// a write to any other ring, runs after configuring, after every
// WALK_EVERY-th operation and after the final drain.
#define WALK_EVERY 64u
static unsigned ops_done;
// Each cached block sits in a ring of its own set that this key claims, and
// each used ring holds exactly the model's blocks of its key, at most
// cfg.slots, none of them NULL.
static void check_rings(const char *after) {
  static uint16_t held[HAK_BIGCACHE_RINGS];  // the model's blocks per ring (zero between calls)
  for (unsigned i = 0; i < m.nb; i++) {
    if (!m.b[i].cached) continue;
    uint32_t k = key_of(m.b[i].key.site, m.b[i].key.cls);
    unsigned r = set_of(m.b[i].key);
    if (rings[r].key != k) r++;
    FUZZ_CHECK(rings[r].key == k, "after %s: cached block %u's key (%u, %u) has no ring in its set", after, i,
               m.b[i].key.site, m.b[i].key.cls);
    held[r]++;
  }
  for (unsigned si = 0; si < nsets; si++) {
    unsigned s = set_list[si];
    for (unsigned r = 2 * s; r < 2 * s + 2; r++) {
      const ring_t *g = &rings[r];
      unsigned n = (unsigned)__builtin_popcount(g->used);
      FUZZ_CHECK(!g->used || (g->key && ring_hash(g->key) == 2 * s), "after %s: ring %u holds blocks of key %#x",
                 after, r, g->key);
      FUZZ_CHECK(n <= m.cfg.slots, "after %s: ring %u holds %u blocks, more than %u", after, r, n, m.cfg.slots);
      FUZZ_CHECK(n == held[r], "after %s: ring %u holds %u blocks, the model %u", after, r, n, held[r]);
      held[r] = 0;
      for (unsigned j = 0; j < HAK_BIGCACHE_MAX_SLOTS; j++)
        FUZZ_CHECK(!(g->used & (1u << j)) || g->e[j].blk, "after %s: ring %u slot %u is used and empty", after, r, j);
    }
  }
}

static void check_all(const char *after) {
  bool walk = ops_done % WALK_EVERY == 0 || !strcmp(after, "final drain");
  ops_done++;
  FUZZ_CHECK(!walk || hak_bigcache_is_valid(), "hak_bigcache_is_valid() failed after %s", after);
  check_rings(after);
  FUZZ_CHECK(hak_bigcache_bytes() == m.bytes, "after %s: bytes %zu != model %zu", after, hak_bigcache_bytes(), m.bytes);
  FUZZ_CHECK(hak_bigcache_count() == m.count, "after %s: count %zu != model %zu", after, hak_bigcache_count(), m.count);
  FUZZ_CHECK(!m.cfg.enabled || m.bytes <= m.cfg.max_bytes, "after %s: %zu bytes over the cap", after, m.bytes);
#define STAT_IS(name, want)                                                                                   \
  FUZZ_CHECK(hak_stat_read(HAK_STAT_##name) == (uint64_t)(want), "after %s: counter " #name " %llu != model %llu", \
             after, (unsigned long long)hak_stat_read(HAK_STAT_##name), (unsigned long long)(want))
  STAT_IS(bigcache_hits, m.hits);
  STAT_IS(bigcache_misses, m.misses);
  STAT_IS(bigcache_puts, m.puts);
  STAT_IS(bigcache_rejects, m.rejects);
  STAT_IS(bigcache_evictions, m.evictions);
  STAT_IS(bigcache_ring_steals, m.steals);
  STAT_IS(bigcache_bytes, m.bytes);
#undef STAT_IS
}

static void configure(fuzz_in_t *in) {
  static const size_t caps[] = {0, 64 << 10, 1 << 20, 4 << 20, 16 << 20, 256 << 20};
  hak_bigcache_cfg_t cfg;
  uint8_t c = in_u8(in);
  cfg.enabled = c % 16 != 0;
  cfg.slots = in_u8(in) % 18;  // 0 and 17 test the clamp to 1 .. 16
  uint8_t cap = in_u8(in) % 8;
  cfg.max_bytes = cap < 6 ? caps[cap] : (size_t)in_u32(in) << (cap == 7 ? 8 : 0);
  uint8_t age = in_u8(in) % 4;
  cfg.age_ms = age == 0 ? 1 : age == 1 ? 100 : age == 2 ? 2000 : in_u16(in);
  hak_bigcache_configure(&cfg);
  m.cfg = cfg;
  if (m.cfg.slots < 1) m.cfg.slots = 1;
  if (m.cfg.slots > HAK_BIGCACHE_MAX_SLOTS) m.cfg.slots = HAK_BIGCACHE_MAX_SLOTS;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  init_palette();
  if (!seen.inputs++ && getenv("HAK_FUZZ_VERBOSE")) atexit(print_seen);
  // A fresh BigCache and model for every input.
  memset(&bc, 0, sizeof bc);
  bc.oldest = bc.newest = NIL;
  memset(&m, 0, sizeof m);
  memset(sets_used, 0, sizeof sets_used);
  nsets = 0;
  ops_done = 0;
  hak_stats_reset();
  fuzz_in_t in = {data, size};
  configure(&in);
  uint64_t now = in_u8(&in);
  check_all("configure");

  for (unsigned steps = 0; in_more(&in) && steps < 4096; steps++) {
    uint8_t op = in_u8(&in);
    switch (op % 16) {
      case 0: case 1: case 2: case 3: case 4: case 5:
        op_put(&in, now, NULL, 0, (op & 0xc0) == 0xc0 ? in_u8(&in) % 18 : -1);  // a quarter capped
        check_all("put");
        break;
      case 6: case 7: case 8: case 9:
        op_get(&in, now, (op & 0xc0) == 0xc0);  // a quarter get_fit
        check_all("get");
        break;
      case 10: case 11:  // the clock moves, mostly forwards, by about the age limit
        if (op & 0x80) now -= in_u8(&in);
        else now += (op & 0x40) ? m.cfg.age_ms + in_u8(&in) - 128 : in_u8(&in);
        break;
      case 12: case 13:
        op_leave(true, now);
        check_all("expire");
        break;
      case 14:
        if (op & 0x80) {
          op_leave(false, now);
          check_all("drain");
        } else {  // a burst of small blocks over many keys (victim lists can overflow after it)
          unsigned n = 8 + in_u8(&in) % 57, first = in_u8(&in);
          size_t bytes = (size_t)4096 << (op & 1);
          for (unsigned j = 0; j < n; j++) {
            fkey_t key = palette[(first + j) % NKEYS];
            use_set(key);
            op_put(&in, now, &key, bytes, -1);
            check_all("burst put");
          }
        }
        break;
      default:  // trim: call until nothing leaves, as large.c does
        if (op & 0x80) {
          while (op_leave(true, now) == HAK_BIGCACHE_VICTIMS) {
          }
          check_all("expire-all");
        } else {
          while (op_leave(false, now)) {
          }
          FUZZ_CHECK(m.count == 0, "drain-all left %zu blocks", m.count);
          check_all("drain-all");
        }
        break;
    }
  }
  // Every block that entered leaves exactly once.
  while (op_leave(false, now)) {
  }
  FUZZ_CHECK(m.count == 0 && m.bytes == 0, "final drain left %zu blocks", m.count);
  check_all("final drain");
  return 0;
}
