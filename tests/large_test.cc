// large_test.cc — the large-block engine through the public API: size
// classes, where blocks come from and go to in each mode (BigCache, spare
// pool, fresh mmap, munmap), the HOT/WARM/COLD free policy, THP advice (all
// checked through the OS seam, never by timing), zeroing of recycled
// blocks, realloc in place / by moving pages / by copying, misuse, and
// refused system calls (the seam's failures: nothing lost, the map right).
#include <sys/mman.h>
#include <sys/resource.h>

#include "tests/test_util.h"

extern "C" {
#include "hakmem/addrmap.h"
#include "hakmem/batch.h"
#include "hakmem/bigcache.h"
#include "hakmem/freepolicy.h"
#include "hakmem/large_impl.h"
#include "hakmem/spare.h"
}

namespace {

using namespace hakmem_test;

constexpr size_t kMiB = 1 << 20, kKiB = 1 << 10;

class LargeTest : public HakTest {};

// Whether the page at p is mapped: msync fails with ENOMEM on a range with
// an unmapped page, and it allocates nothing (no mapping of its own).
static bool PageMapped(const char* p) { return msync(const_cast<char*>(p), 4096, MS_ASYNC) == 0; }
static bool AnyPageMapped(const char* p, size_t len) {
  for (size_t i = 0; i < len; i += 4096)
    if (PageMapped(p + i)) return true;
  return false;
}
// Every page of [base, base + len) mapped and, by the address map, the
// block's whose header is at base: the empty string, or the first that is not.
static std::string NotAllOwned(const char* base, size_t len) {
  for (size_t i = 0; i < len; i += 4096)
    if (!PageMapped(base + i) || hak_addrmap_large_base(base + i) != base) return std::to_string(i / 1024) + " KiB in";
  return "";
}

// One call site for every calloc of a test, so BigCache can recycle.
__attribute__((noinline, disable_tail_calls)) void* Calloc(size_t n, size_t size) { return hak_calloc(n, size); }

TEST_F(LargeTest, EverySizeMapsToTheSmallestClassThatFits) {
  uint8_t prev = 0;
  for (size_t s = 1; s <= (1u << 30); s += (s < 256 * kKiB ? 4093 : s / 97 + 1)) {
    uint8_t c = hak_large_class(s);
    ASSERT_NE(c, HAK_LARGE_NO_CLASS) << s;
    ASSERT_LT(c, HAK_LARGE_CLASSES);
    size_t cap = hak_large_class_bytes(c);
    EXPECT_GE(cap, s);
    if (c > 0) EXPECT_LT(hak_large_class_bytes(c - 1), s) << "a smaller class fits " << s;
    EXPECT_GE(c, prev);
    prev = c;
    if (s > HAK_LARGE_MIN_CLASS_BYTES) EXPECT_LE(cap - s, s / 4) << "rounding waste over 25% at " << s;
    EXPECT_EQ(cap % 4096, 0u);
  }
  EXPECT_EQ(hak_large_class((1u << 30) + 1), HAK_LARGE_NO_CLASS);
  EXPECT_EQ(hak_large_class_bytes(HAK_LARGE_CLASSES - 1), 1u << 30);
  for (uint8_t c = 1; c < HAK_LARGE_CLASSES; c++) {
    EXPECT_EQ(hak_large_class(hak_large_class_bytes(c)), c);
    EXPECT_EQ(hak_large_class(hak_large_class_bytes(c - 1) + 1), c);
  }
}

TEST_F(LargeTest, FreePolicyThresholds) {
  EXPECT_EQ(hak_free_policy(512 * kKiB, kMiB, 2 * kMiB), HAK_HOT);
  EXPECT_EQ(hak_free_policy(kMiB, kMiB, 2 * kMiB), HAK_WARM);
  EXPECT_EQ(hak_free_policy(2 * kMiB - 1, kMiB, 2 * kMiB), HAK_WARM);
  EXPECT_EQ(hak_free_policy(2 * kMiB, kMiB, 2 * kMiB), HAK_COLD);
  EXPECT_EQ(hak_free_policy(8 * kMiB, 64 * kMiB, 2 * kMiB), HAK_HOT);  // hot_max wins
}

TEST_F(LargeTest, BlocksAreOwnedAlignedAndUsable) {
  void* p = hak_alloc_at(3 * kMiB, 0x1234);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ((uintptr_t)p % 16, 0u);
  hak_large_t* h = hak_large_lookup(p);
  ASSERT_NE(h, nullptr);
  EXPECT_EQ((uintptr_t)h % HAK_SEGMENT_SIZE, 0u);  // so 2 MiB-aligned for THP too
  EXPECT_GE(hak_usable_size(p), 3 * kMiB);
  memset(p, 0x5a, hak_usable_size(p));
  int local = 0;
  EXPECT_EQ(hak_large_lookup(&local), nullptr);
  void* g = malloc(100);
  EXPECT_EQ(hak_large_lookup(g), nullptr);
  free(g);
  hak_free(p);
}

TEST_F(LargeTest, MinimalMapsEveryBlockAndUnmapsOnFree) {
  UseMode(HAK_MODE_MINIMAL);
  rec_.Attach();
  for (int i = 0; i < 5; i++) {
    void* p = hak_alloc_at(2 * kMiB, 1);
    ASSERT_NE(p, nullptr);
    FillSparse(p, 2 * kMiB, i);
    hak_free(p);
  }
  EXPECT_EQ(rec_.Count(HAK_OS_MAP), 5u);
  EXPECT_EQ(rec_.Count(HAK_OS_UNMAP), 5u);
  EXPECT_EQ(rec_.CountAdvice(HAK_ADVISE_NOHUGEPAGE), 5u);  // THP off
  EXPECT_EQ(rec_.CountAdvice(HAK_ADVISE_HUGEPAGE), 0u);
  EXPECT_EQ(Stat(HAK_STAT_bigcache_hits), 0u);
}

TEST_F(LargeTest, BalancedReusesTheSameBlockForTheSameSite) {
  void* p = hak_alloc_at(2 * kMiB, 42);
  hak_free(p);
  rec_.Attach();
  for (int i = 0; i < 100; i++) {
    void* q = hak_alloc_at(2 * kMiB, 42);
    EXPECT_EQ(q, p);
    FillSparse(q, 2 * kMiB, i);
    hak_free(q);
  }
  EXPECT_EQ(rec_.Count(HAK_OS_MAP), 0u);  // no system call at all
  EXPECT_EQ(rec_.Count(HAK_OS_ADVISE), 0u);
  EXPECT_EQ(Stat(HAK_STAT_bigcache_hits), 100u);
}

TEST_F(LargeTest, ASitesFirstFreeUnmapsItsBlockAndLaterOnesAreCached) {
  hak_large_set_freed_before(false);  // as at start-up
  void* p = hak_alloc_at(2 * kMiB, 43);
  hak_large_t* h = hak_large_lookup(p);
  ASSERT_NE(h, nullptr);
  size_t map = h->map_len;
  hak_site_id_t site = h->site;
  uintptr_t base = reinterpret_cast<uintptr_t>(h);
  rec_.Attach();
  hak_free(p);
  // Gone at once: a use after free faults, as under glibc.
  ASSERT_EQ(rec_.Count(HAK_OS_UNMAP), 1u);
  for (auto& c : rec_.Calls())
    if (c.call == HAK_OS_UNMAP) {
      EXPECT_EQ(c.addr, base);
      EXPECT_EQ(c.len, map);
    }
  EXPECT_EQ(hak_bigcache_site_bytes(site), 0u);
  EXPECT_EQ(hak_large_site_resident(site), 0u);
  EXPECT_TRUE(hak_large_gone(p));  // a second free is told from a foreign pointer
  EXPECT_FALSE(hak_large_gone(static_cast<char*>(p) + 16));
  void* other = hak_alloc_at(2 * kMiB, 44);  // another site: its own first free unmaps too
  hak_free(other);
  EXPECT_EQ(rec_.Count(HAK_OS_UNMAP), 2u);
  // From the second free on, the site's how decides: BigCache keeps the block.
  void* q = hak_alloc_at(2 * kMiB, 43);
  size_t qmap = hak_large_lookup(q)->map_len;
  hak_free(q);
  EXPECT_EQ(rec_.Count(HAK_OS_UNMAP), 2u);
  EXPECT_EQ(hak_bigcache_site_bytes(site), qmap);
  EXPECT_EQ(hak_alloc_at(2 * kMiB, 43), q);
  hak_free(q);
}

TEST_F(LargeTest, ASecondFreeOfAnUnmappedBlockAbortsAsADoubleFree) {
  hak_large_set_freed_before(false);
  void* p = hak_alloc_at(2 * kMiB, 45);
  hak_free(p);  // the site's first: unmapped
  EXPECT_DEATH(hak_free(p), DoubleFree(p) + " \\(its large block was given back to the OS\\)");
  void* q = hak_alloc_at(2 * kMiB, 45);
  EXPECT_DEATH(hak_free(static_cast<char*>(q) + 4 * kMiB), "invalid pointer");  // never handed out
  hak_free(q);
}

TEST_F(LargeTest, DifferentSitesDoNotShareRingsButShareSpares) {
  SetOption(HAK_OPT_BIGCACHE_SLOTS, 1);
  void* a = hak_alloc_at(600 * kKiB, 1);
  void* a2 = hak_alloc_at(600 * kKiB, 1);
  hak_free(a);
  hak_free(a2);  // ring of site 1 holds one: the other becomes a HOT spare
  EXPECT_EQ(hak_spare_bytes(), hak_large_class_bytes(hak_large_class(600 * kKiB + HAK_LARGE_HDR)));
  void* b = hak_alloc_at(600 * kKiB, 2);  // site 2: no ring hit, the spare serves it
  EXPECT_TRUE(b == a || b == a2);
  EXPECT_EQ(Stat(HAK_STAT_spare_hits), 1u);
  EXPECT_EQ(Stat(HAK_STAT_bigcache_hits), 0u);
  void* c = hak_alloc_at(600 * kKiB, 1);  // site 1: its ring
  EXPECT_TRUE(c == a || c == a2);
  EXPECT_NE(b, c);
  EXPECT_EQ(Stat(HAK_STAT_bigcache_hits), 1u);
  hak_free(b);
  hak_free(c);
}

// With BigCache off every uncached free goes through the free policy (the
// size rule, at thresholds 1 MiB / 2 MiB).
TEST_F(LargeTest, ThermalPolicyHotWarmCold) {
  SetOption(HAK_OPT_BIGCACHE, 0);
  SetOption(HAK_OPT_HOT_MAX, 1 * kMiB);
  SetOption(HAK_OPT_COLD_MIN, 2 * kMiB);
  void* hot = hak_alloc_at(512 * kKiB, 1);
  void* warm = hak_alloc_at(1200 * kKiB, 1);
  void* cold = hak_alloc_at(3 * kMiB, 1);
  void* cold_header = hak_large_lookup(cold);
  rec_.Attach();
  hak_free(hot);
  EXPECT_EQ(rec_.Count(HAK_OS_ADVISE), 0u);
  hak_free(warm);
  EXPECT_EQ(rec_.AdviceCovering(HAK_ADVISE_FREE, (char*)warm + 8192), 1u);
  hak_free(cold);
  EXPECT_EQ(rec_.AdviceCovering(HAK_ADVISE_DONTNEED, (char*)cold + 8192), 0u);  // queued, not yet advised
  EXPECT_EQ(hak_batch_queued_ranges(), 1u);
  hak_batch_flush();
  EXPECT_EQ(rec_.AdviceCovering(HAK_ADVISE_DONTNEED, (char*)cold + 8192), 1u);
  // The header page is never advised: headers stay readable while FREE.
  EXPECT_EQ(rec_.AdviceCovering(HAK_ADVISE_DONTNEED, cold_header), 0u);
  EXPECT_EQ(Stat(HAK_STAT_free_hot), 1u);
  EXPECT_EQ(Stat(HAK_STAT_free_warm), 1u);
  EXPECT_EQ(Stat(HAK_STAT_free_cold), 1u);
  EXPECT_EQ(Stat(HAK_STAT_free_unmapped), 0u);  // (os_unmaps counts sanitizer builds' trims)
  EXPECT_TRUE(hak_spare_is_valid());
}

TEST_F(LargeTest, ColdSpareReusedBeforeFlushIsNeverAdvised) {
  SetOption(HAK_OPT_BIGCACHE, 0);
  SetOption(HAK_OPT_HOT_MAX, 1 * kMiB);  // 4 MiB goes COLD
  SetOption(HAK_OPT_COLD_MIN, 2 * kMiB);
  void* p = hak_alloc_at(4 * kMiB, 1);
  FillSparse(p, 4 * kMiB, 7);
  rec_.Attach();
  hak_free(p);
  void* q = hak_alloc_at(4 * kMiB, 2);
  ASSERT_EQ(q, p);
  hak_batch_flush();
  EXPECT_EQ(rec_.AdviceCovering(HAK_ADVISE_DONTNEED, (char*)q + 8192), 0u);
  EXPECT_TRUE(CheckSparse(q, 4 * kMiB, 7));  // contents untouched: it was never advised
  EXPECT_EQ(Stat(HAK_STAT_batch_cancelled), 1u);
  hak_free(q);
}

TEST_F(LargeTest, FreePolicyOffUnmapsUncachedBlocks) {
  SetOption(HAK_OPT_BIGCACHE, 0);
  SetOption(HAK_OPT_FREE_POLICY, 0);
  void* p = hak_alloc_at(kMiB, 1);
  rec_.Attach();
  hak_free(p);
  EXPECT_EQ(rec_.Count(HAK_OS_UNMAP), 1u);
  EXPECT_EQ(hak_addrmap_get(p), 0u);
}

TEST_F(LargeTest, ThpAdviceFollowsTheOption) {
  struct Case {
    hak_thp_t thp;
    size_t size;
    hak_advice_t expect;
    bool advised;
  } cases[] = {
      {HAK_THP_AUTO, 3 * kMiB, HAK_ADVISE_HUGEPAGE, true},  {HAK_THP_AUTO, 700 * kKiB, HAK_ADVISE_HUGEPAGE, false},
      {HAK_THP_ON, 700 * kKiB, HAK_ADVISE_HUGEPAGE, true},  {HAK_THP_OFF, 3 * kMiB, HAK_ADVISE_NOHUGEPAGE, true},
  };
  for (const Case& c : cases) {
    hak_trim();
    SetOption(HAK_OPT_THP, c.thp);
    rec_.Clear();
    rec_.Attach();
    void* p = hak_alloc_at(c.size, 77);
    rec_.Detach();
    ASSERT_NE(p, nullptr);
    hak_large_t* h = hak_large_lookup(p);
    EXPECT_EQ(rec_.AdviceCovering(c.expect, h), c.advised ? 1u : 0u) << c.thp << " " << c.size;
    if (c.advised) EXPECT_EQ((uintptr_t)h % (2 * kMiB), 0u);
    hak_free(p);
  }
}

TEST_F(LargeTest, CallocIsZeroFromEverySource) {
  // Fresh, from BigCache (dirty), from a HOT spare, from a COLD spare after
  // its flush (DONTNEED'd) and before it (taken back, dirty).
  for (int round = 0; round < 4; round++) {
    hak_trim();
    UseMode(HAK_MODE_BALANCED);
    if (round >= 1) SetOption(HAK_OPT_BIGCACHE, round == 1 ? 1 : 0);
    size_t n = round == 2 ? 512 * kKiB : 3 * kMiB;
    unsigned char* p = static_cast<unsigned char*>(Calloc(1, n));
    ASSERT_TRUE(AllZero(p, n));
    memset(p, 0xff, n);
    hak_free(p);
    if (round == 3) hak_batch_flush();
    unsigned char* q = static_cast<unsigned char*>(Calloc(n / 8, 8));
    EXPECT_EQ(q, p) << "round " << round << " did not recycle";
    EXPECT_TRUE(AllZero(q, n)) << "round " << round;
    hak_free(q);
  }
}

TEST_F(LargeTest, CacheCapsAndAgeReturnMemory) {
  SetOption(HAK_OPT_BIGCACHE_MAX_BYTES, 16 * kMiB);
  SetOption(HAK_OPT_FREE_POLICY, 0);
  std::vector<void*> v;
  for (int i = 0; i < 10; i++) v.push_back(hak_alloc_at(3 * kMiB, 100 + i));
  for (void* p : v) hak_free(p);
  EXPECT_LE(hak_bigcache_bytes(), 16 * kMiB);
  EXPECT_GT(Stat(HAK_STAT_free_unmapped), 0u);
  EXPECT_TRUE(hak_bigcache_is_valid());
  // Age: with a hand-moved clock, the next large call gives the rest back.
  static uint64_t fake_now;
  fake_now = hak_os_now_ms();
  rec_.hooks().now_ms = [](void*) -> uint64_t { return fake_now; };
  rec_.Attach();
  fake_now += 10 * 1000;
  void* p = hak_alloc_at(300 * kKiB, 5);
  EXPECT_EQ(hak_bigcache_count(), 0u);
  hak_free(p);
}

TEST_F(LargeTest, TrimReleasesEverything) {
  std::vector<void*> v;
  for (int i = 0; i < 8; i++) v.push_back(hak_alloc_at((1 + i) * kMiB, 9));
  for (void* p : v) hak_free(p);
  EXPECT_GT(hak_bigcache_bytes() + hak_spare_bytes(), 0u);
  EXPECT_GT(hak_trim(), 0u);
  EXPECT_EQ(hak_bigcache_bytes(), 0u);
  EXPECT_EQ(hak_spare_bytes(), 0u);
  EXPECT_EQ(hak_batch_queued_ranges(), 0u);
  EXPECT_EQ(Stat(HAK_STAT_os_bytes_mapped), 0u);
}

TEST_F(LargeTest, ReallocGrowsInPlaceMovesPagesOrCopies) {
  char* p = static_cast<char*>(hak_alloc_at(300 * kKiB, 3));
  Fill(p, 300 * kKiB, 1);
  // Within the block's class: same pointer.
  char* q = static_cast<char*>(hak_realloc(p, 310 * kKiB));
  EXPECT_EQ(q, p);
  EXPECT_TRUE(Check(q, 300 * kKiB, 1));
  // Growing far: in place or by moving pages, never by copying.
  size_t n = 300 * kKiB;
  for (size_t target : {3 * kMiB, 9 * kMiB, 40 * kMiB}) {
    q = static_cast<char*>(hak_realloc(q, target));
    ASSERT_NE(q, nullptr);
    EXPECT_TRUE(Check(q, n, 1)) << target;
    EXPECT_GE(hak_usable_size(q), target);
    n = target;
    Fill(q, n, 1);
  }
  EXPECT_EQ(Stat(HAK_STAT_realloc_copied), 0u);
  EXPECT_GE(Stat(HAK_STAT_realloc_in_place) + Stat(HAK_STAT_realloc_remapped), 4u);
  // Shrinking keeps the block.
  char* s = static_cast<char*>(hak_realloc(q, 500 * kKiB));
  EXPECT_EQ(s, q);
  EXPECT_TRUE(Check(s, 500 * kKiB, 1));
  // Failing mremap (seam) falls back to a copy and keeps contents.
  rec_.hooks().fail_every[HAK_OS_REMAP] = 1;
  rec_.Attach();
  char* t = static_cast<char*>(hak_realloc(s, 64 * kMiB));
  ASSERT_NE(t, nullptr);
  EXPECT_TRUE(Check(t, 500 * kKiB, 1));
  EXPECT_EQ(Stat(HAK_STAT_realloc_copied), 1u);
  hak_free(t);
}

// A freed block the kernel refuses to unmap (every munmap refused, as at
// vm.max_map_count) stays hakmem's: mapped, in the address map as a FREE
// block (a second free aborts as one), held; a trim while the refusals
// last neither hangs nor loses it, the first trim after unmaps it.
TEST_F(LargeTest, ARefusedUnmapHoldsTheBlockUntilATrimUnmapsIt) {
  SetOption(HAK_OPT_BIGCACHE, 0);
  SetOption(HAK_OPT_FREE_POLICY, 0);  // every free unmaps
  char* p = static_cast<char*>(hak_alloc_at(6 * kMiB, 1));
  ASSERT_NE(p, nullptr);
  char* base = reinterpret_cast<char*>(hak_large_lookup(p));
  size_t len = hak_large_lookup(p)->map_len;
  rec_.hooks().fail_every[HAK_OS_UNMAP] = 1;
  rec_.Attach();
  hak_free(p);
  hak_trim();
  rec_.Detach();
  EXPECT_GE(rec_.Count(HAK_OS_UNMAP), 2u);  // refused at the free, then at the trim
  EXPECT_EQ(hak_large_held_bytes(), len);
  EXPECT_EQ(Stat(HAK_STAT_os_bytes_mapped), len);
  EXPECT_EQ(NotAllOwned(base, len), "");
  EXPECT_DEATH(hak_free(p), "double free of large block " + Hex(p));
  hak_trim();
  EXPECT_EQ(hak_large_held_bytes(), 0u);
  EXPECT_EQ(Stat(HAK_STAT_os_bytes_mapped), 0u);
  EXPECT_FALSE(AnyPageMapped(base, len));
  EXPECT_EQ(hak_addrmap_get(base), 0u);
}

TEST_F(LargeTest, MapFailureIsCleanAndRecoverable) {
  SetOption(HAK_OPT_BIGCACHE, 0);
  SetOption(HAK_OPT_FREE_POLICY, 0);
  rec_.hooks().fail_every[HAK_OS_MAP] = 1;
  rec_.Attach();
  errno = 0;
  EXPECT_EQ(hak_alloc_at(5 * kMiB, 1), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  EXPECT_EQ(hak_calloc(1, 5 * kMiB), nullptr);
  EXPECT_EQ(hak_alloc_at(64 * kMiB, 1), nullptr);
  rec_.Detach();
  void* ok = hak_alloc_at(5 * kMiB, 1);
  ASSERT_NE(ok, nullptr);
  hak_free(ok);
  EXPECT_EQ(Stat(HAK_STAT_os_bytes_mapped), 0u);
}

TEST_F(LargeTest, AlignedLargeBlocks) {
  for (size_t align : {(size_t)64, (size_t)4096, 64 * kKiB, 2 * kMiB, 8 * kMiB, 64 * kMiB}) {
    void* p = hak_aligned_alloc(align, kMiB);
    ASSERT_NE(p, nullptr) << align;
    EXPECT_EQ((uintptr_t)p % align, 0u) << align;
    EXPECT_EQ(hak_large_lookup(p) != nullptr, true);
    memset(p, 1, hak_usable_size(p));
    hak_free(p);
  }
}

// Above 256 MiB too (glibc serves them): the mapping costs one slot more
// than the request, not the alignment.
TEST_F(LargeTest, HugeAlignmentsAreServed) {
  for (size_t shift = 28; shift <= 40; shift += 3) {
    size_t align = (size_t)1 << shift;
    for (size_t size : {(size_t)16, 300 * kKiB}) {
      char* p = static_cast<char*>(hak_aligned_alloc(align, size));
      ASSERT_NE(p, nullptr) << align;
      EXPECT_EQ((uintptr_t)p % align, 0u) << align;
      hak_large_t* h = hak_large_lookup(p);
      ASSERT_NE(h, nullptr);
      EXPECT_LE(h->map_len, HAK_SEGMENT_SIZE + size + kMiB) << align;
      memset(p, 7, hak_usable_size(p));
      hak_free(p);
    }
  }
}

// The process's size in bytes of address space (VmSize), or 0.
static size_t address_space_bytes() {
  FILE* f = fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  size_t kb = 0;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "VmSize: %zu kB", &kb) == 1) break;
  fclose(f);
  return kb << 10;
}

