/* options.c — parsing HAKMEM_* variables and the mode presets (layer L0).
 *
 * Called once by hak_init (init.c) with the process's environ; tests call
 * hak_options_parse with their own arrays. Walks environ directly: getenv is
 * not safe this early in a preloaded library and nothing here may allocate.
 */
#include "hakmem/options.h"

#include <string.h>

#include "hakmem/check.h"
#include "hakmem/libc.h"
#include "hakmem/log.h"

const char *const hak_thp_names[] = {"off", "on", "auto", NULL};
const char *const hak_evo_names[] = {"auto", "learn", "frozen", "off", NULL};
const char *const hak_learner_names[] = {"ucb1", "elo", NULL};
const char *const hak_foreign_names[] = {"abort", "ignore", NULL};

const hak_option_info_t hak_option_info[HAK_OPT_COUNT] = {
#define HAK_OPT_INFO(id, type, def, lo, hi, names, meaning) {#id, type, def, lo, hi, names, meaning},
    HAK_OPTIONS(HAK_OPT_INFO)
#undef HAK_OPT_INFO
};

// BALANCED defaults from the first instruction: allocations made before
// hak_init finishes (a constructor that runs first) see sane values.
hak_options_t hak_options = {
    .mode = HAK_MODE_BALANCED,
    .v = {
#define HAK_OPT_DEFAULT(id, type, def, lo, hi, names, meaning) def,
        HAK_OPTIONS(HAK_OPT_DEFAULT)
#undef HAK_OPT_DEFAULT
    },
};

// --- modes ------------------------------------------------------------------------

static const char *const mode_names[] = {"MINIMAL", "FAST", "BALANCED", "LEARNING", "RESEARCH"};

typedef struct mode_preset {
  hak_mode_t mode;
  hak_opt_id_t id;
  uint64_t value;
} mode_preset_t;

/* Each mode is the defaults (BALANCED) with these rows applied. BALANCED
 * learns each site's placement and freezes it (EVO auto); LEARNING and
 * RESEARCH learn the free policy too (EVO_FREE_ARMS). */
static const mode_preset_t mode_presets[] = {
    // MINIMAL: every feature off; a large block is one mmap and one munmap.
    {HAK_MODE_MINIMAL, HAK_OPT_BIGCACHE, 0},
    {HAK_MODE_MINIMAL, HAK_OPT_FREE_POLICY, 0},
    {HAK_MODE_MINIMAL, HAK_OPT_BATCH, 0},
    {HAK_MODE_MINIMAL, HAK_OPT_THP, HAK_THP_OFF},
    {HAK_MODE_MINIMAL, HAK_OPT_EVO, 3 /* off */},
    // FAST: caches on and larger, no madvise on free, no sampling, no learning.
    {HAK_MODE_FAST, HAK_OPT_BIGCACHE_MAX_BYTES, HAK_GiB},
    {HAK_MODE_FAST, HAK_OPT_HOT_MAX, 64 * HAK_GiB},
    {HAK_MODE_FAST, HAK_OPT_COLD_MIN, 64 * HAK_GiB},
    {HAK_MODE_FAST, HAK_OPT_SPARE_RESIDENT_BYTES, 256 * HAK_MiB},
    {HAK_MODE_FAST, HAK_OPT_EVO, 3 /* off */},
    // LEARNING: explore without end (never freezes): for watching the
    // learner; BALANCED is the mode that learns and then keeps its choice.
    {HAK_MODE_LEARNING, HAK_OPT_EVO, 1 /* learn */},
    {HAK_MODE_LEARNING, HAK_OPT_EVO_FREE_ARMS, 1},
    // RESEARCH: BALANCED's learning, every allocation counted per site,
    // the leaderboard at exit.
    {HAK_MODE_RESEARCH, HAK_OPT_EVO, 0 /* auto */},
    {HAK_MODE_RESEARCH, HAK_OPT_EVO_FREE_ARMS, 1},
    {HAK_MODE_RESEARCH, HAK_OPT_SITE_SAMPLE, 1},
    {HAK_MODE_RESEARCH, HAK_OPT_VERBOSE, 2},
};

bool hak_mode_parse(const char *s, hak_mode_t *out) {
  for (unsigned m = 0; m < sizeof mode_names / sizeof mode_names[0]; m++) {
    if (hak_streq_nocase(s, mode_names[m])) {
      *out = (hak_mode_t)m;
      return true;
    }
  }
  return false;
}

const char *hak_mode_name(hak_mode_t mode) {
  return (unsigned)mode < sizeof mode_names / sizeof mode_names[0] ? mode_names[mode] : "UNKNOWN";
}

