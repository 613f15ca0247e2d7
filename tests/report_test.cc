// report_test.cc — the exit report (hak_stats_print) and the stats JSON
// (hak_stats_json) over the site table: the text lists the busiest sites by
// bytes and never a site without requests; the JSON keeps every learning
// site (its learn object), whatever the site table recorded for it.
#include <unistd.h>

#include <cstdlib>
#include <sstream>
#include <string>

#include "tests/test_util.h"

extern "C" {
#include "hakmem/learn.h"
#include "hakmem/site.h"
}

namespace {

using namespace hakmem_test;

constexpr size_t kKiB = 1024;

class ReportTest : public HakSiteTest {
 protected:
  static std::string Print() {
    char path[] = "/tmp/hak_report_XXXXXX";
    int fd = mkstemp(path);
    EXPECT_GE(fd, 0);
    hak_stats_print(fd);
    std::string out;
    char buf[4096];
    lseek(fd, 0, SEEK_SET);
    for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
    close(fd);
    unlink(path);
    return out;
  }
  static std::string Json() {
    size_t n = hak_stats_json(nullptr, 0);
    std::string s(n + 1, '\0');
    hak_stats_json(s.data(), s.size());
    s.resize(n);
    return s;
  }
  // The lines of the "busiest call sites" section.
  static std::vector<std::string> SiteLines(const std::string& out) {
    std::vector<std::string> lines;
    std::istringstream in(out);
    bool on = false;
    for (std::string line; std::getline(in, line);) {
      if (line.find("busiest call sites") != std::string::npos) on = true;
      else if (on && line.rfind("    site ", 0) == 0) lines.push_back(line);
      else if (on) on = false;
    }
    return lines;
  }
  // Sites with learning state and nothing in the site table.
  static unsigned SilentLearningSites() {
    unsigned n = 0;
    for (unsigned i = 1; i < HAK_SITE_CAP; i++) {
      const hak_site_t* s = hak_site_get(static_cast<hak_site_id_t>(i));
      n += hak_learn_has(static_cast<hak_site_id_t>(i)) && atomic_load(&s->allocs) == 0 && atomic_load(&s->frees) == 0;
    }
    return n;
  }
};

__attribute__((noinline, disable_tail_calls)) void* PoolSite(size_t n) { return hak_alloc_cs(n); }
__attribute__((noinline, disable_tail_calls)) void* LargeSite(size_t n) { return hak_alloc_cs(n); }
__attribute__((noinline, disable_tail_calls)) void* BiggerSite(size_t n) { return hak_alloc_cs(n); }

TEST_F(ReportTest, BusiestSitesNeverListASiteWithoutRequests) {
  SetOption(HAK_OPT_EVO, 2 /* frozen */);
  SetOption(HAK_OPT_SITE_SAMPLE, 0);  // the pools record nothing in the site table
  SetOption(HAK_OPT_VERBOSE, 2);
  for (int i = 0; i < 100; i++) hak_free(PoolSite(80 * kKiB));  // frozen on 256 KiB: the pools
  hak_free(LargeSite(300 * kKiB));
  for (int i = 0; i < 2; i++) hak_free(BiggerSite(600 * kKiB));
  ASSERT_GE(SilentLearningSites(), 1u);  // the case the report must not list

  std::string out = Print();
  std::vector<std::string> lines = SiteLines(out);
  ASSERT_EQ(lines.size(), 2u) << out;  // the two sites with requests, nothing else
  EXPECT_NE(lines[0].find(": 2 allocations, 2 frees, 1228800 bytes"), std::string::npos) << out;  // by bytes
  EXPECT_NE(lines[1].find(": 1 allocations, 1 frees, 307200 bytes"), std::string::npos) << out;
  for (const std::string& l : lines) EXPECT_EQ(l.find(": 0 allocations"), std::string::npos) << out;
  EXPECT_NE(out.find("learning sites"), std::string::npos) << out;  // the silent site is reported there

  // The JSON keeps the learning site (its learn object) all the same.
  std::string js = Json();
  EXPECT_NE(js.find("\"allocs\":0,"), std::string::npos) << js;
  EXPECT_NE(js.find("\"allocs\":2,"), std::string::npos) << js;
}

TEST_F(ReportTest, NoRequestsNoSiteSection) {
  SetOption(HAK_OPT_VERBOSE, 2);
  std::string out = Print();
  EXPECT_EQ(out.find("busiest call sites"), std::string::npos) << out;
  EXPECT_TRUE(SiteLines(out).empty());
}

}  // namespace