// An alignment whose len + align reservation the address space cannot hold,
// while an aligned place with room for the block is free: the search through
// the holes between mappings serves it (the hints do too where they are on;
// sanitizer builds have none, and a 1 TiB alignment under ThreadSanitizer is
// this case whenever ASLR puts the libraries low).
static void map_huge_alignment_under_a_tight_limit() {
  const size_t align = (size_t)4 << 30;
  size_t vm = address_space_bytes();
  if (!vm) _exit(3);
  struct rlimit lim = {vm + 256 * kMiB, RLIM_INFINITY};
  if (setrlimit(RLIMIT_AS, &lim) != 0) _exit(4);
  char* p = static_cast<char*>(hak_aligned_alloc(align, 16));
  if (!p) _exit(5);
  if ((uintptr_t)p % align) _exit(6);
  memset(p, 1, 16);
  hak_free(p);
  _exit(0);
}

TEST_F(LargeTest, HugeAlignmentServedWhenItsReservationCannotBe) {
  EXPECT_EXIT(map_huge_alignment_under_a_tight_limit(), ::testing::ExitedWithCode(0), "");
}

using LargeDeathTest = LargeTest;

// The word before a large block's pointer is a canary free and realloc
// check: an underflow of one byte, or of 32 by memcpy, aborts there.
TEST_F(LargeDeathTest, UnderflowAbortsAtFreeAndRealloc) {
  for (size_t size : {300 * kKiB, 8 * kMiB}) {
    char* p = static_cast<char*>(hak_alloc_at(size, 1));
    ASSERT_NE(p, nullptr);
    p[-1] ^= 1;
    EXPECT_DEATH(hak_free(p), "underflow");
    p[-1] ^= 1;
    char junk[32];
    memset(junk, 0x41, sizeof junk);
    char saved[32];
    memcpy(saved, p - 32, 32);
    memcpy(p - 32, junk, 32);
    EXPECT_DEATH(hak_realloc(p, 2 * size), "underflow");
    memcpy(p - 32, saved, 32);
    hak_free(p);  // restored: a clean free
  }
}

