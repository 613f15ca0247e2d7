/* libc.c — string and number helpers safe to call during start-up (layer L0).
 * Called by options.c while it walks environ, before anything is set up.
 */
#include "hakmem/libc.h"

static char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c; }

bool hak_streq_nocase(const char *a, const char *b) {
  for (; *a && *b; a++, b++)
    if (ascii_lower(*a) != ascii_lower(*b)) return false;
  return *a == *b;
}

// Digits at *s into *out; advances *s. False when there are none or on overflow.
static bool parse_digits(const char **s, uint64_t *out) {
  const char *p = *s;
  uint64_t v = 0;
  if (*p < '0' || *p > '9') return false;
  for (; *p >= '0' && *p <= '9'; p++) {
    uint64_t d = (uint64_t)(*p - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  *s = p;
  *out = v;
  return true;
}

bool hak_parse_uint(const char *s, uint64_t *out) {
  uint64_t v;
  if (!s || !parse_digits(&s, &v) || *s) return false;
  *out = v;
  return true;
}

bool hak_parse_size(const char *s, uint64_t *out) {
  uint64_t v;
  if (!s || !parse_digits(&s, &v)) return false;
  unsigned shift = 0;
  switch (ascii_lower(*s)) {
    case 'k': shift = 10; s++; break;
    case 'm': shift = 20; s++; break;
    case 'g': shift = 30; s++; break;
    case 't': shift = 40; s++; break;
    default: break;
  }
  if (shift && ascii_lower(*s) == 'i') {
    s++;
    if (ascii_lower(*s) != 'b') return false;
  }
  if (ascii_lower(*s) == 'b') s++;
  if (*s) return false;
  if (shift && v > (UINT64_MAX >> shift)) return false;
  *out = v << shift;
  return true;
}

bool hak_parse_bool(const char *s, bool *out) {
  static const char *const yes[] = {"1", "on", "yes", "true"};
  static const char *const no[] = {"0", "off", "no", "false"};
  if (!s) return false;
  for (unsigned i = 0; i < 4; i++) {
    if (hak_streq_nocase(s, yes[i])) return *out = true, true;
    if (hak_streq_nocase(s, no[i])) return *out = false, true;
  }
  return false;
}
