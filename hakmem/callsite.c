/* callsite.c — sites seen through allocation wrappers (layer L5). See
 * callsite.h for the contract. Called by alloc.c (requests that look up a
 * site) and report.c (names); the decisions are per site id of the return
 * address, so a plain return address costs one site-table lookup and one
 * byte load.
 *
 * Nothing here allocates or blocks: the executable-segment cache is
 * callsite_code.c's (lock-free readers), the stack bounds are per-thread
 * words; names are callsite_name.c's, at report time.
 */
#include "hakmem/callsite.h"
#include "hakmem/callsite_impl.h"

#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/resource.h>

#include "hakmem/lock.h"
#include "hakmem/log.h"
#include "hakmem/options.h"

extern void *__libc_stack_end;

// The walk and the decoder read other frames' stack words and code bytes
// (an executable segment may hold read-only data): valid memory that
// AddressSanitizer would call redzones.
#define RAW_READS __attribute__((no_sanitize("address")))

// --- the code after a call -------------------------------------------------------

static inline int32_t rel32(const uint8_t *p) {
  int32_t v;
  memcpy(&v, p, 4);
  return v;
}

// Bytes of a ModRM operand (ModRM, SIB, displacement).
static unsigned modrm_len(const uint8_t *p) {
  unsigned mod = p[0] >> 6, rm = p[0] & 7, n = 1;
  if (mod == 3) return 1;
  if (rm == 4) {
    n++;
    if (mod == 0 && (p[1] & 7) == 5) n += 4;
  } else if (mod == 0 && rm == 5) {
    n += 4;
  }
  return n + (mod == 1 ? 1 : mod == 2 ? 4 : 0);
}

#define DECODE_STEPS 64u
#define DECODE_PATHS 8u