// Moved pages keep a valid canary (it names the pointer); so do reused blocks.
TEST_F(LargeTest, CanarySurvivesMovesAndReuse) {
  for (int i = 0; i < 64; i++) {
    char* p = static_cast<char*>(hak_alloc_at((size_t)(1 + i % 7) * kMiB, 1 + i % 3));
    ASSERT_NE(p, nullptr);
    p = static_cast<char*>(hak_realloc(p, (size_t)(9 + i % 13) * kMiB));
    ASSERT_NE(p, nullptr);
    p = static_cast<char*>(hak_realloc(p, (size_t)(1 + i % 5) * 300 * kKiB));
    ASSERT_NE(p, nullptr);
    hak_free(p);
  }
}

TEST_F(LargeDeathTest, DoubleFreeAbortsWithAMessage) {
  void* p = hak_alloc_at(kMiB, 1);
  hak_free(p);
  EXPECT_DEATH(hak_free(p), "double free");
}

// A freed block may be in BigCache: resizing it would hand it out twice.
TEST_F(LargeDeathTest, ReallocOfAFreedBlockAborts) {
  void* p = hak_alloc_at(kMiB, 1);
  hak_free(p);
  EXPECT_DEATH(hak_realloc(p, 2 * kMiB), "realloc of a freed block");
}

