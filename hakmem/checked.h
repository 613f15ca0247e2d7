/* checked.h — checked mode (HAKMEM_CHECK=1): misuse is caught with a
 * message naming the problem and the address, then abort (layer L5).
 *
 * What it catches:
 *   - double free, immediate, delayed or interleaved, from any thread (a
 *     live bit per pool block, cleared atomically by the free; large
 *     blocks by their state);
 *   - invalid free: a pointer inside a block, misaligned, on the stack, in
 *     static data, from another allocator or never handed out;
 *   - overflow past the requested size, found at free: pool blocks carry
 *     canary bytes up to a trailer (the requested size and the pointer's
 *     offset in its block); large blocks canary bytes after the request;
 *   - a free-list pointer overwritten after free: each pop checks the new
 *     head (inside its page, on a block boundary, not live) before anyone
 *     can follow it; remote lists are checked the same way when drained.
 * How: every allocation takes the slow path (hak_fast_limit is 0) and every
 * pool page is flagged so that its frees take the careful path too; the
 * release build's fast paths are unchanged.
 */
#ifndef HAK_CHECKED_H
#define HAK_CHECKED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hakmem/config.h"
#include "hakmem/segment.h"

HAK_INTERNAL extern bool hak_checked;

#define HAK_CANARY 0xCBu

/* A pool request in checked mode (size + trailer fits the pools). */
HAK_INTERNAL void *hak_checked_pool_alloc(size_t size, size_t align, bool zero);
/* Validate a pool free and return the block's start (aborts on misuse). */
HAK_INTERNAL hak_block_t *hak_checked_pool_free(hak_segment_t *seg, hak_page_t *pg, const void *p);
/* A block on a remote list about to be followed: abort unless sane. */
HAK_INTERNAL void hak_checked_remote(const hak_block_t *b);
/* Pool bytes the program may use at p (checked mode: up to the trailer). */
HAK_INTERNAL size_t hak_checked_pool_usable(const void *p);
/* Large blocks: canary bytes after the request, written / verified. */
HAK_INTERNAL void hak_checked_large_mark(char *p, size_t req, size_t usable);
HAK_INTERNAL void hak_checked_large_verify(const char *p, size_t req, size_t usable);
/* Abort on a pointer no part of hakmem owns. */
HAK_INTERNAL __attribute__((noreturn)) void hak_checked_foreign(const void *p, const char *call);

/* Bytes a pool request of size needs in checked mode (canary + trailer). */
HAK_INLINE size_t hak_checked_pool_need(size_t size) { return size + 1 + sizeof(uint64_t); }

/* --- allocation kinds (placeholder) --- */
typedef enum hak_alloc_kind { HAK_KIND_MALLOC = 0, HAK_KIND_NEW = 1, HAK_KIND_NEW_ARRAY = 2 } hak_alloc_kind_t;
/* Checked mode: record how block p (just allocated in checked mode) was asked for. */
HAK_INTERNAL void hak_checked_set_kind(void *p, hak_alloc_kind_t kind);
/* Checked mode, before p is freed by delete/delete[] (kind) or a sized free (size != 0): abort naming both kinds or
 * both sizes and the address when they do not match the block; afterwards the block counts as HAK_KIND_MALLOC so the
 * common free path accepts it. */
HAK_INTERNAL void hak_checked_verify_free(const void *p, hak_alloc_kind_t kind, size_t size);
/* --- end allocation kinds --- */

#endif /* HAK_CHECKED_H */
