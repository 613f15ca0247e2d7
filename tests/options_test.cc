// options_test.cc — the option table, its parser, the mode presets, and the
// string/number/format helpers underneath (libc.c, log.c).
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

extern "C" {
#include "hakmem/libc.h"
#include "hakmem/log.h"
#include "hakmem/options.h"
}

namespace {

hak_options_t Parse(std::vector<const char*> env) {
  env.push_back(nullptr);
  hak_options_t o;
  hak_options_parse(env.data(), false, &o);
  return o;
}

uint64_t Def(hak_opt_id_t id) { return hak_option_info[id].def; }

TEST(Options, EmptyEnvironmentIsBalancedDefaults) {
  hak_options_t o = Parse({"PATH=/bin", "HOME=/root"});
  EXPECT_EQ(o.mode, HAK_MODE_BALANCED);
  EXPECT_EQ(o.warnings, 0u);
  for (unsigned i = 0; i < HAK_OPT_COUNT; i++) EXPECT_EQ(o.v[i], hak_option_info[i].def) << hak_option_info[i].name;
  hak_options_t n;
  hak_options_parse(nullptr, false, &n);
  EXPECT_EQ(n.mode, HAK_MODE_BALANCED);
}

TEST(Options, StaticDefaultsMatchTheTable) {
  // hak_options holds BALANCED defaults before hak_init runs (constructors
  // that allocate first rely on it); the test binary never changed them.
  for (unsigned i = 0; i < HAK_OPT_COUNT; i++) EXPECT_EQ(hak_options.v[i], hak_option_info[i].def);
}

TEST(Options, EveryDefaultIsInItsRange) {
  for (unsigned i = 0; i < HAK_OPT_COUNT; i++) {
    const hak_option_info_t& info = hak_option_info[i];
    EXPECT_LE(info.min, info.def) << info.name;
    EXPECT_LE(info.def, info.max) << info.name;
    EXPECT_NE(info.meaning, nullptr);
  }
}

TEST(Options, MinimalTurnsEveryFeatureOff) {
  hak_options_t o = Parse({"HAKMEM_MODE=minimal"});
  EXPECT_EQ(o.mode, HAK_MODE_MINIMAL);
  EXPECT_EQ(o.v[HAK_OPT_BIGCACHE], 0u);
  EXPECT_EQ(o.v[HAK_OPT_FREE_POLICY], 0u);
  EXPECT_EQ(o.v[HAK_OPT_BATCH], 0u);
  EXPECT_EQ(o.v[HAK_OPT_THP], (uint64_t)HAK_THP_OFF);
  EXPECT_EQ(o.v[HAK_OPT_SITE_SAMPLE], 0u);
}

TEST(Options, OnlyResearchSamplesSmallRequestsAndBalancedLearns) {
  EXPECT_EQ(Parse({}).v[HAK_OPT_SITE_SAMPLE], 0u);  // nothing reads them
  EXPECT_EQ(Parse({"HAKMEM_MODE=LEARNING"}).v[HAK_OPT_SITE_SAMPLE], 0u);  // the learner keeps its own
  EXPECT_EQ(Parse({"HAKMEM_MODE=RESEARCH"}).v[HAK_OPT_SITE_SAMPLE], 1u);
  // BALANCED (the default) learns and freezes; LEARNING explores without
  // end; MINIMAL and FAST never learn.
  EXPECT_EQ(Parse({}).v[HAK_OPT_EVO], 0u);  // auto
  EXPECT_EQ(Parse({"HAKMEM_MODE=BALANCED"}).v[HAK_OPT_EVO], 0u);
  EXPECT_EQ(Parse({"HAKMEM_MODE=LEARNING"}).v[HAK_OPT_EVO], 1u);  // learn
  EXPECT_EQ(Parse({"HAKMEM_MODE=RESEARCH"}).v[HAK_OPT_EVO], 0u);
  EXPECT_EQ(Parse({"HAKMEM_MODE=MINIMAL"}).v[HAK_OPT_EVO], 3u);  // off
  EXPECT_EQ(Parse({"HAKMEM_MODE=FAST"}).v[HAK_OPT_EVO], 3u);
  // No wall-clock minimum: a site freezes on its own windows.
  EXPECT_EQ(Parse({}).v[HAK_OPT_EVO_MIN_LEARN_MS], 0u);
  EXPECT_EQ(Parse({}).v[HAK_OPT_EVO_TARGET_MS], 50u);
  EXPECT_EQ(Parse({}).v[HAK_OPT_EVO_MEM_COST], 4000u);
}

TEST(Options, EvoStrategyNamesARow) {
  char pin[] = "HAKMEM_EVO_STRATEGY=256k/keep";
  hak_options_t o = Parse({pin, "HAKMEM_EVO=frozen"});
  EXPECT_STREQ(hak_options_str(&o, HAK_OPT_EVO_STRATEGY), "256k/keep");
  EXPECT_EQ(o.v[HAK_OPT_EVO], 2u);
  hak_options_t d = Parse({});
  EXPECT_STREQ(hak_options_str(&d, HAK_OPT_EVO_STRATEGY), "");
}

TEST(Options, ModePresets) {
  hak_options_t f = Parse({"HAKMEM_MODE=FAST"});
  EXPECT_EQ(f.v[HAK_OPT_BIGCACHE], 1u);
  EXPECT_GT(f.v[HAK_OPT_HOT_MAX], Def(HAK_OPT_HOT_MAX));
  EXPECT_EQ(f.v[HAK_OPT_SITE_SAMPLE], 0u);
  hak_options_t r = Parse({"HAKMEM_MODE=Research"});
  EXPECT_EQ(r.mode, HAK_MODE_RESEARCH);
  EXPECT_EQ(r.v[HAK_OPT_SITE_SAMPLE], 1u);
  EXPECT_EQ(r.v[HAK_OPT_VERBOSE], 2u);
  EXPECT_EQ(Parse({"HAKMEM_MODE=LEARNING"}).mode, HAK_MODE_LEARNING);
  for (int m = HAK_MODE_MINIMAL; m <= HAK_MODE_RESEARCH; m++) {
    hak_mode_t parsed;
    ASSERT_TRUE(hak_mode_parse(hak_mode_name((hak_mode_t)m), &parsed));
    EXPECT_EQ(parsed, m);
  }
}

TEST(Options, IndividualOptionsOverrideTheMode) {
  hak_options_t o = Parse({"HAKMEM_BIGCACHE=1", "HAKMEM_MODE=MINIMAL", "HAKMEM_THP=on"});
  EXPECT_EQ(o.mode, HAK_MODE_MINIMAL);
  EXPECT_EQ(o.v[HAK_OPT_BIGCACHE], 1u);  // explicit beats the preset, in any order
  EXPECT_EQ(o.v[HAK_OPT_THP], (uint64_t)HAK_THP_ON);
  EXPECT_EQ(o.v[HAK_OPT_BATCH], 0u);  // the rest of MINIMAL stays
  EXPECT_TRUE(o.set_by_env[HAK_OPT_BIGCACHE]);
  EXPECT_FALSE(o.set_by_env[HAK_OPT_BATCH]);
}

TEST(Options, SizesWithSuffixes) {
  hak_options_t o = Parse({"HAKMEM_BATCH_BYTES=8M", "HAKMEM_LARGE_THRESHOLD=512k", "HAKMEM_BIGCACHE_MAX_BYTES=1GiB",
                           "HAKMEM_HOT_MAX=65536"});
  EXPECT_EQ(o.warnings, 0u);
  EXPECT_EQ(o.v[HAK_OPT_BATCH_BYTES], 8u << 20);
  EXPECT_EQ(o.v[HAK_OPT_LARGE_THRESHOLD], 512u << 10);
  EXPECT_EQ(o.v[HAK_OPT_BIGCACHE_MAX_BYTES], 1ull << 30);
  EXPECT_EQ(o.v[HAK_OPT_HOT_MAX], 65536u);
}

// Every option: its bounds are accepted, one past them and junk are not, and
// a rejected value keeps what the mode had.
TEST(Options, EveryOptionBoundsAndBadValues) {
  for (unsigned i = 0; i < HAK_OPT_COUNT; i++) {
    const hak_option_info_t& info = hak_option_info[i];
    std::string name = std::string("HAKMEM_") + info.name + "=";
    if (info.type == HAK_OPT_STRING) continue;  // StringOptions below
    if (info.type == HAK_OPT_ENUM) {
      for (unsigned k = 0; info.names[k]; k++) {
        std::string v = name + info.names[k];
        hak_options_t o = Parse({v.c_str()});
        EXPECT_EQ(o.v[i], k) << v;
        EXPECT_EQ(o.warnings, 0u) << v;
      }
    } else {
      for (uint64_t ok : {info.min, info.max}) {
        std::string v = name + std::to_string(ok);
        hak_options_t o = Parse({v.c_str()});
        EXPECT_EQ(o.v[i], ok) << v;
        EXPECT_EQ(o.warnings, 0u) << v;
      }
      std::vector<std::string> bad = {name + std::to_string(info.max + 1), name + "-1", name + "12x", name + "",
                                      name + "99999999999999999999999"};
      if (info.min > 0) bad.push_back(name + std::to_string(info.min - 1));
      for (const std::string& v : bad) {
        hak_options_t o = Parse({v.c_str()});
        EXPECT_EQ(o.v[i], info.def) << v;
        EXPECT_EQ(o.warnings, 1u) << v;
      }
    }
    std::string junk = name + "banana";
    hak_options_t o = Parse({junk.c_str()});
    EXPECT_EQ(o.v[i], info.def) << junk;
    EXPECT_EQ(o.warnings, 1u) << junk;
  }
}

// String options keep a copy of their text (the program may change environ
// later), each in its own slot; too long a text warns and keeps the old one.
TEST(Options, StringOptions) {
  std::string longer(HAK_OPT_STR_MAX, 'x');
  std::string too_long = "HAKMEM_PROFILE=" + longer;
  char wrap[] = "HAKMEM_SITE_WRAP=xmalloc,libfoo.so";
  hak_options_t o = Parse({wrap, "HAKMEM_PROFILE=/tmp/p.heap", too_long.c_str()});
  wrap[17] = 'Y';  // the parsed text is a copy
  EXPECT_STREQ(hak_options_str(&o, HAK_OPT_SITE_WRAP), "xmalloc,libfoo.so");
  EXPECT_STREQ(hak_options_str(&o, HAK_OPT_PROFILE), "/tmp/p.heap");
  EXPECT_TRUE(o.set_by_env[HAK_OPT_PROFILE]);
  EXPECT_EQ(o.warnings, 1u);
  hak_options_t d = Parse({});
  EXPECT_STREQ(hak_options_str(&d, HAK_OPT_SITE_WRAP), "");
  EXPECT_STREQ(hak_options_str(&d, HAK_OPT_PROFILE), "");
  std::string max_len = "HAKMEM_PROFILE=" + longer.substr(1);
  hak_options_t m = Parse({max_len.c_str()});
  EXPECT_EQ(strlen(hak_options_str(&m, HAK_OPT_PROFILE)), HAK_OPT_STR_MAX - 1);
  EXPECT_EQ(m.warnings, 0u);
}

TEST(Options, UnknownNamesAndBadModesWarnOnce) {
  hak_options_t o = Parse({"HAKMEM_BIGCACHEE=1", "HAKMEM_MODE=TURBO", "HAKMEM=1", "XHAKMEM_MODE=MINIMAL"});
  EXPECT_EQ(o.mode, HAK_MODE_BALANCED);
  // The typo and the bad mode warn; "HAKMEM=1" and "XHAKMEM_..." are not ours.
  EXPECT_EQ(o.warnings, 2u);
}

TEST(Options, PrefixIsMatchedExactly) {
  // A name that merely starts with a known option is not that option.
  hak_options_t o = Parse({"HAKMEM_BATCH_RANGESX=3", "HAKMEM_BATCH=0"});
  EXPECT_EQ(o.v[HAK_OPT_BATCH_RANGES], Def(HAK_OPT_BATCH_RANGES));
  EXPECT_EQ(o.v[HAK_OPT_BATCH], 0u);
  EXPECT_EQ(o.warnings, 1u);
}

TEST(Options, FormatRoundTrips) {
  for (unsigned i = 0; i < HAK_OPT_COUNT; i++) {
    if (hak_option_info[i].type == HAK_OPT_STRING) continue;  // StringOptions
    char buf[32];
    hak_option_format((hak_opt_id_t)i, hak_option_info[i].def, buf, sizeof buf);
    std::string v = std::string("HAKMEM_") + hak_option_info[i].name + "=" + buf;
    hak_options_t o = Parse({v.c_str()});
    EXPECT_EQ(o.v[i], hak_option_info[i].def) << v;
    EXPECT_EQ(o.warnings, 0u) << v;
  }
}

TEST(Options, MarkdownListsEveryOptionAndMode) {
  char buf[16384];
  size_t n = hak_options_markdown(buf, sizeof buf);
  ASSERT_LT(n, sizeof buf);
  std::string md(buf);
  for (unsigned i = 0; i < HAK_OPT_COUNT; i++)
    EXPECT_NE(md.find(std::string("`HAKMEM_") + hak_option_info[i].name + "`"), std::string::npos);
  for (const char* m : {"MINIMAL", "FAST", "BALANCED", "LEARNING", "RESEARCH"}) EXPECT_NE(md.find(m), std::string::npos);
  // snprintf-like: a short buffer reports the same length and stays terminated.
  char small[10];
  EXPECT_EQ(hak_options_markdown(small, sizeof small), n);
  EXPECT_EQ(std::strlen(small), sizeof small - 1);
}

TEST(Libc, ParseSize) {
  uint64_t v;
  EXPECT_TRUE(hak_parse_size("0", &v));
  EXPECT_EQ(v, 0u);
  EXPECT_TRUE(hak_parse_size("4k", &v));
  EXPECT_EQ(v, 4096u);
  EXPECT_TRUE(hak_parse_size("3KB", &v));
  EXPECT_EQ(v, 3072u);
  EXPECT_TRUE(hak_parse_size("2MiB", &v));
  EXPECT_EQ(v, 2u << 20);
  EXPECT_TRUE(hak_parse_size("1T", &v));
  EXPECT_EQ(v, 1ull << 40);
  EXPECT_TRUE(hak_parse_size("18446744073709551615", &v));
  EXPECT_EQ(v, UINT64_MAX);
  for (const char* bad : {"", "k", "-1", "+1", "1.5M", "1Mi", "1 M", "16777216T", "18446744073709551616", "1MM"})
    EXPECT_FALSE(hak_parse_size(bad, &v)) << bad;
  EXPECT_FALSE(hak_parse_size(nullptr, &v));
}

TEST(Libc, ParseBoolAndUint) {
  bool b;
  for (const char* t : {"1", "on", "YES", "True"}) {
    ASSERT_TRUE(hak_parse_bool(t, &b)) << t;
    EXPECT_TRUE(b);
  }
  for (const char* f : {"0", "off", "no", "FALSE"}) {
    ASSERT_TRUE(hak_parse_bool(f, &b)) << f;
    EXPECT_FALSE(b);
  }
  EXPECT_FALSE(hak_parse_bool("2", &b));
  EXPECT_FALSE(hak_parse_bool("", &b));
  uint64_t u;
  EXPECT_TRUE(hak_parse_uint("42", &u));
  EXPECT_EQ(u, 42u);
  EXPECT_FALSE(hak_parse_uint("42k", &u));
}

TEST(Log, FormatterMatchesPrintfForItsSubset) {
  char buf[128], ref[128];
  hak_buf_t b;
  hak_buf_init(&b, buf, sizeof buf);
  hak_buf_printf(&b, "%s|%d|%u|%ld|%llu|%zu|%x|%c|%%|%lld", "ab", -17, 42u, -5L, 18446744073709551615ull, (size_t)7,
                 255u, 'z', (long long)INT64_MIN);
  size_t n = hak_buf_finish(&b);
  int m = snprintf(ref, sizeof ref, "%s|%d|%u|%ld|%llu|%zu|%x|%c|%%|%lld", "ab", -17, 42u, -5L, 18446744073709551615ull,
                   (size_t)7, 255u, 'z', (long long)INT64_MIN);
  EXPECT_EQ(n, (size_t)m);
  EXPECT_STREQ(buf, ref);
}

TEST(Log, TruncatesButCountsLikeSnprintf) {
  char buf[5];
  hak_buf_t b;
  hak_buf_init(&b, buf, sizeof buf);
  hak_buf_puts(&b, "hello world");
  EXPECT_EQ(hak_buf_finish(&b), 11u);
  EXPECT_STREQ(buf, "hell");
  hak_buf_init(&b, nullptr, 0);
  hak_buf_printf(&b, "%d", 12345);
  EXPECT_EQ(hak_buf_finish(&b), 5u);
}

}  // namespace