TEST_F(LargeDeathTest, InteriorPointerAbortsWithAMessage) {
  char* p = static_cast<char*>(hak_alloc_at(kMiB, 1));
  EXPECT_DEATH(hak_free(p + 4096), "invalid pointer");
  EXPECT_DEATH(hak_free(p + 8), "invalid pointer");
  hak_free(p);
}

// The fit rule (large.c): resident spares serve other sizes. Every free is a
// HOT spare here (no BigCache, HOT_MAX above every size).
class LargeFitTest : public LargeTest {
 protected:
  void SetUp() override {
    LargeTest::SetUp();
    SetOption(HAK_OPT_BIGCACHE, 0);
    SetOption(HAK_OPT_HOT_MAX, 1ull << 36);
    SetOption(HAK_OPT_COLD_MIN, 1ull << 36);
  }
  static size_t ClassMap(size_t size) { return hak_large_class_bytes(hak_large_class(size + HAK_LARGE_HDR)); }
  // Every mremap and munmap refused from here on (as at vm.max_map_count): no cut, no move.
  void RefuseRemapsAndUnmaps() {
    rec_.hooks().fail_every[HAK_OS_REMAP] = 1;
    rec_.hooks().fail_every[HAK_OS_UNMAP] = 1;
    rec_.Attach();
  }
  // With the refusals over, q freed and a trim give back every byte of [base, base + len).
  static void ExpectFreeAndTrimGiveAllBack(void* q, const char* base, size_t len) {
    hak_free(q);
    hak_trim();
    EXPECT_FALSE(AnyPageMapped(base, len));
    EXPECT_EQ(hak_spare_bytes(), 0u);
    EXPECT_EQ(Stat(HAK_STAT_os_bytes_mapped), 0u);
  }
  static void* Alloc(size_t size, bool zero = false, size_t* fresh = nullptr) {
    return hak_large_alloc_ex(size, 0, 5, zero, HAK_LARGE_HOW_DEFAULT, fresh);
  }
  // A block of `first` bytes, filled and freed (a HOT spare), then a request
  // of `second` bytes (system calls recorded from there on): the block that
  // serves it, which must be the same (its pointer's random offset may move).
  hak_large_t* Reuse(size_t first, size_t second, void** p, void** q, size_t* fresh) {
    *p = Alloc(first);
    FillSparse(*p, first, 3);
    hak_free(*p);
    rec_.Attach();
    hak_large_t* old = hak_large_lookup(*p);
    *q = Alloc(second, false, fresh);
    hak_large_t* h = hak_large_lookup(*q);
    EXPECT_EQ(h, old);
    return h;
  }
};