RAW_READS int hak_callsite_passes_through(uintptr_t ret) {
  code_seg_t s;
  uintptr_t end = hak_callsite_find_code(ret, &s) ? s.hi : ret + 64;  // tests may call it on code the cache has not seen
  uintptr_t limit = ret + 64 < end ? ret + 64 : end;
  uintptr_t todo[DECODE_PATHS];
  unsigned ntodo = 0, steps = 0;
  todo[ntodo++] = ret;
  while (ntodo) {
    uintptr_t pc = todo[--ntodo];
    while (steps++ < DECODE_STEPS) {
      if (pc < ret || pc + 16 > limit) break;  // outside the window: this path is unknown
      const uint8_t *c = (const uint8_t *)pc;
      unsigned rex = 0, opsize = 4;
      while (*c == 0x66 || *c == 0x64 || *c == 0x65 || *c == 0xf2 || *c == 0x2e || *c == 0x3e) {
        if (*c == 0x66) opsize = 2;
        c++;
      }
      if (*c == 0xf3 && c[1] == 0x0f && c[2] == 0x1e && c[3] == 0xfa) {  // endbr64
        pc = (uintptr_t)c + 4;
        continue;
      }
      if (*c == 0xf3 && c[1] == 0xc3) return 1;  // rep ret
      if ((*c & 0xf0) == 0x40) rex = *c++;
      uint8_t op = *c++;
      unsigned reg = ((c[0] >> 3) & 7) | (rex & 4 ? 8 : 0), rm = (c[0] & 7) | (rex & 1 ? 8 : 0);
      bool rm_reg = (c[0] >> 6) == 3;
      bool ok = true;  // false: this instruction may write rax (or is not understood)
      uintptr_t next = 0;
      if (op == 0xc3 || op == 0xc2) return 1;  // ret with rax untouched
      if (op == 0x0f) {
        uint8_t op2 = *c++;
        reg = ((c[0] >> 3) & 7) | (rex & 4 ? 8 : 0);
        if (op2 >= 0x80 && op2 <= 0x8f) {  // jcc rel32: both ways
          if (ntodo < DECODE_PATHS) todo[ntodo++] = (uintptr_t)c + 4 + rel32(c);
          pc = (uintptr_t)c + 4;
          continue;
        }
        if (op2 == 0x1f) next = (uintptr_t)c + modrm_len(c);  // nop r/m
        else if ((op2 >= 0x40 && op2 <= 0x4f) || op2 == 0xb6 || op2 == 0xb7 || op2 == 0xbe || op2 == 0xbf)
          ok = reg != 0, next = (uintptr_t)c + modrm_len(c);  // cmovcc, movzx, movsx
        else if (op2 == 0x10 || op2 == 0x11 || op2 == 0x28 || op2 == 0x29)
          next = (uintptr_t)c + modrm_len(c);  // SSE moves (xmm registers)
        else ok = false;
      } else if (op >= 0x70 && op <= 0x7f) {  // jcc rel8
        if (ntodo < DECODE_PATHS) todo[ntodo++] = (uintptr_t)c + 1 + (int8_t)c[0];
        pc = (uintptr_t)c + 1;
        continue;
      } else if (op == 0xeb) {
        pc = (uintptr_t)c + 1 + (int8_t)c[0];
        continue;
      } else if (op == 0xe9) {
        pc = (uintptr_t)c + 4 + rel32(c);
        continue;
      } else if (op == 0x84 || op == 0x85 || (op >= 0x38 && op <= 0x3b)) {  // test, cmp
        next = (uintptr_t)c + modrm_len(c);
      } else if (op == 0x3c || op == 0xa8) {
        next = (uintptr_t)c + 1;
      } else if (op == 0x3d || op == 0xa9) {
        next = (uintptr_t)c + (opsize == 2 ? 2 : 4);
      } else if (op < 0x40 && (op & 7) < 4) {  // add/or/adc/sbb/and/sub/xor r/m <-> r
        ok = (op & 2) ? reg != 0 : !(rm_reg && rm == 0);
        next = (uintptr_t)c + modrm_len(c);
      } else if (op == 0x80 || op == 0x81 || op == 0x83) {  // group 1 with an immediate
        ok = ((c[0] >> 3) & 7) == 7 || !(rm_reg && rm == 0);
        next = (uintptr_t)c + modrm_len(c) + (op == 0x81 ? (opsize == 2 ? 2 : 4) : 1);
      } else if (op == 0xf6 || op == 0xf7) {  // test r/m, imm only
        ok = ((c[0] >> 3) & 7) == 0;
        next = (uintptr_t)c + modrm_len(c) + (op == 0xf6 ? 1 : opsize == 2 ? 2 : 4);
      } else if (op == 0x88 || op == 0x89) {  // mov r/m, r
        ok = !(rm_reg && rm == 0);
        next = (uintptr_t)c + modrm_len(c);
      } else if (op == 0x8a || op == 0x8b || op == 0x8d) {  // mov r, r/m; lea
        ok = reg != 0;
        next = (uintptr_t)c + modrm_len(c);
      } else if (op == 0xc6 || op == 0xc7) {  // mov r/m, imm
        ok = !(rm_reg && rm == 0);
        next = (uintptr_t)c + modrm_len(c) + (op == 0xc6 ? 1 : opsize == 2 ? 2 : 4);
      } else if (op == 0xc1 || op == 0xd1) {  // shifts
        ok = !(rm_reg && rm == 0);
        next = (uintptr_t)c + modrm_len(c) + (op == 0xc1);
      } else if (op >= 0xb8 && op <= 0xbf) {  // mov reg, imm
        ok = ((op & 7) | (rex & 1 ? 8 : 0)) != 0;
        next = (uintptr_t)c + (rex & 8 ? 8 : 4);
      } else if (op >= 0x50 && op <= 0x57) {  // push
        next = (uintptr_t)c;
      } else if (op >= 0x58 && op <= 0x5f) {  // pop
        ok = ((op & 7) | (rex & 1 ? 8 : 0)) != 0;
        next = (uintptr_t)c;
      } else if (op == 0xc9 || op == 0x90) {  // leave, nop
        next = (uintptr_t)c;
      } else {
        ok = false;  // calls, rax writes, anything not understood
      }
      if (!ok) break;
      pc = next;
    }
  }
  return 0;
}

