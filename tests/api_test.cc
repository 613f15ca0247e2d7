// api_test.cc — every edge of the public API: zero sizes, overflow, errno,
// alignment of every aligned call, usable sizes, realloc across the
// small/large boundary in both directions, call-site capture, stats.
#include <cerrno>
#include <climits>
#include <cstdint>
#include <string>

#include "tests/test_util.h"

extern "C" {
#include "hakmem/site.h"
}

namespace {

using namespace hakmem_test;

constexpr size_t kMiB = 1024 * 1024;

class ApiTest : public HakTest {
 protected:
  size_t Threshold() { return hak_opt(HAK_OPT_LARGE_THRESHOLD); }
};

TEST_F(ApiTest, ZeroSizeGivesUniqueFreeablePointers) {
  void* a = hak_alloc_cs(0);
  void* b = hak_alloc_cs(0);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_NE(a, b);
  hak_free(a);
  hak_free(b);
  void* c = hak_calloc(0, 10);
  ASSERT_NE(c, nullptr);
  hak_free(c);
}

TEST_F(ApiTest, HugeRequestsFailWithEnomemAndTheNextOneWorks) {
  for (size_t n : {SIZE_MAX, SIZE_MAX - 4096, (size_t)PTRDIFF_MAX + 1, (size_t)PTRDIFF_MAX, (size_t)1 << 60}) {
    errno = 0;
    EXPECT_EQ(hak_alloc_at(n, 1), nullptr) << n;
    EXPECT_EQ(errno, ENOMEM) << n;
    errno = 0;
    EXPECT_EQ(hak_aligned_alloc(4096, n), nullptr) << n;
    EXPECT_EQ(errno, ENOMEM) << n;
  }
  void* p = hak_alloc_at(100, 1);
  ASSERT_NE(p, nullptr);
  hak_free(p);
}

TEST_F(ApiTest, CallocOverflowFails) {
  for (auto [n, s] : {std::pair<size_t, size_t>{SIZE_MAX / 2, 4}, {SIZE_MAX, SIZE_MAX}, {(size_t)1 << 33, (size_t)1 << 33},
                      {2, (size_t)PTRDIFF_MAX}}) {
    errno = 0;
    EXPECT_EQ(hak_calloc(n, s), nullptr);
    EXPECT_EQ(errno, ENOMEM);
  }
}

TEST_F(ApiTest, FreeNullAndFreePreserveErrno) {
  errno = 1234;
  hak_free(nullptr);
  EXPECT_EQ(errno, 1234);
  for (size_t n : {(size_t)16, 8 * kMiB}) {
    void* p = hak_alloc_at(n, 1);
    errno = 4321;
    hak_free(p);
    EXPECT_EQ(errno, 4321) << n;
  }
}

TEST_F(ApiTest, AlignedAllocEveryPowerOfTwo) {
  for (size_t align = 1; align <= 2 * kMiB; align <<= 1) {
    for (size_t size : {(size_t)1, (size_t)100, 5000 * (size_t)1, Threshold() - 1, Threshold(), 3 * kMiB}) {
      void* p = hak_aligned_alloc(align, size);
      ASSERT_NE(p, nullptr) << align << " " << size;
      EXPECT_EQ((uintptr_t)p % align, 0u) << align << " " << size;
      EXPECT_EQ((uintptr_t)p % 16, 0u);
      size_t usable = hak_usable_size(p);
      EXPECT_GE(usable, size);
      memset(p, 0xa5, usable);  // the whole usable size is writable
      hak_free(p);
    }
  }
}

TEST_F(ApiTest, AlignedAllocRejectsNonPowersOfTwo) {
  for (size_t bad : {(size_t)0, (size_t)3, (size_t)24, (size_t)4097, SIZE_MAX}) {
    errno = 0;
    EXPECT_EQ(hak_aligned_alloc(bad, 64), nullptr) << bad;
    EXPECT_EQ(errno, EINVAL) << bad;
  }
}

TEST_F(ApiTest, UsableSizeCoversTheRequestEverywhere) {
  EXPECT_EQ(hak_usable_size(nullptr), 0u);
  for (size_t n = 0; n < 64 * kMiB; n = n * 3 / 2 + 7) {
    void* p = hak_alloc_at(n, 9);
    ASSERT_NE(p, nullptr) << n;
    size_t u = hak_usable_size(p);
    EXPECT_GE(u, n);
    if (n >= Threshold()) EXPECT_LE(u - n, n / 4 + 4096) << "large waste at " << n;
    FillSparse(p, u, (uint32_t)n);
    EXPECT_TRUE(CheckSparse(p, u, (uint32_t)n));
    hak_free(p);
  }
}

TEST_F(ApiTest, ReallocNullAndZero) {
  void* p = hak_realloc(nullptr, 100);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(hak_realloc(p, 0), nullptr);  // glibc: frees, returns NULL
  void* q = hak_realloc(nullptr, 4 * kMiB);
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(hak_realloc(q, 0), nullptr);
}

TEST_F(ApiTest, ReallocFailureLeavesTheBlockIntact) {
  for (size_t n : {(size_t)64, 2 * kMiB}) {
    void* p = hak_alloc_at(n, 1);
    Fill(p, n, 5);
    errno = 0;
    EXPECT_EQ(hak_realloc(p, SIZE_MAX), nullptr);
    EXPECT_EQ(errno, ENOMEM);
    EXPECT_EQ(hak_realloc(p, (size_t)PTRDIFF_MAX + 10), nullptr);
    EXPECT_TRUE(Check(p, n, 5));
    hak_free(p);
  }
}

// Contents survive every crossing of the threshold, both ways, repeatedly.
TEST_F(ApiTest, ReallocPreservesContentsAcrossTheBoundary) {
  size_t t = Threshold();
  size_t sizes[] = {1, 100, t - 1, t, t + 1, 3 * kMiB, t / 2, 17 * kMiB, 64, t + 4096, 8};
  char* p = nullptr;
  size_t have = 0;
  uint32_t id = 1;
  for (size_t n : sizes) {
    char* q = static_cast<char*>(hak_realloc(p, n));
    ASSERT_NE(q, nullptr) << n;
    size_t keep = have < n ? have : n;
    EXPECT_TRUE(Check(q, keep, id)) << "lost contents going " << have << " -> " << n;
    Fill(q, n, ++id);
    p = q;
    have = n;
  }
  hak_free(p);
}

TEST_F(ApiTest, CallocZeroesSmallAndLarge) {
  for (size_t n : {(size_t)1, (size_t)1000, Threshold(), 5 * kMiB}) {
    for (int round = 0; round < 3; round++) {
      unsigned char* p = static_cast<unsigned char*>(hak_calloc(n, 1));
      ASSERT_NE(p, nullptr);
      EXPECT_TRUE(AllZero(p, n)) << n << " round " << round;
      memset(p, 0xee, n);
      hak_free(p);
    }
  }
}

// Real calls, never tail jumps (-O1 under the sanitizers would make the
// test body the caller hak_alloc_cs sees).
__attribute__((noinline, disable_tail_calls)) void* SiteA(size_t n) { return hak_alloc_cs(n); }
__attribute__((noinline, disable_tail_calls)) void* SiteB(size_t n) { return hak_alloc_cs(n); }

TEST_F(ApiTest, AllocCsCapturesTheCallersAddress) {
  hak_site_reset();
  void* a = SiteA(2 * kMiB);
  void* b = SiteB(2 * kMiB);
  hak_large_t* ha = hak_large_lookup(a);
  hak_large_t* hb = hak_large_lookup(b);
  ASSERT_NE(ha, nullptr);
  ASSERT_NE(hb, nullptr);
  EXPECT_NE(ha->site, 0u);
  EXPECT_NE(ha->site, hb->site);
  uintptr_t addr_a = hak_site_get(ha->site)->addr;
  // The site is a return address inside SiteA.
  EXPECT_GT(addr_a, (uintptr_t)&SiteA);
  EXPECT_LT(addr_a, (uintptr_t)&SiteA + 256);
  hak_free(a);
  hak_free(b);
  // A second round from the same site reuses its block.
  void* a2 = SiteA(2 * kMiB);
  EXPECT_EQ(a2, a);
  hak_free(a2);
}

TEST_F(ApiTest, StatsStructIsVersionedAndCounts) {
  hak_stats_t s;
  ASSERT_EQ(hak_stats_get(&s, sizeof s), 0);
  EXPECT_EQ(s.version, HAK_STATS_VERSION);
  EXPECT_EQ(s.size, sizeof s);
  uint64_t before = s.large_allocs;
  void* p = hak_alloc_at(kMiB, 3);
  hak_free(p);
  ASSERT_EQ(hak_stats_get(&s, sizeof s), 0);
  EXPECT_EQ(s.large_allocs, before + 1);
  EXPECT_EQ(s.large_frees, 1u);
  EXPECT_EQ(hak_stats_get(nullptr, sizeof s), EINVAL);
  EXPECT_EQ(hak_stats_get(&s, 4), EINVAL);
  // An older, shorter struct gets only its own fields.
  struct {
    uint32_t version, size;
    uint64_t large_allocs;
    uint64_t guard;
  } old = {0, 0, 0, 0xfeed};
  ASSERT_EQ(hak_stats_get(reinterpret_cast<hak_stats_t*>(&old), 16), 0);
  EXPECT_EQ(old.large_allocs, before + 1);
  EXPECT_EQ(old.guard, 0xfeedu);
}

TEST_F(ApiTest, StatsJsonIsCompleteAndBalanced) {
  void* p = hak_alloc_at(kMiB, 0xabc0);
  hak_free(p);
  size_t need = hak_stats_json(nullptr, 0);
  std::string buf(need + 1, '\0');
  EXPECT_EQ(hak_stats_json(buf.data(), buf.size()), need);
  buf.resize(need);
  EXPECT_EQ(buf.front(), '{');
  EXPECT_EQ(buf.back(), '}');
  int depth = 0;
  bool in_str = false;
  for (char c : buf) {
    if (c == '"') in_str = !in_str;
    if (in_str) continue;
    depth += (c == '{' || c == '[') - (c == '}' || c == ']');
    ASSERT_GE(depth, 0);
  }
  EXPECT_EQ(depth, 0);
  EXPECT_FALSE(in_str);
  for (const char* key : {"\"mode\":\"BALANCED\"", "\"large_allocs\":1", "\"bigcache_hits\"", "\"LARGE_THRESHOLD\"",
                          "\"sites\":[{", "\"size_log2_hist\""})
    EXPECT_NE(buf.find(key), std::string::npos) << key;
  // Truncated output stays NUL-terminated and reports the full length.
  char small[32];
  EXPECT_EQ(hak_stats_json(small, sizeof small), need);
  EXPECT_EQ(strlen(small), sizeof small - 1);
}

TEST_F(ApiTest, ModeNames) {
  EXPECT_STREQ(hak_mode_name(HAK_MODE_MINIMAL), "MINIMAL");
  EXPECT_STREQ(hak_mode_name(HAK_MODE_BALANCED), "BALANCED");
  EXPECT_STREQ(hak_mode_name((hak_mode_t)99), "UNKNOWN");
  EXPECT_EQ(hak_mode_get(), HAK_MODE_BALANCED);
}

TEST_F(ApiTest, InitAndShutdownAreIdempotentAndTheAllocatorKeepsWorking) {
  hak_init();
  hak_init();
  void* p = hak_alloc_at(3 * kMiB, 1);
  hak_shutdown();
  hak_shutdown();
  FillSparse(p, 3 * kMiB, 1);  // live blocks survive a shutdown
  EXPECT_TRUE(CheckSparse(p, 3 * kMiB, 1));
  hak_free(p);
  void* q = hak_alloc_at(3 * kMiB, 1);
  ASSERT_NE(q, nullptr);
  hak_free(q);
}

}  // namespace