TEST_F(LargeFitTest, AResidentSpareWithinTheSlackServesAsItIs) {
  void* p = Alloc(4 * kMiB + 100 * kKiB);  // class 5 MiB
  ASSERT_EQ(hak_large_lookup(p)->map_len, 5 * kMiB);
  hak_free(p);
  rec_.Attach();
  size_t fresh = 1;
  void* q = Alloc(4 * kMiB - 4 * kKiB, false, &fresh);  // class 4 MiB: 5 <= 4 + max(4/4, 256 KiB)
  EXPECT_EQ(q, p);  // the pointer's random offset still fits: kept
  EXPECT_EQ(hak_large_lookup(q)->map_len, 5 * kMiB);
  EXPECT_EQ(fresh, 0u);  // resident: nothing faults
  EXPECT_EQ(rec_.Calls().size(), 0u);
  hak_free(q);
}

// A larger spare keeps what the request needs up to a slot boundary; the
// rest, resident, becomes a spare of its own right after it, which serves
// the next request with no fault; freed, the two join again.
TEST_F(LargeFitTest, ALargerResidentSpareIsSplitAndJoinsAgain) {
  void *p, *q;
  size_t fresh = 1;
  hak_large_t* h = Reuse(15 * kMiB, 5 * kMiB - 4 * kKiB, &p, &q, &fresh);  // class 16 MiB for class 5 MiB
  hak_large_t* old = h;
  EXPECT_EQ(h->map_len, 8 * kMiB);  // the smallest class of at least 5 MiB that ends on a slot
  EXPECT_EQ(h->cls, hak_large_class(h->map_len));
  EXPECT_EQ(fresh, 0u);
  EXPECT_EQ(rec_.Calls().size(), 0u);  // bookkeeping only: no mmap, no munmap
  char* tail = reinterpret_cast<char*>(old) + 8 * kMiB;
  EXPECT_EQ(hak_addrmap_large_base(tail + kMiB), tail);  // the rest is a block of its own
  EXPECT_EQ(hak_large_site_resident(5), 16 * kMiB);  // 8 live + an 8 MiB HOT spare
  EXPECT_EQ(static_cast<unsigned char*>(p)[4096], static_cast<unsigned char>(1 + 3));  // the resident head (p: still in the block)
  void* r = Alloc(7 * kMiB, false, &fresh);  // class 8 MiB: the tail, resident
  EXPECT_EQ(reinterpret_cast<char*>(hak_large_lookup(r)), tail);
  EXPECT_EQ(fresh, 0u);
  EXPECT_EQ(rec_.Calls().size(), 0u);
  hak_free(q);
  hak_free(r);  // joins the spare before it: one 16 MiB spare again
  EXPECT_EQ(hak_addrmap_large_base(tail + kMiB), reinterpret_cast<char*>(old));
  void* s = Alloc(15 * kMiB, false, &fresh);
  EXPECT_EQ(hak_large_lookup(s), old);
  EXPECT_EQ(hak_large_lookup(s)->map_len, 16 * kMiB);
  EXPECT_EQ(fresh, 0u);
  EXPECT_EQ(rec_.Count(HAK_OS_MAP), 0u);
  EXPECT_EQ(hak_large_site_resident(5), 16 * kMiB);
  hak_free(s);
}

