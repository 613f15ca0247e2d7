/* callsite_name.c — a code address as "function+0xoff (object)" (layer L5),
 * for the exit report, the stats JSON and the heap profile: resolved with
 * dladdr at report time, never on the allocation path. See callsite.h.
 */
#include <dlfcn.h>
#include <string.h>

#include "hakmem/callsite.h"
#include "hakmem/log.h"

void hak_callsite_name(uintptr_t a, char *buf, size_t cap) {
  hak_buf_t b;
  hak_buf_init(&b, buf, cap);
  Dl_info info;
  if (a && dladdr((void *)a, &info)) {
    const char *obj = info.dli_fname ? strrchr(info.dli_fname, '/') : NULL;
    obj = obj ? obj + 1 : (info.dli_fname && info.dli_fname[0] ? info.dli_fname : "?");
    if (info.dli_sname && info.dli_saddr)
      hak_buf_printf(&b, "%s+0x%zx (%s)", info.dli_sname, (size_t)(a - (uintptr_t)info.dli_saddr), obj);
    else hak_buf_printf(&b, "0x%zx (%s+0x%zx)", (size_t)a, obj, (size_t)(a - (uintptr_t)info.dli_fbase));
  } else {
    hak_buf_printf(&b, "0x%zx", (size_t)a);
  }
  hak_buf_finish(&b);
}
