/* hakmem_stats.h — hakmem's counters, as a versioned struct and as JSON.
 *
 * The counter list below is the one definition: the struct fields, the JSON
 * keys and the text report all come from it. Counters are process-wide and
 * monotonic unless marked "gauge". Reading them is safe at any time from any
 * thread; a snapshot is not atomic across counters.
 */
#ifndef HAKMEM_STATS_H
#define HAKMEM_STATS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HAK_STATS_VERSION 1u

/* X(name, meaning) */
#define HAK_STATS_COUNTERS(X)                                                       \
  X(large_allocs, "large blocks handed out")                                      \
  X(large_frees, "large blocks freed by the program")                             \
  X(large_bytes_live, "gauge: bytes of live large blocks (requested sizes)")     \
  X(small_allocs, "sampled estimate of allocations below the large threshold")    \
  X(pool_segments, "gauge: pool segments mapped (4 MiB each)")                      \
  X(os_bytes_mapped_pools, "gauge: bytes mapped for pool segments")                \
  X(pool_pages_released, "empty pool pages handed to the batch for MADV_DONTNEED") \
  X(pool_segments_freed, "empty pool segments unmapped")                            \
  X(remote_frees, "blocks freed by a thread other than their heap's owner")        \
  X(heaps_created, "per-thread heaps created")                                      \
  X(heaps_adopted, "heaps of exited threads taken over by another thread")         \
  X(heaps_abandoned, "heaps given up by exiting threads")                          \
  X(os_maps, "mmap calls that created a large block or segment")                  \
  X(os_unmaps, "munmap calls")                                                     \
  X(os_madvise, "madvise calls of any advice")                                     \
  X(os_map_failures, "mmap calls that failed (or were failed by the OS seam)")    \
  X(os_bytes_mapped, "gauge: bytes currently mapped for large blocks")           \
  X(bigcache_hits, "BigCache gets that returned a block")                          \
  X(bigcache_misses, "BigCache gets that found nothing")                           \
  X(bigcache_puts, "blocks accepted into BigCache")                                \
  X(bigcache_rejects, "blocks BigCache declined (too big, disabled, caps)")       \
  X(bigcache_evictions, "blocks that left BigCache through the free policy")      \
  X(bigcache_ring_steals, "rings taken over by another site x class")            \
  X(bigcache_bytes, "gauge: bytes held by BigCache")                              \
  X(free_hot, "freed blocks kept mapped as they are (HOT)")                       \
  X(free_warm, "freed blocks released lazily with MADV_FREE (WARM)")              \
  X(free_cold, "freed blocks queued for a batched MADV_DONTNEED (COLD)")          \
  X(free_unmapped, "freed blocks returned with munmap")                            \
  X(spare_hits, "allocations served from the spare pool")                          \
  X(spare_bytes, "gauge: bytes held by the spare pool")                           \
  X(batch_queued, "ranges queued for a batched madvise")                           \
  X(batch_flushes, "batch flushes")                                                \
  X(batch_advised, "madvise calls made by batch flushes")                          \
  X(batch_cancelled, "queued ranges taken back before their flush")               \
  X(batch_merged, "queued ranges merged into a neighbour at flush")               \
  X(batch_syscalls_saved, "madvise calls avoided by batching (cancel + merge)")   \
  X(thp_advised, "blocks advised MADV_HUGEPAGE")                                   \
  X(thp_refused, "blocks advised MADV_NOHUGEPAGE")                                 \
  X(realloc_in_place, "large reallocs served without moving")                      \
  X(realloc_remapped, "large reallocs moved by mremap (no copy)")                  \
  X(realloc_copied, "reallocs that had to copy")                                   \
  X(sites_used, "gauge: call sites in the site table")                             \
  X(sites_overflow, "allocations whose site did not fit in the site table")      \
  X(foreign_frees, "free/realloc of pointers hakmem never handed out (ignored)")

typedef struct hak_stats {
  uint32_t version; /* HAK_STATS_VERSION of the library that filled it */
  uint32_t size;    /* sizeof(hak_stats_t) of the library that filled it */
#define HAK_STATS_FIELD(name, meaning) uint64_t name;
  HAK_STATS_COUNTERS(HAK_STATS_FIELD)
#undef HAK_STATS_FIELD
} hak_stats_t;

/* Fill *out with a snapshot. out_size is sizeof(*out) as the caller knows it;
 * fields beyond it are not written. Returns 0, or EINVAL for NULL / a size
 * smaller than the two header fields. */
__attribute__((visibility("default"))) int hak_stats_get(hak_stats_t *out, size_t out_size);

/* Write the counters, the options in force and the busiest call sites as one
 * JSON object into buf (always NUL-terminated when cap > 0). Returns the
 * length the whole document needs, excluding the NUL, like snprintf. Does
 * not allocate. */
__attribute__((visibility("default"))) size_t hak_stats_json(char *buf, size_t cap);

/* Write a human-readable report to the file descriptor fd. */
__attribute__((visibility("default"))) void hak_stats_print(int fd);

#ifdef __cplusplus
}
#endif

#endif /* HAKMEM_STATS_H */