hak_mode_t hak_mode_get(void) { return hak_options.mode; }

// The slot of string option id in hak_options_t.str: string options in table order.
static unsigned str_slot(hak_opt_id_t id) {
  unsigned slot = 0;
  for (unsigned i = 0; i < (unsigned)id; i++) slot += hak_option_info[i].type == HAK_OPT_STRING;
  HAK_CHECK(slot < HAK_OPT_STR_SLOTS, "options: more string options than HAK_OPT_STR_SLOTS");
  return slot;
}

const char *hak_options_str(const hak_options_t *o, hak_opt_id_t id) { return o->str[str_slot(id)]; }

void hak_options_preset(hak_mode_t mode, hak_options_t *out) {
  memset(out, 0, sizeof *out);
  out->mode = mode;
  for (unsigned i = 0; i < HAK_OPT_COUNT; i++) out->v[i] = hak_option_info[i].def;
  for (unsigned i = 0; i < sizeof mode_presets / sizeof mode_presets[0]; i++)
    if (mode_presets[i].mode == mode) out->v[mode_presets[i].id] = mode_presets[i].value;
}

// --- parsing ----------------------------------------------------------------------

static const char prefix[] = "HAKMEM_";
#define PREFIX_LEN (sizeof prefix - 1)

// "HAKMEM_NAME=value": true when the name part equals `name` exactly; *value set.
static bool var_is(const char *var, const char *name, const char **value) {
  size_t n = strlen(name);
  if (strncmp(var + PREFIX_LEN, name, n) != 0 || var[PREFIX_LEN + n] != '=') return false;
  *value = var + PREFIX_LEN + n + 1;
  return true;
}

static bool parse_value(const hak_option_info_t *info, const char *s, uint64_t *out) {
  uint64_t v = 0;
  bool ok = false;
  switch (info->type) {
    case HAK_OPT_BOOL: {
      bool b = false;  // read below even when parsing fails
      ok = hak_parse_bool(s, &b);
      v = b;
      break;
    }
    case HAK_OPT_UINT: ok = hak_parse_uint(s, &v); break;
    case HAK_OPT_SIZE: ok = hak_parse_size(s, &v); break;
    case HAK_OPT_ENUM:
      for (unsigned i = 0; info->names[i]; i++)
        if (hak_streq_nocase(s, info->names[i])) {
          v = i;
          ok = true;
        }
      break;
    case HAK_OPT_STRING: return strlen(s) <= info->max;  // the caller copies the text
  }
  if (!ok || v < info->min || v > info->max) return false;
  *out = v;
  return true;
}

static void copy_text(char *dst, size_t cap, const char *s) {
  hak_buf_t b;
  hak_buf_init(&b, dst, cap);
  hak_buf_puts(&b, s);
  hak_buf_finish(&b);
}

static void warn_bad(bool warn, const char *name, const char *value, const char *kept) {
  if (warn) hak_log("ignoring HAKMEM_%s=%s (bad value); keeping %s", name, value, kept);
}

void hak_options_parse(const char *const *envp, bool warn, hak_options_t *out) {
  // The mode first: it decides the base values the other variables override.
  hak_mode_t mode = HAK_MODE_BALANCED;
  unsigned warnings = 0;
  for (const char *const *e = envp; e && *e; e++) {
    const char *value;
    if (strncmp(*e, prefix, PREFIX_LEN) != 0 || !var_is(*e, "MODE", &value)) continue;
    if (!hak_mode_parse(value, &mode)) {
      warn_bad(warn, "MODE", value, "BALANCED");
      warnings++;
      mode = HAK_MODE_BALANCED;
    }
  }
  hak_options_preset(mode, out);

  for (const char *const *e = envp; e && *e; e++) {
    const char *value;
    if (strncmp(*e, prefix, PREFIX_LEN) != 0 || var_is(*e, "MODE", &value)) continue;
    bool known = false;
    for (unsigned i = 0; i < HAK_OPT_COUNT && !known; i++) {
      const hak_option_info_t *info = &hak_option_info[i];
      if (!var_is(*e, info->name, &value)) continue;
      known = true;
      uint64_t v;
      if (parse_value(info, value, &v)) {
        if (info->type == HAK_OPT_STRING) {
          char *dst = out->str[str_slot((hak_opt_id_t)i)];
          memcpy(dst, value, strlen(value) + 1);  // parse_value checked the length
        } else {
          out->v[i] = v;
        }
        out->set_by_env[i] = 1;
      } else {
        char kept[32];
        if (info->type == HAK_OPT_STRING) copy_text(kept, sizeof kept, hak_options_str(out, (hak_opt_id_t)i));
        else hak_option_format((hak_opt_id_t)i, out->v[i], kept, sizeof kept);
        warn_bad(warn, info->name, value, kept);
        warnings++;
      }
    }
    if (!known) {
      // Names the library does not know are usually typos: say so once.
      if (warn) hak_log("ignoring unknown option %s", *e);
      warnings++;
    }
  }
  out->warnings = warnings;
}

