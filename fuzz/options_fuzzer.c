/* options_fuzzer.c — the HAKMEM_* option parser (fuzz/, libFuzzer).
 *
 * The input becomes an environ-style array: strings split at NUL bytes; a
 * string whose first byte is >= 0xe0 becomes "HAKMEM_<NAME>=<rest>" for an
 * option (or MODE) chosen by that byte, so most inputs reach value parsing.
 * Checked after hak_options_parse:
 *   - every value is within its option's [min, max]; the mode is valid;
 *   - the result equals an independent model: the last HAKMEM_MODE decides
 *     the preset (a bad one means BALANCED), the last valid assignment of an
 *     option wins, bad values and unknown HAKMEM_ names are counted, values
 *     are parsed by a separate reference parser;
 *   - parsing is deterministic; each value formats (hak_option_format) to a
 *     text that parses back to itself;
 *   - hak_options_markdown into a buffer of any size returns the same length
 *     and a NUL-terminated prefix of the whole table (one input in four).
 */
#include <string.h>

#include "fuzz/fuzz_input.h"
#include "hakmem/libc.h"
#include "hakmem/options.h"

#define MAX_VARS 32u
#define MAX_VAR_LEN 96u

static const char *const mode_names[] = {"MINIMAL", "FAST", "BALANCED", "LEARNING", "RESEARCH"};

// --- reference parsers (written from options.h / libc.h, not from libc.c) -------------

static char lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c; }

