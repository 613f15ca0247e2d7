/* large_quarantine.c — checked mode's quarantine of freed large blocks
 * (layer L3). A freed block's pages after its header page are made
 * PROT_NONE (any access faults) and stay so while the block is among the
 * last QUARANTINE_BLOCKS / QUARANTINE_BYTES freed; then they are made
 * accessible again and the block takes the release path (BigCache, spare
 * pool or munmap) like any other. Blocks above QUARANTINE_KEEP are dropped
 * (DONTNEED) on the way in, smaller ones keep their pages (at most 128 MiB
 * resident), so that reusing them does not fault every page in again. Its
 * header stays readable, so a second free still finds the block FREE.
 * Called by large.c (hak_large_free in checked mode, trim, fork).
 */
#include <stddef.h>

#include "hakmem/large.h"
#include "hakmem/large_impl.h"
#include "hakmem/lock.h"
#include "hakmem/os.h"

#define QUARANTINE_BLOCKS 32u
#define QUARANTINE_BYTES ((size_t)1 << 30)
#define QUARANTINE_KEEP ((size_t)4 << 20)

static struct {
  hak_lock_t lock;
  hak_large_t *ring[QUARANTINE_BLOCKS];
  unsigned head, n;
  size_t bytes;
} q;

void hak_large_quarantine(hak_large_t *h) {
  size_t len;
  char *a = hak_large_advisable(h, &len);
  if (h->map_len > QUARANTINE_KEEP) hak_os_advise(a, len, HAK_ADVISE_DONTNEED);
  hak_os_protect(a, len, false);
  hak_large_t *out[QUARANTINE_BLOCKS];
  unsigned n_out = 0;
  hak_lock(&q.lock);
  while (q.n && (q.n == QUARANTINE_BLOCKS || q.bytes + h->map_len > QUARANTINE_BYTES)) {
    hak_large_t *old = q.ring[(q.head + QUARANTINE_BLOCKS - q.n) % QUARANTINE_BLOCKS];
    q.n--;
    q.bytes -= old->map_len;
    out[n_out++] = old;
  }
  q.ring[q.head] = h;
  q.head = (q.head + 1) % QUARANTINE_BLOCKS;
  q.n++;
  q.bytes += h->map_len;
  hak_unlock(&q.lock);
  for (unsigned i = 0; i < n_out; i++) {
    a = hak_large_advisable(out[i], &len);
    if (hak_os_protect(a, len, true)) hak_large_give_back(out[i]);
    else hak_large_unmap_block(out[i]);
  }
}

void hak_large_quarantine_drain(void) {
  for (;;) {
    hak_large_t *out[QUARANTINE_BLOCKS];
    unsigned n = 0;
    hak_lock(&q.lock);
    while (q.n) {
      out[n++] = q.ring[(q.head + QUARANTINE_BLOCKS - q.n) % QUARANTINE_BLOCKS];
      q.bytes -= out[n - 1]->map_len;
      q.n--;
    }
    hak_unlock(&q.lock);
    if (!n) return;
    for (unsigned i = 0; i < n; i++) hak_large_unmap_block(out[i]);
  }
}

void hak_large_quarantine_lock(void) { hak_lock(&q.lock); }
void hak_large_quarantine_unlock(void) { hak_unlock(&q.lock); }
