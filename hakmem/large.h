/* large.h — the large-block engine (layer L3).
 *
 * A large block is one mapping of its own, 4 MiB-aligned (so addrmap.c can
 * find it), whose first HAK_LARGE_HDR bytes hold the header below; the
 * program's pointer is base + user_off. Mapping sizes are rounded up to a
 * large size class (four per doubling, 32 KiB .. 1 GiB) so that every block
 * of a class serves every request of that class; beyond 1 GiB a block is
 * mapped to the page and never cached.
 *
 * Where a block comes from (the fit rule, large.c): a block of the site's
 * BigCache rings, or a resident (HOT/WARM) spare, whose mapping M is within
 * [need, need + max(need/4, 256 KiB)] (need: the request's class mapping),
 * as it is; else a larger resident one, split: it keeps the smallest class
 * >= need ending on a slot boundary, the rest (a slot or more) becomes a
 * spare right after it; else the largest smaller resident block, joined
 * with the spares right after it or grown (mremap), from a slot (4 MiB) up
 * with other resident spares' pages moved in (only what they do not cover
 * faults); else a COLD spare up to HAKMEM_SPARE_FIT_CLASSES larger; else a
 * fresh mmap, which from a slot up takes resident spares' pages too. A
 * resident spare of a slot or more joins its neighbours in the pool on
 * free (split halves come back together).
 * Where it goes on free, by the how its request carried
 * (hak_large_how_t, kept in the header): the site's BigCache ring (at most
 * how.cache_slots per ring), else how.release (AUTO: the HOT/WARM/COLD size
 * rule; KEEP: HOT; LAZY: WARM; RETURN: munmap); a site whose freed resident
 * blocks would pass 1 << how.resident_shift bytes sends it COLD instead.
 * Each site's resident bytes (live mappings + ring blocks + HOT/WARM spares)
 * are counted exactly (hak_large_site_resident). Periodic work (ageing
 * BigCache and the spare pool) runs on the large path itself at most every
 * HAK_LARGE_TICK_MS (the clock is read on every free, before every fresh
 * mapping and on every HAK_LARGE_CLOCK_EVERY-th allocation of a thread);
 * nothing runs in the background.
 *
 * Alignment: up to a slot (4 MiB) the pointer is base + align; above, the
 * mapping is placed so that base + 4 MiB is aligned (hak_os_map_skewed), so
 * any power of two the address space can hold is served at the cost of one
 * slot, not of the alignment. Only blocks of alignment <= 4 MiB are reused.
 * A realloc that needs at most half a block's mapping cuts the mapping
 * (the tail is unmapped).
 *
 * Which frees give memory back to the OS at once (so that a later access
 * faults, as under glibc): blocks above 1 GiB (no class), and any block when
 * BigCache and the free policy are off or a site's strategy releases. Others
 * wait in BigCache or the spare pool (HOT: mapped; WARM: MADV_FREE; COLD:
 * batched MADV_DONTNEED) and are unmapped when they age out or on trim.
 * A range the kernel refuses to unmap (vm.max_map_count) stays hakmem's,
 * held (its pages given back) until a later trim or tick unmaps it; a
 * refused cut leaves its bytes with a block.
 * Checked mode (HAKMEM_CHECK): a freed block's pages past its header page
 * are made PROT_NONE (and dropped, above 4 MiB) in a quarantine of the last
 * 32 blocks / 1 GiB freed before it takes that path (emptied at once on trim
 * or when an mmap is refused: out of address space, detection gives way).
 *
 * Thread-safe. Errors: NULL with errno ENOMEM. Misuse that can be detected
 * (double free, a pointer inside a block) aborts with a message; a pointer
 * past the end of a block's mapping (the rest of its last slot) is foreign.
 */
#ifndef HAK_LARGE_H
#define HAK_LARGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hakmem/config.h"
#include "hakmem/site.h"
#include "hakmem/spare.h"