// True when return address v follows a call whose target may be the function
// holding `below` (a direct call to an address at most 1 MiB before it, or to
// a PLT stub, or any indirect call). s: v's segment.
RAW_READS static bool after_call(uintptr_t v, uintptr_t below, const code_seg_t *s) {
  if (v < s->lo + 7) return false;
  const uint8_t *c = (const uint8_t *)v;
  if (c[-5] == 0xe8) {
    uintptr_t t = v + (uintptr_t)(intptr_t)rel32(c - 4);
    if (t <= below && below - t < ((uintptr_t)1 << 20)) return true;
    code_seg_t ts;
    if (!hak_callsite_find_code(t, &ts) || t + 32 > ts.hi) return false;
    const uint8_t *p = (const uint8_t *)t;
    // A function that ends in a tail call of the function holding `below`
    // (a wrapper reduced to a jump): a jmp in its first 32 bytes lands there.
    for (unsigned i = 0; i + 5 <= 32; i++) {
      uintptr_t j = p[i] == 0xe9 ? t + i + 5 + (uintptr_t)(intptr_t)rel32(p + i + 1) : 0;
      if (j && j <= below && below - j < ((uintptr_t)1 << 20)) return true;
    }
    if (p[0] == 0xf3 && p[1] == 0x0f && p[2] == 0x1e && p[3] == 0xfa) p += 4;  // endbr64
    if (p[0] == 0xf2) p++;                                                     // bnd
    return p[0] == 0xff && p[1] == 0x25;                                       // jmp *GOT(%rip)
  }
  if (c[-2] == 0xff && (c[-1] & 0xf8) == 0xd0) return true;  // call *%reg
  if (c[-2] == 0xff && (c[-1] & 0xf8) == 0x10 && (c[-1] & 7) != 4 && (c[-1] & 7) != 5) return true;  // *(%reg)
  if (c[-3] == 0xff && (c[-2] & 0xf8) == 0x50 && (c[-2] & 7) != 4) return true;  // *d8(%reg)
  if (c[-4] == 0xff && c[-3] == 0x54) return true;                                // *d8(%reg,%idx)
  if (c[-6] == 0xff && (c[-5] == 0x15 || ((c[-5] & 0xf8) == 0x90 && (c[-5] & 7) != 4))) return true;
  if (c[-7] == 0xff && c[-6] == 0x94) return true;
  return false;
}

// --- the thread's stack ---------------------------------------------------------------

static __thread uintptr_t stack_seen_lo __attribute__((tls_model("initial-exec")));
static __thread uintptr_t stack_seen_top __attribute__((tls_model("initial-exec")));
static size_t stack_max;

// The top of the stack sp is on, or 0 when sp is on no stack we know.
static uintptr_t stack_top(uintptr_t sp) {
  size_t max = stack_max;
  if (!max) {
    struct rlimit rl;
    max = (size_t)8 << 20;
    if (!getrlimit(RLIMIT_STACK, &rl) && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur > max) max = rl.rlim_cur;
    if (max > ((size_t)1 << 30)) max = (size_t)1 << 30;
    stack_max = max;
  }
  uintptr_t top = (uintptr_t)pthread_self();  // glibc: the descriptor sits at the top of the thread's stack
  if (!(top > sp && top - sp <= max)) {
    top = (uintptr_t)__libc_stack_end;
    if (!(top > sp && top - sp <= max)) return 0;
  }
  if (top != stack_seen_top || sp < stack_seen_lo) {
    // Deeper than this thread has been: make sure it is not a signal stack
    // lying below the thread's own (then [sp, top) would not all be mapped).
    stack_t ss;
    if (sigaltstack(NULL, &ss) != 0 || (ss.ss_flags & SS_ONSTACK)) return 0;
    if (top != stack_seen_top) stack_seen_top = top;
    stack_seen_lo = sp;
  }
  return top;
}

#define SLOT_SCAN 128u /* words from the entry point's frame to ret's slot */
#define FRAME_SCAN 512u /* words above ret's slot searched for frames */

