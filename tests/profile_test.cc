// profile_test.cc — the heap profile (hakmem/profile.c): every allocation
// and every free of a sampled block is seen, whichever path it takes
// (pools, large engine, calloc, aligned, realloc in place / moved / copied,
// frees from another thread); the sampler's rate; the pointer table under
// churn; and the file google-pprof reads (header, records, maps).
#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/test_util.h"

extern "C" {
#include "hakmem/profile.h"
#include "hakmem/site.h"
}

namespace hakmem_test {
namespace {

struct Record {
  uint64_t live_n = 0, live_b = 0, alloc_n = 0, alloc_b = 0;
};

class ProfileTest : public HakTest {
 protected:
  void SetUp() override {
    HakTest::SetUp();
    path_ = std::string(getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp") + "/profile_test.heap";
    unlink(path_.c_str());
  }
  void TearDown() override {
    hak_profile_reset();
    HakTest::TearDown();  // BALANCED again: the profile is off
    EXPECT_FALSE(hak_profile_on);
  }
  // The profile on with the given period (and interval), through the same
  // parser the environment goes through.
  void Start(const char* sample, const char* file = nullptr) {
    std::string f = std::string("HAKMEM_PROFILE=") + (file ? file : path_.c_str());
    std::string s = std::string("HAKMEM_PROFILE_SAMPLE=") + sample;
    const char* env[] = {f.c_str(), s.c_str(), nullptr};
    hak_options_t o;
    hak_options_parse(env, false, &o);
    ASSERT_EQ(o.warnings, 0u);
    hak_options = o;
    hak_apply_options();
    ASSERT_TRUE(hak_profile_on);
    ASSERT_EQ(hak_fast_limit, 0u) << "every request must pass the sampler";
    hak_profile_reset();
  }
  std::string Read() {
    std::ifstream in(path_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  // Records by "first frame as written" (site - 1), summed over size buckets.
  std::map<uintptr_t, Record> Records(std::string* header = nullptr) {
    EXPECT_TRUE(hak_profile_write());
    std::map<uintptr_t, Record> out;
    std::istringstream in(Read());
    std::string line;
    std::getline(in, line);
    if (header) *header = line;
    while (std::getline(in, line) && !line.empty()) {
      unsigned long long a, b, c, d, frame;
      char at[4];
      EXPECT_EQ(sscanf(line.c_str(), "%llu: %llu [%llu: %llu] %1s %llx", &a, &b, &c, &d, at, &frame), 6) << line;
      Record& o = out[frame];
      o.live_n += a;
      o.live_b += b;
      o.alloc_n += c;
      o.alloc_b += d;
    }
    return out;
  }
  static uintptr_t Site(int k) { return 0x7e0000 + 0x40 * k; }
  static uintptr_t Key(int k) { return Site(k) - 1; }  // pprof's convention for the first frame
  std::string path_;
};

TEST_F(ProfileTest, OffCostsNothingAndRecordsNothing) {
  EXPECT_FALSE(hak_profile_on);
  EXPECT_GT(hak_fast_limit, 0u);
  uint64_t before = hak_profile_samples();
  void* p = hak_alloc_at(100, Site(1));
  hak_free(p);
  EXPECT_EQ(hak_profile_samples(), before);
  EXPECT_FALSE(hak_profile_write());
}

TEST_F(ProfileTest, EveryPathIsSeenWithPeriodOne) {
  Start("1");
  std::vector<void*> small, large;
  for (int i = 0; i < 1000; i++) small.push_back(hak_alloc_at(40, Site(1)));
  for (int i = 0; i < 6; i++) large.push_back(hak_alloc_at(1 << 20, Site(2)));
  void* z = hak_calloc_at(10, 100, Site(3));
  void* a = hak_aligned_at(4096, 3000, Site(4));
  ASSERT_TRUE(z && a && AllZero(z, 1000));
  EXPECT_EQ(hak_profile_live(), 1008u);
  // Free half of each: pool frees (flagged pages) and large frees.
  for (int i = 0; i < 1000; i += 2) hak_free(small[i]);
  for (int i = 0; i < 6; i += 2) hak_free(large[i]);
  hak_free(a);
  auto r = Records();
  EXPECT_EQ(r[Key(1)].alloc_n, 1000u);
  EXPECT_EQ(r[Key(1)].alloc_b, 40000u);
  EXPECT_EQ(r[Key(1)].live_n, 500u);
  EXPECT_EQ(r[Key(1)].live_b, 20000u);
  EXPECT_EQ(r[Key(2)].alloc_n, 6u);
  EXPECT_EQ(r[Key(2)].live_n, 3u);
  EXPECT_EQ(r[Key(2)].live_b, 3u << 20);
  EXPECT_EQ(r[Key(3)].live_b, 1000u);
  EXPECT_EQ(r[Key(4)].alloc_n, 1u);
  EXPECT_EQ(r[Key(4)].live_n, 0u);
  for (int i = 1; i < 1000; i += 2) hak_free(small[i]);
  for (int i = 1; i < 6; i += 2) hak_free(large[i]);
  hak_free(z);
  EXPECT_EQ(hak_profile_live(), 0u);
  r = Records();
  for (auto& [k, rec] : r) {
    if (k == Key(1) || k == Key(2) || k == Key(3) || k == Key(4)) {
      EXPECT_EQ(rec.live_n, 0u) << std::hex << k;
      EXPECT_EQ(rec.live_b, 0u) << std::hex << k;
    }
  }
}

TEST_F(ProfileTest, ReallocCountsAsFreeAndAllocation) {
  Start("1");
  // In place (small, shrinking a little), copied (small to mid), moved or
  // grown (large to large).
  char* p = static_cast<char*>(hak_alloc_at(100, Site(1)));
  Fill(p, 100, 1);
  char* q = static_cast<char*>(hak_realloc_at(p, 90, Site(1)));
  ASSERT_EQ(q, p);
  char* c = static_cast<char*>(hak_realloc_at(q, 5000, Site(2)));
  ASSERT_TRUE(c && Check(c, 90, 1));
  char* l = static_cast<char*>(hak_alloc_at(1 << 20, Site(3)));
  FillSparse(l, 1 << 20, 3);
  char* m = static_cast<char*>(hak_realloc_at(l, 3 << 20, Site(3)));
  ASSERT_TRUE(m && CheckSparse(m, 1 << 20, 3));
  EXPECT_EQ(hak_profile_live(), 2u);  // c and m
  auto r = Records();
  EXPECT_EQ(r[Key(1)].alloc_n, 2u);   // 100, then 90 in place
  EXPECT_EQ(r[Key(1)].live_n, 0u);    // copied away
  EXPECT_EQ(r[Key(2)].live_b, 5000u);
  EXPECT_EQ(r[Key(3)].alloc_n, 2u);
  EXPECT_EQ(r[Key(3)].live_n, 1u);
  EXPECT_EQ(r[Key(3)].live_b, 3u << 20);
  hak_free(c);
  hak_free(m);
  EXPECT_EQ(hak_profile_live(), 0u);
}

TEST_F(ProfileTest, FreesFromAnotherThreadAreSeen) {
  Start("1");
  std::vector<void*> blocks;
  for (int i = 0; i < 2000; i++) blocks.push_back(hak_alloc_at(64 + i % 200, Site(1)));
  std::thread t([&] {
    for (void* b : blocks) hak_free(b);
  });
  t.join();
  EXPECT_EQ(hak_profile_live(), 0u);
  EXPECT_EQ(Records()[Key(1)].live_n, 0u);
}

TEST_F(ProfileTest, TableSurvivesChurnInRandomOrder) {
  Start("1");
  std::mt19937 rng(7);
  std::vector<void*> live;
  for (int round = 0; round < 40000; round++) {
    if (live.empty() || rng() % 3) {
      live.push_back(hak_alloc_at(16 + rng() % 3000, Site(1 + rng() % 8)));
    } else {
      size_t k = rng() % live.size();
      hak_free(live[k]);
      live[k] = live.back();
      live.pop_back();
    }
    if (round % 10000 == 0) ASSERT_EQ(hak_profile_live(), live.size());
  }
  EXPECT_EQ(hak_profile_live(), live.size());
  uint64_t n = 0;
  for (auto& [k, rec] : Records()) n += rec.live_n;
  EXPECT_EQ(n, live.size());
  for (void* p : live) hak_free(p);
  EXPECT_EQ(hak_profile_live(), 0u);
}

TEST_F(ProfileTest, SamplesAboutOncePerPeriodBytes) {
  Start("64K");
  // 64 MiB in 64-byte blocks: 1024 samples expected (Poisson, sd 32); the
  // bounds are 7 sd wide, so the test is not flaky.
  for (int i = 0; i < (1 << 20); i++) hak_free(hak_alloc_at(64, Site(1)));
  uint64_t n = hak_profile_samples();
  EXPECT_GT(n, 800u);
  EXPECT_LT(n, 1250u);
  EXPECT_EQ(hak_profile_live(), 0u);
  // A block as large as 16 periods is (almost) always sampled.
  void* big = hak_alloc_at(1 << 20, Site(2));
  EXPECT_EQ(hak_profile_samples(), n + 1);
  hak_free(big);
}

TEST_F(ProfileTest, FileIsWhatPprofReads) {
  Start("512K");
  void* p = hak_alloc_at(4 << 20, Site(5));
  std::string header;
  auto r = Records(&header);
  EXPECT_EQ(header.rfind("heap profile: 1: 4194304 [1: 4194304] @ heap_v2/524288", 0), 0u) << header;
  EXPECT_EQ(r[Key(5)].live_b, 4u << 20);
  std::string text = Read();
  size_t maps = text.find("\nMAPPED_LIBRARIES:\n");
  ASSERT_NE(maps, std::string::npos);
  EXPECT_NE(text.find("[stack]", maps), std::string::npos) << "the maps section is /proc/self/maps";
  EXPECT_NE(access((path_ + ".tmp." + std::to_string(getpid())).c_str(), F_OK), 0) << "temporary file left";
  hak_free(p);
}

TEST_F(ProfileTest, PercentPIsTheProcessId) {
  std::string pattern = path_ + ".%p";
  Start("1", pattern.c_str());
  void* p = hak_alloc_at(100, Site(1));
  EXPECT_TRUE(hak_profile_write());
  std::string want = path_ + "." + std::to_string(getpid());
  EXPECT_EQ(access(want.c_str(), R_OK), 0) << want;
  unlink(want.c_str());
  hak_free(p);
}

TEST_F(ProfileTest, AnUnwritableFileIsReportedNotFatal) {
  Start("1", "/nonexistent-dir/x.heap");
  void* p = hak_alloc_at(100, Site(1));
  EXPECT_FALSE(hak_profile_write());
  hak_free(p);
}

}  // namespace
}  // namespace hakmem_test