static bool ref_eq_nocase(const char *a, const char *b) {
  size_t n = strlen(a);
  if (n != strlen(b)) return false;
  for (size_t i = 0; i < n; i++)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

// Decimal digits only, no overflow.
static bool ref_digits(const char **s, uint64_t *out) {
  const char *p = *s;
  unsigned __int128 v = 0;
  if (!(*p >= '0' && *p <= '9')) return false;
  while (*p >= '0' && *p <= '9') {
    v = v * 10 + (unsigned)(*p++ - '0');
    if (v > UINT64_MAX) return false;
  }
  *out = (uint64_t)v;
  *s = p;
  return true;
}

static bool ref_value(const hak_option_info_t *info, const char *s, uint64_t *out) {
  uint64_t v = 0;
  switch (info->type) {
    case HAK_OPT_BOOL: {
      static const char *const words[] = {"0", "1", "off", "on", "no", "yes", "false", "true"};
      bool ok = false;
      for (unsigned i = 0; i < 8; i++)
        if (ref_eq_nocase(s, words[i])) v = i % 2, ok = true;
      if (!ok) return false;
      break;
    }
    case HAK_OPT_UINT:
      if (!ref_digits(&s, &v) || *s) return false;
      break;
    case HAK_OPT_SIZE: {
      if (!ref_digits(&s, &v)) return false;
      unsigned shift = 0;
      const char *suf = strchr("kmgt", lower(*s));
      if (*s && suf) {
        shift = 10 * (unsigned)(suf - "kmgt" + 1);
        s++;
      }
      // then nothing, "B", or (after a K/M/G/T) "iB"
      if (ref_eq_nocase(s, "b") || (shift && ref_eq_nocase(s, "ib"))) s += strlen(s);
      if (*s) return false;
      if (shift && v > (UINT64_MAX >> shift)) return false;
      v <<= shift;
      break;
    }
    case HAK_OPT_ENUM: {
      bool ok = false;
      for (unsigned i = 0; info->names[i]; i++)
        if (ref_eq_nocase(s, info->names[i])) v = i, ok = true;
      if (!ok) return false;
      break;
    }
    case HAK_OPT_STRING: *out = 0; return strlen(s) <= info->max;  // the text is copied; v stays 0
  }
  if (v < info->min || v > info->max) return false;
  *out = v;
  return true;
}

// --- the model of hak_options_parse ----------------------------------------------------

static void model_parse(const char *const *envp, hak_options_t *want) {
  hak_mode_t mode = HAK_MODE_BALANCED;
  unsigned warnings = 0;
  for (const char *const *e = envp; *e; e++) {
    if (strncmp(*e, "HAKMEM_MODE=", 12) != 0) continue;
    bool ok = false;
    for (unsigned m = 0; m < 5; m++)
      if (ref_eq_nocase(*e + 12, mode_names[m])) mode = (hak_mode_t)m, ok = true;
    if (!ok) mode = HAK_MODE_BALANCED, warnings++;
  }
  hak_options_preset(mode, want);
  for (const char *const *e = envp; *e; e++) {
    if (strncmp(*e, "HAKMEM_", 7) != 0 || strncmp(*e, "HAKMEM_MODE=", 12) == 0) continue;
    const char *eq = strchr(*e, '=');
    int id = -1;
    for (unsigned i = 0; i < HAK_OPT_COUNT && eq; i++)
      if ((size_t)(eq - *e - 7) == strlen(hak_option_info[i].name) && !strncmp(*e + 7, hak_option_info[i].name, (size_t)(eq - *e - 7)))
        id = (int)i;
    uint64_t v;
    if (id < 0) {
      warnings++;
    } else if (ref_value(&hak_option_info[id], eq + 1, &v)) {
      want->v[id] = v;
      want->set_by_env[id] = 1;
      if (hak_option_info[id].type == HAK_OPT_STRING) strcpy((char *)hak_options_str(want, (hak_opt_id_t)id), eq + 1);
    } else {
      warnings++;
    }
  }
  want->warnings = warnings;
}

// --- the harness -------------------------------------------------------------------------

static void check_round_trip(hak_opt_id_t id, uint64_t v) {
  char text[40], var[80];
  hak_option_format(id, v, text, sizeof text);
  snprintf(var, sizeof var, "HAKMEM_%s=%s", hak_option_info[id].name, text);
  const char *env[] = {var, NULL};
  hak_options_t o;
  hak_options_parse(env, false, &o);
  FUZZ_CHECK(o.v[id] == v && o.set_by_env[id] && o.warnings == 0, "%s: %llu formats as \"%s\", parses as %llu", var,
             (unsigned long long)v, text, (unsigned long long)o.v[id]);
}

// The whole table depends on no input: it is rendered once per process
// (rendering it for every input was a third of the time).
static void check_markdown(size_t cap) {
  static char full[1 << 16], part[1 << 16];
  static size_t len;
  if (!len) {
    len = hak_options_markdown(full, sizeof full);
    FUZZ_CHECK(len && len < sizeof full && strlen(full) == len, "markdown: length %zu", len);
  }
  if (cap > sizeof part) cap = sizeof part;
  memset(part, 'x', cap < sizeof part ? cap + 1 : cap);  // what the render may write, and one past it
  size_t len2 = hak_options_markdown(cap ? part : NULL, cap);
  FUZZ_CHECK(len2 == len, "markdown into %zu bytes: length %zu != %zu", cap, len2, len);
  if (cap) {
    size_t n = strlen(part);
    FUZZ_CHECK(n == (len < cap ? len : cap - 1) && !memcmp(part, full, n), "markdown into %zu bytes: bad prefix", cap);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static char store[MAX_VARS][MAX_VAR_LEN + 32];
  const char *env[MAX_VARS + 1];
  unsigned n = 0;
  size_t i = 0;
  while (i < size && n < MAX_VARS) {
    size_t end = i;
    while (end < size && data[end] && end - i < MAX_VAR_LEN) end++;
    char *s = store[n];
    size_t len = 0;
    const uint8_t *p = data + i;
    size_t plen = end - i;
    if (plen && p[0] >= 0xe0) {  // HAKMEM_<option or MODE>=<rest>
      unsigned k = p[0] % (HAK_OPT_COUNT + 1);
      len = (size_t)sprintf(s, "HAKMEM_%s=", k == HAK_OPT_COUNT ? "MODE" : hak_option_info[k].name);
      p++, plen--;
    }
    memcpy(s + len, p, plen);
    s[len + plen] = 0;
    env[n++] = s;
    i = end + 1;
  }
  env[n] = NULL;

  hak_options_t got, again, want;
  memset(&got, 0xa5, sizeof got);
  hak_options_parse(env, false, &got);
  hak_options_parse(env, false, &again);
  FUZZ_CHECK(!memcmp(&got, &again, sizeof got), "parsing the same environment twice differs");
  FUZZ_CHECK((unsigned)got.mode <= HAK_MODE_RESEARCH, "mode %d", (int)got.mode);
  for (unsigned k = 0; k < HAK_OPT_COUNT; k++) {
    const hak_option_info_t *info = &hak_option_info[k];
    FUZZ_CHECK(got.v[k] >= info->min && got.v[k] <= info->max, "HAKMEM_%s = %llu outside [%llu, %llu]", info->name,
               (unsigned long long)got.v[k], (unsigned long long)info->min, (unsigned long long)info->max);
  }
  model_parse(env, &want);
  FUZZ_CHECK(got.mode == want.mode, "mode %d, model %d", (int)got.mode, (int)want.mode);
  for (unsigned k = 0; k < HAK_OPT_COUNT; k++)
    FUZZ_CHECK(got.v[k] == want.v[k] && got.set_by_env[k] == want.set_by_env[k],
               "HAKMEM_%s: %llu (set %u), model %llu (set %u)", hak_option_info[k].name, (unsigned long long)got.v[k],
               got.set_by_env[k], (unsigned long long)want.v[k], want.set_by_env[k]);
  FUZZ_CHECK(got.warnings == want.warnings, "warnings %u, model %u", got.warnings, want.warnings);
  for (unsigned k = 0; k < HAK_OPT_COUNT; k++) {
    if (hak_option_info[k].type == HAK_OPT_STRING) {
      FUZZ_CHECK(!strcmp(hak_options_str(&got, (hak_opt_id_t)k), hak_options_str(&want, (hak_opt_id_t)k)),
                 "HAKMEM_%s: text \"%s\", model \"%s\"", hak_option_info[k].name, hak_options_str(&got, (hak_opt_id_t)k),
                 hak_options_str(&want, (hak_opt_id_t)k));
      continue;  // a text does not round-trip through hak_option_format (it formats the process's own options)
    }
    check_round_trip((hak_opt_id_t)k, got.v[k]);
  }
  // The cut render: for one input in four (by its first byte), the
  // cut point from the input; it renders the whole table each time and was
  // a third of an input's time (perf).
  if (!size || data[0] % 4 == 0) check_markdown(size ? data[0] * 37u + size : 0);
  return 0;
}