// Frames above ret into out: max of them, plus one more for each frame that
// is itself a wrapper's (its code hands rax back: a wrapper of a wrapper,
// at most 2), at most cap; 0 when the stack cannot be walked. *first_off
// (if not NULL): words from ret's slot to the first frame's; *from: words
// from frame to ret's slot; *nested: the wrapper frames added.
RAW_READS static unsigned walk(uintptr_t ret, const void *frame, uintptr_t *out, unsigned max, unsigned cap,
                               unsigned *first_off, unsigned *from, unsigned *nested) {
  uintptr_t sp = (uintptr_t)frame & ~(uintptr_t)7;
  uintptr_t top = frame ? stack_top(sp) : 0;
  if (!top) return 0;
  const uintptr_t *w = (const uintptr_t *)sp, *end = (const uintptr_t *)top;
  const uintptr_t *stop = w + SLOT_SCAN < end ? w + SLOT_SCAN : end;
  while (w < stop && *w != ret) w++;
  if (w >= stop) return 0;
  const seg_table_t *t = hak_callsite_segs();
  stop = w + FRAME_SCAN < end ? w + FRAME_SCAN : end;
  unsigned n = 0;
  uintptr_t below = ret;
  const uintptr_t *slot = w;
  if (from) *from = (unsigned)(slot - (const uintptr_t *)sp);
  for (w++; w < stop && n < max; w++) {
    uintptr_t v = *w;
    if (v == ret || v == below || (v >= hak_callsite_self_lo && v < hak_callsite_self_hi)) continue;
    code_seg_t s;
    if (!hak_callsite_code_seg(t, v, &s) || !after_call(v, below, &s)) continue;
    if (!n && first_off) *first_off = (unsigned)(w - slot);
    out[n++] = below = v;
    if (nested && max < cap && *nested < 2 && hak_callsite_passes_through(v)) {
      ++*nested;
      max++;
    }
  }
  return n;
}

unsigned hak_callsite_walk_here(uintptr_t *out, unsigned max) {
  if (!hak_callsite_segs()) hak_callsite_refresh();
  uintptr_t ret = (uintptr_t)__builtin_return_address(0);
  if (!max) return 0;
  out[0] = ret;
  return 1 + walk(ret, __builtin_frame_address(0), out + 1, max - 1, max - 1, NULL, NULL, NULL);
}

// --- decisions per return address (kept in its site entry) -------------------------


// A wrapper's frame has the same size every time: its caller's return
// address sits the same number of words above ret's slot, and ret's slot the
// same number above the entry point's frame. A context seen before is found
// by reading those two words and comparing with the callers remembered for
// the site: no walk, no hashing. Only words of the stack this thread has
// been seen on are read; anything else takes the walk.
RAW_READS static hak_site_id_t seen_context(hak_site_t *site, uintptr_t ret, const void *frame) {
  unsigned off = atomic_load_explicit(&site->wrap_slot, memory_order_relaxed);
  const uintptr_t *w = (const uintptr_t *)((uintptr_t)frame & ~(uintptr_t)7);
  const uintptr_t *slot = w + atomic_load_explicit(&site->wrap_from, memory_order_relaxed);
  if (!off || w < (const uintptr_t *)stack_seen_lo || slot + off >= (const uintptr_t *)stack_seen_top || *slot != ret)
    return 0;
  uintptr_t caller = slot[off];
  for (unsigned k = 0; k < 4; k++) {
    uint64_t e = atomic_load_explicit(&site->wrap_seen[k], memory_order_relaxed);
    if (e >> 16 == caller) return (hak_site_id_t)(e & 0xffff);
  }
  return 0;
}

static void remember_context(hak_site_t *site, unsigned from, unsigned off, uintptr_t caller, hak_site_id_t ctx) {
  atomic_store_explicit(&site->wrap_from, (uint16_t)from, memory_order_relaxed);
  atomic_store_explicit(&site->wrap_slot, (uint16_t)off, memory_order_relaxed);
  uint32_t k = atomic_fetch_add_explicit(&site->wrap_walks, 1, memory_order_relaxed) % 4;
  atomic_store_explicit(&site->wrap_seen[k], (uint64_t)caller << 16 | ctx, memory_order_relaxed);
}

// Does HAKMEM_SITE_WRAP name ret's function or object file?
static bool named_wrapper(uintptr_t ret) {
  const char *list = hak_opt_str(HAK_OPT_SITE_WRAP);
  if (!*list) return false;
  Dl_info info;
  if (!dladdr((void *)ret, &info)) return false;
  const char *obj = info.dli_fname ? strrchr(info.dli_fname, '/') : NULL;
  obj = obj ? obj + 1 : info.dli_fname;
  for (const char *p = list; *p;) {
    const char *e = strchr(p, ',');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    if (len && ((info.dli_sname && strlen(info.dli_sname) == len && !memcmp(info.dli_sname, p, len)) ||
                (obj && strlen(obj) == len && !memcmp(obj, p, len))))
      return true;
    p += len + (e != NULL);
  }
  return false;
}