#define HAK_LARGE_HDR 128u
#define HAK_LARGE_CLASSES 61u
#define HAK_LARGE_NO_CLASS 255u
#define HAK_LARGE_MIN_CLASS_BYTES ((size_t)32 << 10)
#define HAK_LARGE_MAX_CLASS_BYTES ((size_t)1 << 30)
/* The largest alignment the learning engine routes (alloc.c); the engine
 * itself serves any. */
#define HAK_LARGE_MAX_ALIGN ((size_t)256 << 20)
#define HAK_LARGE_TICK_MS 50u

typedef enum hak_large_state { HAK_LARGE_LIVE = 1, HAK_LARGE_FREE = 2 } hak_large_state_t;

#define HAK_LARGE_NOCACHE 1u /* how.cache_slots == 0: its site's strategy keeps it out of BigCache */
#define HAK_LARGE_TIMED_MAIN 2u   /* CANARY: its free is timed for the incumbent (learn.c) */
#define HAK_LARGE_TIMED_CANARY 4u /* ... for the challenger */
#define HAK_LARGE_GUARDED 8u      /* the word before its pointer is release mode's canary (not in checked mode, whose own canaries fill that gap) */
#define HAK_LARGE_KIND_SHIFT 8u   /* bits 8-9: checked mode's allocation kind (checked.h) */

/* What a site's strategy says about its freed large blocks (policy/strategy.h
 * carries the same three fields in the per-site record). */
typedef enum hak_release {
  HAK_RELEASE_AUTO = 0,   /* today's size rule: HOT/WARM/COLD by HAKMEM_HOT_MAX / HAKMEM_COLD_MIN */
  HAK_RELEASE_KEEP = 1,   /* stay mapped and resident (HOT spare) */
  HAK_RELEASE_LAZY = 2,   /* MADV_FREE (WARM spare): the kernel may take the pages */
  HAK_RELEASE_RETURN = 3  /* given back at once: a later access faults, as under glibc's munmap */
} hak_release_t;
typedef struct hak_large_how {
  uint8_t cache_slots;    /* BigCache: 0 keeps the site's blocks out; n keeps at most n per (site, class) ring (capped by HAKMEM_BIGCACHE_SLOTS); 255: the ring's own cap */
  uint8_t release;        /* hak_release_t: where a freed block that no ring keeps goes */
  uint8_t resident_shift; /* 0: only the global spare caps; k: this site's freed blocks kept resident (ring + HOT/WARM spares) hold at most 1 << k bytes; beyond that they go COLD/are given back */
} hak_large_how_t;
#define HAK_LARGE_HOW_DEFAULT ((hak_large_how_t){.cache_slots = 255, .release = HAK_RELEASE_AUTO, .resident_shift = 0})

typedef struct hak_large {
  uint32_t magic;     /* HAK_LARGE_MAGIC mixed with the base address */
  uint8_t state;      /* hak_large_state_t */
  uint8_t cls;        /* size class, or HAK_LARGE_NO_CLASS */
  hak_site_id_t site; /* who allocated it */
  uint32_t user_off;  /* program pointer = base + user_off (at most 4 MiB) */
  uint32_t flags;     /* HAK_LARGE_NOCACHE, HAK_LARGE_TIMED_*, HAK_LARGE_GUARDED */
  size_t map_len;     /* bytes mapped at base */
  size_t req;         /* bytes the program asked for */
  hak_large_how_t how; /* the request's: what its free does */
  hak_spare_node_t node;
} hak_large_t;

_Static_assert(sizeof(hak_large_t) <= HAK_LARGE_HDR, "large header must fit its slot");

/* Size class of a block of `bytes` (header included), or HAK_LARGE_NO_CLASS. */
HAK_INTERNAL uint8_t hak_large_class(size_t bytes);
/* The mapping size of class cls (its upper bound). */
HAK_INTERNAL size_t hak_large_class_bytes(uint8_t cls);