// --- text ---------------------------------------------------------------------------

void hak_option_format(hak_opt_id_t id, uint64_t v, char *buf, size_t cap) {
  const hak_option_info_t *info = &hak_option_info[id];
  hak_buf_t b;
  hak_buf_init(&b, buf, cap);
  switch (info->type) {
    case HAK_OPT_BOOL: hak_buf_puts(&b, v ? "1" : "0"); break;
    case HAK_OPT_UINT: hak_buf_printf(&b, "%llu", (unsigned long long)v); break;
    case HAK_OPT_SIZE: {
      static const char suffix[] = "KMGT";
      int s = -1;
      while (s < 3 && v && (v & 1023) == 0) {
        v >>= 10;
        s++;
      }
      hak_buf_printf(&b, "%llu", (unsigned long long)v);
      if (s >= 0) hak_buf_putc(&b, suffix[s]);
      break;
    }
    case HAK_OPT_ENUM: hak_buf_puts(&b, info->names[v]); break;
    case HAK_OPT_STRING: hak_buf_puts(&b, hak_options_str(&hak_options, id)); break;
  }
  hak_buf_finish(&b);
}

size_t hak_options_markdown(char *buf, size_t cap) {
  static const char *const type_names[] = {"bool", "integer", "size", "choice", "text"};
  hak_buf_t b;
  hak_buf_init(&b, buf, cap);
  hak_buf_puts(&b, "| variable | type | BALANCED default | range | meaning |\n");
  hak_buf_puts(&b, "|---|---|---|---|---|\n");
  hak_buf_puts(&b, "| `HAKMEM_MODE` | choice | BALANCED | MINIMAL, FAST, BALANCED, LEARNING, RESEARCH | preset of the options below |\n");
  for (unsigned i = 0; i < HAK_OPT_COUNT; i++) {
    const hak_option_info_t *info = &hak_option_info[i];
    char def[32], lo[32], hi[32];
    if (info->type == HAK_OPT_STRING) copy_text(def, sizeof def, "(none)");
    else hak_option_format((hak_opt_id_t)i, info->def, def, sizeof def);
    hak_buf_printf(&b, "| `HAKMEM_%s` | %s | %s | ", info->name, type_names[info->type], def);
    if (info->type == HAK_OPT_ENUM) {
      for (unsigned k = 0; info->names[k]; k++) hak_buf_printf(&b, "%s%s", k ? ", " : "", info->names[k]);
    } else if (info->type == HAK_OPT_BOOL) {
      hak_buf_puts(&b, "0, 1");
    } else if (info->type == HAK_OPT_STRING) {
      hak_buf_printf(&b, "up to %llu bytes", (unsigned long long)info->max);
    } else {
      hak_option_format((hak_opt_id_t)i, info->min, lo, sizeof lo);
      hak_option_format((hak_opt_id_t)i, info->max, hi, sizeof hi);
      hak_buf_printf(&b, "%s … %s", lo, hi);
    }
    hak_buf_printf(&b, " | %s |\n", info->meaning);
  }
  hak_buf_puts(&b, "\nMode presets (each is the defaults above with these changes):\n\n");
  hak_buf_puts(&b, "| mode | changes |\n|---|---|\n");
  for (unsigned m = 0; m < sizeof mode_names / sizeof mode_names[0]; m++) {
    hak_buf_printf(&b, "| %s | ", mode_names[m]);
    unsigned n = 0;
    for (unsigned i = 0; i < sizeof mode_presets / sizeof mode_presets[0]; i++) {
      if (mode_presets[i].mode != (hak_mode_t)m) continue;
      char v[32];
      hak_option_format(mode_presets[i].id, mode_presets[i].value, v, sizeof v);
      hak_buf_printf(&b, "%s`%s=%s`", n++ ? ", " : "", hak_option_info[mode_presets[i].id].name, v);
    }
    if (!n) hak_buf_puts(&b, "(the defaults)");
    hak_buf_puts(&b, " |\n");
  }
  return hak_buf_finish(&b);
}
