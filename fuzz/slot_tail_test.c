/* slot_tail_test.c — regression test: memory that the kernel placed in the
 * unused rest of a large block's last 4 MiB address-map slot is not hakmem's.
 *
 * malloc_api_fuzzer found hak_free/hak_usable_size aborting with "invalid
 * pointer inside a large block" on an ordinary small pointer: the sanitizer's
 * allocator had mapped memory right after a 1.5 MiB large block, inside the
 * 4 MiB slot the address map marks as that block's. Where the kernel puts a
 * mapping is not under an input's control, so this test forces the layout: it
 * maps a page just past a large block (MAP_FIXED_NOREPLACE) and asks whether
 * hakmem claims it. It runs over the real os.c (hak_fake_os_bypass).
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "fuzz/fake_os.h"
#include "hakmem/include/hakmem.h"
#include "hakmem/large.h"
#include "hakmem/os.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

int main(void) {
  hak_fake_os_bypass();  // the kernel's layout, not the fuzz build's region
  hak_init();
  size_t page = hak_os_page_size();
  char *p = hak_alloc_at((size_t)1 << 20, 0x1234);  // a 1.25 MiB mapping in a 4 MiB slot
  hak_large_t *h = hak_large_lookup(p);
  if (!h || h->map_len >= HAK_SEGMENT_SIZE) {
    fprintf(stderr, "setup: %p is not a large block smaller than a slot\n", (void *)p);
    return 1;
  }
  char *tail = (char *)h + h->map_len;
  void *q = mmap(tail, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (q != tail) {
    fprintf(stderr, "setup: cannot map the page after the block (%p)\n", q);
    return 1;
  }
  // Before the fix this aborted: "invalid pointer inside a large block".
  if (hak_large_lookup(tail) != NULL || hak_large_lookup(tail + 64) != NULL) {
    fprintf(stderr, "FAIL: %p, past the block's mapping, is taken for a large block\n", (void *)tail);
    return 1;
  }
  munmap(q, page);
  hak_free(p);
  puts("PASS");
  return 0;
}