// A rest too small to hold a slot-aligned spare after the block is given
// back when it is a slot or more: the block is cut to the request's class.
TEST_F(LargeFitTest, ALargerResidentSpareIsCutWhenItsRestHoldsNoSpare) {
  void *p, *q;
  size_t fresh = 1;
  // Class 10 MiB (8 + 2: no room for a spare after 8) for class 5 MiB.
  hak_large_t* h = Reuse(10 * kMiB - 4 * kKiB, 5 * kMiB - 4 * kKiB, &p, &q, &fresh);
  hak_large_t* old = h;
  EXPECT_EQ(h->map_len, ClassMap(5 * kMiB - 4 * kKiB));
  EXPECT_EQ(h->cls, hak_large_class(h->map_len));
  EXPECT_EQ(fresh, 0u);
  EXPECT_EQ(rec_.Count(HAK_OS_MAP), 0u);
  EXPECT_EQ(hak_addrmap_get(reinterpret_cast<char*>(old) + 9 * kMiB), 0u);  // the tail's slot is no longer the block's
  EXPECT_EQ(static_cast<unsigned char*>(p)[4096], static_cast<unsigned char>(1 + 3));
  EXPECT_EQ(hak_large_site_resident(5), h->map_len);
  hak_free(q);
}

// The same with the cut refused (every mremap and munmap): the block, a
// class's mapping, serves whole; nothing is lost or left unmarked.
TEST_F(LargeFitTest, ALargerResidentSpareServesWholeWhenItsCutIsRefused) {
  void* p = Alloc(10 * kMiB - 4 * kKiB);  // class 10 MiB for class 5 MiB: a cut, no spare
  char* base = reinterpret_cast<char*>(hak_large_lookup(p));
  hak_free(p);
  RefuseRemapsAndUnmaps();
  char* q = static_cast<char*>(Alloc(5 * kMiB - 4 * kKiB));
  rec_.Detach();
  ASSERT_NE(q, nullptr);
  hak_large_t* h = hak_large_lookup(q);
  ASSERT_EQ(reinterpret_cast<char*>(h), base);
  EXPECT_GT(rec_.Count(HAK_OS_UNMAP), 0u);  // the cut was tried
  EXPECT_EQ(h->map_len, 10 * kMiB);
  EXPECT_EQ(h->cls, hak_large_class(10 * kMiB));
  EXPECT_EQ(NotAllOwned(base, 10 * kMiB), "");
  EXPECT_EQ(Stat(HAK_STAT_os_bytes_mapped), 10 * kMiB);
  EXPECT_EQ(q + hak_usable_size(q), base + 10 * kMiB);
  memset(q, 0x3c, hak_usable_size(q));
  ExpectFreeAndTrimGiveAllBack(q, base, 10 * kMiB);
}

// A joined spare's mapping need not be a class's (hak_large_coalesce).
// Fitted for a request that leaves no spare to split off, it is cut to a
// class; that cut refused, it cannot serve (a live block's mapping is its
// class's): hak_large_fit refuses it, back to the pool, whole, mapped and
// marked, and the next request that takes it, the cut allowed, is served.
TEST_F(LargeFitTest, AJoinedSpareWhoseCutIsRefusedGoesBackToThePool) {
  void* p = Alloc(16 * kMiB - 4 * kKiB);
  char* base = reinterpret_cast<char*>(hak_large_lookup(p));
  hak_free(p);
  hak_spare_node_t* n = hak_spare_get_resident(0, HAK_LARGE_CLASSES - 1, false);
  ASSERT_NE(n, nullptr);
  hak_large_t* h = hak_large_from_node(n);
  ASSERT_EQ(reinterpret_cast<char*>(h), base);
  ASSERT_TRUE(hak_large_cut(h, 13 * kMiB, hak_large_class(12 * kMiB)));  // a joined spare's shape
  RefuseRemapsAndUnmaps();
  EXPECT_FALSE(hak_large_fit(h, 10 * kMiB, hak_os_now_ms()));  // class 10 MiB: keeps 12, no spare after it
  rec_.Detach();
  EXPECT_GT(rec_.Count(HAK_OS_UNMAP), 0u);  // the cut was tried
  EXPECT_EQ(hak_spare_bytes(), 13 * kMiB);
  EXPECT_EQ(Stat(HAK_STAT_os_bytes_mapped), 13 * kMiB);
  EXPECT_EQ(NotAllOwned(base, 13 * kMiB), "");
  void* q = Alloc(10 * kMiB - 4 * kKiB);
  ASSERT_EQ(reinterpret_cast<char*>(hak_large_lookup(q)), base);
  EXPECT_EQ(hak_large_lookup(q)->map_len, 12 * kMiB);
  memset(q, 0x11, hak_usable_size(q));
  ExpectFreeAndTrimGiveAllBack(q, base, 16 * kMiB);
}

