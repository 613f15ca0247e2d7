/* fake_os.h — the one switch of fuzz/fake_os.c (fuzz/ only).
 *
 * A test that needs the kernel's own address layout (slot_tail_test maps a
 * page right after a block) calls hak_fake_os_bypass() before hakmem maps
 * anything: every os.h call then goes to the real os.c.
 */
#ifndef HAK_FAKE_OS_H
#define HAK_FAKE_OS_H

#include "hakmem/config.h"

HAK_INTERNAL void hak_fake_os_bypass(void);

#endif /* HAK_FAKE_OS_H */
