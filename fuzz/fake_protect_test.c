/* fake_protect_test.c — the fake OS's record of hak_os_protect (fuzz/
 * only): what hakmem makes inaccessible is what hak_fake_os_protected
 * reports, ranges split and merge as they are opened and closed again, and
 * unmapping drops the record. malloc_api_fuzzer and threads_fuzzer rely on
 * it to see a block handed out on a guard page (the fake leaves the pages
 * read-write), so a wrong record would hide exactly that.
 */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz/fake_os.h"
#include "hakmem/os.h"

#define CHECK(c)                                                     \
  do {                                                               \
    if (!(c)) {                                                      \
      fprintf(stderr, "%s:%d: %s failed\n", __FILE__, __LINE__, #c); \
      exit(1);                                                       \
    }                                                                \
  } while (0)

int main(void) {
  size_t pg = hak_os_page_size();
  char *m = hak_os_map(16 * pg, pg);
  CHECK(m);
  CHECK(!hak_fake_os_protected(m, 16 * pg));
  CHECK(hak_os_protect(m + 4 * pg, 4 * pg, false));  // [4, 8) closed
  CHECK(!hak_fake_os_protected(m, 4 * pg));
  CHECK(hak_fake_os_protected(m + 4 * pg, 1));
  CHECK(hak_fake_os_protected(m + 8 * pg - 1, 1));
  CHECK(!hak_fake_os_protected(m + 8 * pg, 8 * pg));
  CHECK(hak_fake_os_protected(m, 4 * pg + 1));  // a range reaching into it
  CHECK(!hak_fake_os_protected(m + 4 * pg, 0));  // an empty range touches nothing
  m[4 * pg] = 1;  // recorded only: the page stays read-write
  CHECK(hak_os_protect(m + 8 * pg, pg, false));  // [4, 9): merged with its neighbour
  CHECK(hak_fake_os_protected(m + 8 * pg, pg));
  CHECK(hak_os_protect(m + 5 * pg, 2 * pg, true));  // [4, 5) and [7, 9) left
  CHECK(hak_fake_os_protected(m + 4 * pg, pg));
  CHECK(!hak_fake_os_protected(m + 5 * pg, 2 * pg));
  CHECK(hak_fake_os_protected(m + 7 * pg, 2 * pg));
  CHECK(hak_os_protect(m + 2 * pg, 8 * pg, false));  // [2, 10): over both, one range
  CHECK(hak_fake_os_protected(m + 5 * pg, 1));
  CHECK(hak_os_protect(m + 2 * pg, 2 * pg, true) && hak_os_protect(m + 9 * pg, pg, true));  // [4, 9)
  CHECK(!hak_fake_os_protected(m + 2 * pg, 2 * pg) && !hak_fake_os_protected(m + 9 * pg, 7 * pg));
  CHECK(hak_fake_os_protected(m + 4 * pg, 5 * pg));
  CHECK(!hak_os_protect(m + 1, pg, false));  // as mprotect: an unaligned start is refused
  CHECK(!hak_fake_os_protected(m, 4 * pg));
  CHECK(hak_os_unmap(m, 16 * pg));  // the record goes with the mapping
  CHECK(!hak_fake_os_protected(m, 16 * pg));
  char *again = hak_os_map(16 * pg, pg);  // first fit: the same range, nothing protected
  CHECK(again == m && !hak_fake_os_protected(again, 16 * pg) && again[4 * pg] == 0);
  CHECK(hak_os_unmap(again, 16 * pg));
  puts("fake_protect_test: ok");
  return 0;
}