TEST_F(LargeFitTest, ATailUnderASlotStaysWithTheBlock) {
  void* p = Alloc(2 * kMiB - 4 * kKiB);  // class 2 MiB
  hak_free(p);
  rec_.Attach();
  void* q = Alloc(600 * kKiB);  // far past the slack, but the tail is under 4 MiB
  EXPECT_EQ(q, p);
  EXPECT_EQ(hak_large_lookup(q)->map_len, 2 * kMiB);
  EXPECT_EQ(rec_.Calls().size(), 0u);  // not cut: no system call
  hak_free(q);
}

TEST_F(LargeFitTest, ASmallerResidentSpareGrowsAndKeepsItsPages) {
  void* p = Alloc(8 * kMiB - 4 * kKiB);  // class 8 MiB
  FillSparse(p, 8 * kMiB - 4 * kKiB, 9);
  hak_free(p);
  size_t fresh = 0;
  void* q = Alloc(12 * kMiB - 4 * kKiB, false, &fresh);  // class 12 MiB
  ASSERT_NE(q, nullptr);
  hak_large_t* h = hak_large_lookup(q);
  EXPECT_EQ(h->map_len, 12 * kMiB);
  size_t off = static_cast<size_t>(static_cast<char*>(q) - reinterpret_cast<char*>(h));  // random, within the slot
  EXPECT_EQ(fresh, (12 * kMiB - 4 * kKiB) - (8 * kMiB - off));  // only the growth faults
  // The old pages moved with the block: its contents are still there.
  auto* b = static_cast<unsigned char*>(q);
  for (size_t i = 0; i + 1 < 8 * kMiB - 4 * kKiB; i += 4096) ASSERT_EQ(b[i], static_cast<unsigned char>(i / 4096 + 9));
  memset(q, 1, 12 * kMiB - 4 * kKiB);
  hak_free(q);
  void* z = Alloc(4 * kMiB, true);  // calloc on a cut, dirty spare: zero everywhere
  for (size_t i = 0; i < 4 * kMiB; i += 512) ASSERT_EQ(static_cast<unsigned char*>(z)[i], 0u) << i;
  hak_free(z);
  EXPECT_TRUE(hak_spare_is_valid());
}

// A smaller spare grown for a request takes the pages of another resident
// spare into what it gains (moved, not faulted); a fresh block takes those
// of spares no step could use. Contents move with the pages.
TEST_F(LargeFitTest, GrowthAndFreshBlocksTakeOtherSparesPages) {
  void* a = Alloc(8 * kMiB - 4 * kKiB);  // class 8 MiB
  void* b = Alloc(8 * kMiB - 4 * kKiB);
  memset(a, 0xa1, 8 * kMiB - 4 * kKiB);
  memset(b, 0xb2, 8 * kMiB - 4 * kKiB);
  hak_free(a);
  hak_free(b);
  size_t fresh = 1;
  void* q = Alloc(16 * kMiB - 4 * kKiB, false, &fresh);  // class 16 MiB: 8 of its own, 8 moved in
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(fresh, 0u);
  EXPECT_EQ(hak_large_lookup(q)->map_len, 16 * kMiB);
  EXPECT_EQ(hak_spare_resident_bytes(), 0u);  // both spares are in the block now
  auto* base = reinterpret_cast<unsigned char*>(hak_large_lookup(q));
  unsigned first = base[6 * kMiB], second = base[14 * kMiB];  // one spare's pages in each half
  EXPECT_TRUE((first == 0xa1 && second == 0xb2) || (first == 0xb2 && second == 0xa1)) << first << " " << second;
  memset(q, 5, 16 * kMiB - 4 * kKiB);
  hak_free(q);
  // Class 40 MiB: the 16 MiB spare spans two of the kernel's mappings now,
  // so it cannot grow there (mremap); a fresh block takes its pages instead
  // (a kernel that cannot move a range across mappings faults it all in).
  void* c = Alloc(40 * kMiB, false, &fresh);
  ASSERT_NE(c, nullptr);
  auto* cb = reinterpret_cast<unsigned char*>(hak_large_lookup(c));
  if (fresh != 40 * kMiB) {
    EXPECT_EQ(fresh, 40 * kMiB - 16 * kMiB + static_cast<size_t>(static_cast<unsigned char*>(c) - cb));
    EXPECT_EQ(cb[8 * kMiB], 5u);  // the spare's pages, moved to the base
  }
  EXPECT_EQ(cb[20 * kMiB], 0u);  // the rest is fresh
  memset(c, 0, 40 * kMiB);
  hak_free(c);
  EXPECT_TRUE(hak_spare_is_valid());
}

// A refused page move: hak_os_move gives the destination back itself (os.h),
// and another thread may have mapped there since, so the block the pages
// were moving into is unmapped around that range, never over it. Every
// move fails here, on both paths that move spares' pages in (a spare
// grown, a fresh block filled); the blocks still come, from fresh pages.
TEST_F(LargeFitTest, ARefusedPageMoveNeverUnmapsItsDestinationAgain) {
  void* a = Alloc(8 * kMiB - 4 * kKiB);  // class 8 MiB: donors
  void* b = Alloc(8 * kMiB - 4 * kKiB);
  void* c = Alloc(8 * kMiB - 4 * kKiB);
  // A refused grow in place is observed as a REMAP too, at the grown
  // block's own address (which stays the block's): not a move. The blocks
  // that may grow here are the spares (and q's, once freed).
  std::set<uintptr_t> blocks;
  for (void* p : {a, b, c}) blocks.insert(reinterpret_cast<uintptr_t>(hak_large_lookup(p)));
  hak_free(a);
  hak_free(b);
  hak_free(c);
  rec_.hooks().fail_every[HAK_OS_REMAP] = 1;
  rec_.Attach();
  void* q = Alloc(16 * kMiB - 4 * kKiB);
  void* r = Alloc(40 * kMiB);
  ASSERT_NE(q, nullptr);
  ASSERT_NE(r, nullptr);
  blocks.insert(reinterpret_cast<uintptr_t>(hak_large_lookup(q)));
  memset(q, 1, 16 * kMiB - 4 * kKiB);
  memset(r, 2, 40 * kMiB);
  hak_free(q);
  hak_free(r);
  hak_trim();
  rec_.Detach();
  std::vector<OsCall> calls = rec_.Calls();
  unsigned refused = 0;
  for (size_t i = 0; i < calls.size(); i++) {
    if (calls[i].call != HAK_OS_REMAP || calls[i].ok || blocks.count(calls[i].addr)) continue;
    refused++;
    uintptr_t lo = calls[i].addr, hi = lo + calls[i].len;
    for (size_t j = i + 1; j < calls.size(); j++) {
      if (calls[j].call == HAK_OS_MAP && calls[j].ok && calls[j].addr < hi && lo < calls[j].addr + calls[j].len) break;
      if (calls[j].call != HAK_OS_UNMAP) continue;
      EXPECT_FALSE(calls[j].addr < hi && lo < calls[j].addr + calls[j].len)
          << "unmap [" << std::hex << calls[j].addr << ", +" << calls[j].len << ") over the refused move's destination ["
          << lo << ", " << hi << ")";
    }
  }
  EXPECT_GT(refused, 0u);  // the moves were tried
  EXPECT_TRUE(hak_spare_is_valid());
}