// First request from ret: decide what it is.
static HAK_NOINLINE uint8_t classify(hak_site_id_t id, uintptr_t ret) {
  uint8_t kind = HAK_CALLSITE_PLAIN;
  if (hak_opt(HAK_OPT_SITE_WRAPPERS) && id) {
    code_seg_t seg;
    if (!hak_callsite_find_code(ret, &seg)) hak_callsite_refresh();  // new code since the last look (or the first request)
    if (hak_callsite_find_code(ret, &seg)) {
      if (named_wrapper(ret)) kind = HAK_CALLSITE_WRAPPER;
      else if (hak_callsite_passes_through(ret)) kind = HAK_CALLSITE_CANDIDATE;
    }
  }
  uint8_t expected = HAK_CALLSITE_UNKNOWN;
  if (!atomic_compare_exchange_strong_explicit(&hak_site_entry(id)->wrap_kind, &expected, kind, memory_order_relaxed,
                                               memory_order_relaxed))
    kind = expected;  // another thread decided first
  return kind;
}

static HAK_NOINLINE hak_site_id_t callsite_walked(hak_site_id_t id, uintptr_t ret, const void *frame);

// A wrapper's context seen before costs what seen_context does; the rest walks.
hak_site_id_t hak_callsite_slow(hak_site_id_t id, uintptr_t ret, const void *frame) {
  hak_site_t *site = hak_site_entry(id);
  if (atomic_load_explicit(&site->wrap_kind, memory_order_relaxed) == HAK_CALLSITE_WRAPPER &&
      hak_opt(HAK_OPT_SITE_DEPTH) == 1) {
    hak_site_id_t ctx = seen_context(site, ret, frame);
    if (HAK_LIKELY(ctx)) return ctx;
  }
  return callsite_walked(id, ret, frame);
}

static HAK_NOINLINE hak_site_id_t callsite_walked(hak_site_id_t id, uintptr_t ret, const void *frame) {
  hak_site_t *site = hak_site_entry(id);
  uint8_t kind = atomic_load_explicit(&site->wrap_kind, memory_order_relaxed);
  if (kind == HAK_CALLSITE_UNKNOWN) kind = classify(id, ret);
  if (kind == HAK_CALLSITE_PLAIN) return id;
  if (kind == HAK_CALLSITE_CANDIDATE) {
    uint32_t n = atomic_fetch_add_explicit(&site->wrap_walks, 1, memory_order_relaxed);
    if (n >= HAK_CALLSITE_CANDIDATE_WALKS && n % HAK_CALLSITE_CANDIDATE_WALKS) return id;
  }
  unsigned depth = (unsigned)hak_opt(HAK_OPT_SITE_DEPTH);
  uintptr_t frames[HAK_SITE_FRAMES];
  frames[0] = ret;
  if (depth > HAK_SITE_FRAMES - 1) depth = HAK_SITE_FRAMES - 1;
  unsigned off = 0, from = 0, nested = 0;
  unsigned n = walk(ret, frame, frames + 1, depth, HAK_SITE_FRAMES - 1, &off, &from, &nested);
  if (!n) return id;
  if (kind == HAK_CALLSITE_CANDIDATE) {
    uintptr_t expected = 0;
    if (atomic_compare_exchange_strong_explicit(&site->wrap_caller, &expected, frames[1], memory_order_relaxed,
                                                memory_order_relaxed) ||
        expected == frames[1])
      return id;  // one caller so far: still its own site
    atomic_store_explicit(&site->wrap_kind, HAK_CALLSITE_WRAPPER, memory_order_relaxed);
  }
  hak_site_id_t ctx = hak_site_ctx_id(frames, n + 1);
  if (n == 1 && !nested && ctx && frames[1] < ((uintptr_t)1 << 48) && off < 0xffff)
    remember_context(site, from, off, frames[1], ctx);
  return ctx;
}

hak_callsite_kind_t hak_callsite_kind(uintptr_t ret) {
  return (hak_callsite_kind_t)atomic_load_explicit(&hak_site_entry(hak_site_id(ret))->wrap_kind, memory_order_relaxed);
}