/* A block for `size` bytes at `align` (a power of two; 0 for the default). zero: the bytes come back zeroed. */
HAK_INTERNAL void *hak_large_alloc(size_t size, size_t align, hak_site_id_t site, bool zero);
/* The same, for the learning front door: how says what the block's free
 * does (see hak_large_how_t); *fresh_out (if not NULL) receives the bytes of
 * the block that will fault on first touch (fresh or DONTNEED'd memory). */
HAK_INTERNAL void *hak_large_alloc_ex(size_t size, size_t align, hak_site_id_t site, bool zero, hak_large_how_t how,
                                      size_t *fresh_out);
/* Bytes of large memory site holds resident now: its live blocks' mappings plus its freed blocks still mapped and
 * not yet given back (BigCache rings, HOT and WARM spares). Relaxed, for the learner's memory term. */
HAK_INTERNAL size_t hak_large_site_resident(hak_site_id_t site);
/* Unmap the freed blocks site's BigCache rings hold, and its resident (HOT
 * and WARM) spares, which the spare pool finds by a walk of its age list;
 * other sites' stay as they are. Returns the bytes. For the learner, while
 * the site's requests go to the pools: cheap when the site keeps nothing
 * (two relaxed loads). Takes BigCache's and the spare pool's locks in turn,
 * then unmaps as a free does, so no fork() can catch a block between them. */
HAK_INTERNAL size_t hak_large_site_give_back(hak_site_id_t site);
/* A site's first large free unmaps its block (the site has shown no reuse
 * yet; large_free.c). Tests of the steady state: every site counts as having
 * freed before (true), or none does (false, as at start-up). */
HAK_INTERNAL void hak_large_set_freed_before(bool all);
/* p was the program pointer of one of the last 64 large blocks unmapped:
 * a free of it now is a second free (for the foreign-pointer message). */
HAK_INTERNAL bool hak_large_gone(const void *p);

/* The header of the block whose program pointer is p, or NULL when p is not
 * in a large block. Aborts when p is inside a large block but not its
 * start (an invalid free). */
HAK_INTERNAL hak_large_t *hak_large_lookup(const void *p);

HAK_INTERNAL void hak_large_free(hak_large_t *h);
/* Resize in place, by moving pages, or by copying. NULL (ENOMEM) leaves the
 * block as it was. */
HAK_INTERNAL void *hak_large_realloc(hak_large_t *h, size_t size);
HAK_INTERNAL size_t hak_large_usable(const hak_large_t *h);

/* Checked mode's allocation kind of a live block (hak_alloc_kind_t). */
HAK_INLINE unsigned hak_large_kind(const hak_large_t *h) { return (h->flags >> HAK_LARGE_KIND_SHIFT) & 3u; }
HAK_INLINE void hak_large_set_kind(hak_large_t *h, unsigned kind) {
  h->flags = (h->flags & ~(3u << HAK_LARGE_KIND_SHIFT)) | (kind & 3u) << HAK_LARGE_KIND_SHIFT;
}

/* Apply the options in force (hak_options) to BigCache, the spare pool and
 * the batch queue. Called by hak_apply_options (init.h). */
HAK_INTERNAL void hak_large_configure(void);

/* Return cached and spare blocks to the OS, flush the batch; bytes unmapped. */
HAK_INTERNAL size_t hak_large_trim(void);
/* Bytes the kernel refused to unmap (vm.max_map_count), held until a later
 * trim or tick unmaps them: still mapped, no block's the program can get. */
HAK_INTERNAL size_t hak_large_held_bytes(void);

/* Register the engine's fork handler (fork.h); once, by hak_init. */
HAK_INTERNAL void hak_large_global_init(void);
HAK_INTERNAL void hak_large_fork_prepare(void);
HAK_INTERNAL void hak_large_fork_release(void);

#endif /* HAK_LARGE_H */