// A split whose cut the kernel refuses (every mremap and munmap refused
// while the request is served, as at vm.max_map_count): the bytes the cut
// would have given back are still mapped, so they must still be some
// block's, where the address map says; nothing is lost, and a free and a
// trim give every byte back.
TEST_F(LargeFitTest, ARefusedCutDuringASplitLosesNoMemory) {
  SetOption(HAK_OPT_SPARE_RESIDENT_BYTES, 1ull << 30);  // the spare stays HOT: no cooling in between
  void* p = Alloc(80 * kMiB - 4 * kKiB);  // class 80 MiB: split for 8 MiB, a rest of 72 whose class maps 64
  ASSERT_NE(p, nullptr);
  char* base = reinterpret_cast<char*>(hak_large_lookup(p));
  ASSERT_EQ(hak_large_lookup(p)->map_len, 80 * kMiB);
  hak_free(p);
  ASSERT_EQ(hak_spare_bytes(), 80 * kMiB);
  RefuseRemapsAndUnmaps();
  char* q = static_cast<char*>(Alloc(5 * kMiB - 4 * kKiB));  // class 5 MiB: keeps 8 MiB
  rec_.Detach();
  ASSERT_NE(q, nullptr);
  hak_large_t* h = hak_large_lookup(q);
  ASSERT_EQ(reinterpret_cast<char*>(h), base);  // the spare served it
  EXPECT_EQ(h->map_len, 8 * kMiB);
  EXPECT_EQ(h->cls, hak_large_class(h->map_len));
  size_t refused = 0;
  for (const OsCall& c : rec_.Calls()) refused += c.call == HAK_OS_UNMAP && !c.ok;
  EXPECT_GT(refused, 0u);  // the cut was tried
  // Every page of the old mapping still mapped is a block's (the served one
  // or a spare), by the address map, inside that block's mapping.
  size_t mapped = 0;
  for (const char* a = base; a < base + 80 * kMiB; a += 4096) {
    if (!PageMapped(a)) continue;
    mapped += 4096;
    auto* owner = static_cast<hak_large_t*>(hak_addrmap_large_base(a));
    ASSERT_NE(owner, nullptr) << "mapped but no block's: " << (a - base) / kKiB << " KiB in";
    ASSERT_LT(a, reinterpret_cast<char*>(owner) + owner->map_len) << (a - base) / kKiB << " KiB in";
    ASSERT_TRUE(owner == h || owner->state == HAK_LARGE_FREE) << (a - base) / kKiB << " KiB in";
  }
  EXPECT_EQ(mapped, h->map_len + hak_spare_bytes());  // and every spare byte is in there
  EXPECT_EQ(Stat(HAK_STAT_os_bytes_mapped), h->map_len + hak_spare_bytes() + hak_bigcache_bytes());
  // The served block, by the map, over its whole mapping; usable to its end.
  EXPECT_EQ(NotAllOwned(base, h->map_len), "");
  ASSERT_EQ(hak_addrmap_large_base(base + h->map_len - 1), base);
  size_t usable = hak_usable_size(q);
  EXPECT_GE(usable, 5 * kMiB - 4 * kKiB);
  EXPECT_EQ(q + usable, base + h->map_len);
  memset(q, 0x7e, usable);
  EXPECT_EQ(q[usable - 1], 0x7e);
  ExpectFreeAndTrimGiveAllBack(q, base, 80 * kMiB);
  EXPECT_EQ(hak_addrmap_get(base), 0u);
}

// Refused moves whose blocks' unmaps are refused too: the pieces around
// each hole stay hakmem's (held) until a trim, after the refusals, unmaps
// every range whose unmap was refused.
TEST_F(LargeFitTest, ARefusedMoveAndRefusedUnmapsLoseNoPiece) {
  void* a = Alloc(8 * kMiB - 4 * kKiB);  // donors
  void* b = Alloc(8 * kMiB - 4 * kKiB);
  hak_free(a);
  hak_free(b);
  RefuseRemapsAndUnmaps();
  void* r = Alloc(40 * kMiB);  // a fresh block, filled: the move refused, the pieces' unmaps too
  rec_.Detach();
  ASSERT_NE(r, nullptr);
  memset(r, 2, 40 * kMiB);
  std::vector<OsCall> refused;
  for (const OsCall& c : rec_.Calls())
    if (c.call == HAK_OS_UNMAP && !c.ok) refused.push_back(c);
  ASSERT_GT(refused.size(), 0u);
  EXPECT_GT(hak_large_held_bytes(), 0u);
  EXPECT_EQ(Stat(HAK_STAT_os_bytes_mapped),
            hak_large_lookup(r)->map_len + hak_spare_bytes() + hak_large_held_bytes());
  hak_free(r);
  hak_trim();
  EXPECT_EQ(hak_large_held_bytes(), 0u);
  EXPECT_EQ(Stat(HAK_STAT_os_bytes_mapped), 0u);
  for (const OsCall& c : refused)
    EXPECT_FALSE(AnyPageMapped(reinterpret_cast<char*>(c.addr), c.len)) << std::hex << c.addr << " +" << c.len;
  EXPECT_TRUE(hak_spare_is_valid());
}

TEST_F(LargeFitTest, ZeroedGrowthIsZeroEverywhere) {
  void* p = Alloc(6 * kMiB);
  memset(p, 0xab, 6 * kMiB);
  hak_free(p);
  void* q = Alloc(10 * kMiB, true);
  ASSERT_NE(q, nullptr);
  auto* b = static_cast<unsigned char*>(q);
  for (size_t i = 0; i < 10 * kMiB; i += 509) ASSERT_EQ(b[i], 0u) << i;
  ASSERT_EQ(b[10 * kMiB - 1], 0u);
  hak_free(q);
}

}  // namespace
