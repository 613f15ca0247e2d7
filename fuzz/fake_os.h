/* fake_os.h — the one switch of fuzz/fake_os.c (fuzz/ only).
 *
 * A test that needs the kernel's own address layout (slot_tail_test maps a
 * page right after a block) calls hak_fake_os_bypass() before hakmem maps
 * anything: every os.h call then goes to the real os.c.
 */
#ifndef HAK_FAKE_OS_H
#define HAK_FAKE_OS_H

#include <stdbool.h>
#include <stddef.h>

#include "hakmem/config.h"

HAK_INTERNAL void hak_fake_os_bypass(void);

/* True if any byte of [addr, addr+len) is in a range hakmem made
 * inaccessible with hak_os_protect (the fake records it and leaves the pages
 * read-write): a block handed out there, or a touch of one, is a finding. */
HAK_INTERNAL bool hak_fake_os_protected(const void *addr, size_t len);

#endif /* HAK_FAKE_OS_H */
