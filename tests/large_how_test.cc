// large_how_test.cc — what a request's how (hak_large_how_t) makes its free
// do: BigCache admission and the ring's cap (cache_slots), where an uncached
// block goes (release: AUTO / KEEP / LAZY / RETURN, checked through the OS
// seam) and the site's bound on freed resident bytes (resident_shift); and
// the per-site resident accounting (hak_large_site_resident) through every
// path a block takes: fresh, ring, spare (another site's too: the charge
// moves), cooling, unmap, realloc, trim and fork, against a model of the
// live blocks the test holds.
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <random>

#include "tests/test_util.h"

extern "C" {
#include "hakmem/addrmap.h"
#include "hakmem/batch.h"
#include "hakmem/bigcache.h"
#include "hakmem/spare.h"
}

namespace {

using namespace hakmem_test;

constexpr size_t kMiB = 1 << 20;
constexpr hak_site_id_t kA = 901, kB = 902, kC = 903;

hak_large_how_t How(unsigned slots, hak_release_t r, unsigned shift = 0) {
  hak_large_how_t h;
  h.cache_slots = static_cast<uint8_t>(slots);
  h.release = static_cast<uint8_t>(r);
  h.resident_shift = static_cast<uint8_t>(shift);
  return h;
}

void* Alloc(size_t n, hak_site_id_t s, hak_large_how_t how) { return hak_large_alloc_ex(n, 0, s, false, how, nullptr); }
size_t Map(void* p) { return hak_large_lookup(p)->map_len; }
size_t Kept(hak_site_id_t s) { return hak_bigcache_site_bytes(s) + hak_spare_site_resident(s); }

class LargeHowTest : public HakTest {};

TEST_F(LargeHowTest, DefaultHowMatchesHakLargeAlloc) {
  void* p = hak_large_alloc(3 * kMiB, 0, kA, false);
  hak_large_t* h = hak_large_lookup(p);
  EXPECT_EQ(h->how.cache_slots, 255);
  EXPECT_EQ(h->how.release, HAK_RELEASE_AUTO);
  EXPECT_EQ(h->how.resident_shift, 0);
  EXPECT_FALSE(h->flags & HAK_LARGE_NOCACHE);
  EXPECT_EQ(hak_large_site_resident(kA), h->map_len);
  size_t map = h->map_len;
  hak_free(p);
  EXPECT_EQ(hak_bigcache_site_bytes(kA), map);  // in its ring: still resident, still the site's
  EXPECT_EQ(hak_large_site_resident(kA), map);
  void* q = hak_large_alloc(3 * kMiB, 0, kA, false);
  EXPECT_EQ(q, p);
  EXPECT_EQ(hak_large_site_resident(kA), map);
  hak_free(q);
  hak_trim();
  EXPECT_EQ(hak_large_site_resident(kA), 0u);
}

TEST_F(LargeHowTest, NoSlotsKeepsTheBlockOutOfBigCache) {
  SetOption(HAK_OPT_COLD_MIN, 2 * kMiB);  // the size rule sends 8 MiB COLD
  SetOption(HAK_OPT_HOT_MAX, 1 * kMiB);
  void* p = Alloc(8 * kMiB, kA, How(0, HAK_RELEASE_AUTO));
  EXPECT_TRUE(hak_large_lookup(p)->flags & HAK_LARGE_NOCACHE);
  size_t map = Map(p);
  hak_free(p);
  EXPECT_EQ(hak_bigcache_count(), 0u);
  EXPECT_EQ(hak_spare_bytes(), map);  // AUTO: 8 MiB >= COLD_MIN, a COLD spare
  EXPECT_EQ(Stat(HAK_STAT_free_cold), 1u);
  EXPECT_EQ(hak_large_site_resident(kA), 0u);  // COLD: nobody's resident bytes
}

TEST_F(LargeHowTest, KeepMakesAHotSpareOfAnySize) {
  void* p = Alloc(8 * kMiB, kA, How(0, HAK_RELEASE_KEEP));
  size_t map = Map(p);
  rec_.Attach();
  hak_free(p);
  EXPECT_EQ(rec_.Count(HAK_OS_ADVISE), 0u);
  EXPECT_EQ(Stat(HAK_STAT_free_hot), 1u);
  EXPECT_EQ(hak_spare_site_resident(kA), map);
  EXPECT_EQ(hak_large_site_resident(kA), map);
}

TEST_F(LargeHowTest, LazyAdvisesFreeOfAnySize) {
  void* p = Alloc(600 << 10, kA, How(0, HAK_RELEASE_LAZY));  // AUTO would keep it HOT
  size_t map = Map(p);
  rec_.Attach();
  hak_free(p);
  EXPECT_EQ(rec_.AdviceCovering(HAK_ADVISE_FREE, (char*)p + 8192), 1u);
  EXPECT_EQ(Stat(HAK_STAT_free_warm), 1u);
  EXPECT_EQ(hak_large_site_resident(kA), map);  // MADV_FREE'd pages stay resident until reclaimed
}

TEST_F(LargeHowTest, ReturnUnmapsAtOnce) {
  void* p = Alloc(600 << 10, kA, How(0, HAK_RELEASE_RETURN));
  rec_.Attach();
  hak_free(p);
  EXPECT_EQ(rec_.Count(HAK_OS_UNMAP), 1u);
  EXPECT_EQ(hak_addrmap_get(p), 0u);
  EXPECT_EQ(hak_spare_bytes(), 0u);
  EXPECT_EQ(hak_large_site_resident(kA), 0u);
}

TEST_F(LargeHowTest, SlotsCapTheSitesRing) {
  void* a = Alloc(2 * kMiB, kA, How(1, HAK_RELEASE_RETURN));
  void* b = Alloc(2 * kMiB, kA, How(1, HAK_RELEASE_RETURN));
  void* c = Alloc(2 * kMiB, kB, How(255, HAK_RELEASE_RETURN));
  void* d = Alloc(2 * kMiB, kB, How(255, HAK_RELEASE_RETURN));
  size_t map = Map(a);
  rec_.Attach();
  hak_free(a);
  hak_free(b);  // kA's ring holds one: a leaves, RETURN unmaps it
  hak_free(c);
  hak_free(d);  // kB's ring holds up to BIGCACHE_SLOTS (4)
  EXPECT_EQ(rec_.Count(HAK_OS_UNMAP), 1u);
  EXPECT_EQ(hak_bigcache_site_bytes(kA), map);
  EXPECT_EQ(hak_bigcache_site_bytes(kB), 2 * map);
  EXPECT_EQ(hak_large_site_resident(kA), map);
}

TEST_F(LargeHowTest, ResidentShiftBoundsTheSitesFreedBytes) {
  const unsigned shift = 24;  // 16 MiB
  std::vector<void*> v;
  for (int i = 0; i < 6; i++) v.push_back(Alloc(5 * kMiB, kA, How(255, HAK_RELEASE_KEEP, shift)));
  size_t map = Map(v[0]);
  for (void* p : v) {
    hak_free(p);
    EXPECT_LE(Kept(kA), size_t{1} << shift);
  }
  size_t kept = (size_t{1} << shift) / map;  // blocks that fit under the bound
  EXPECT_EQ(Kept(kA), kept * map);
  EXPECT_EQ(Stat(HAK_STAT_free_cold), 6 - kept);  // the rest went COLD
  EXPECT_EQ(hak_large_site_resident(kA), kept * map);
  EXPECT_TRUE(hak_bigcache_is_valid());
  EXPECT_TRUE(hak_spare_is_valid());
}

TEST_F(LargeHowTest, ReuseByAnotherSiteMovesTheCharge) {
  void* p = Alloc(8 * kMiB, kA, How(0, HAK_RELEASE_KEEP));
  size_t map = Map(p);
  hak_free(p);
  EXPECT_EQ(hak_large_site_resident(kA), map);
  void* q = Alloc(8 * kMiB, kB, HAK_LARGE_HOW_DEFAULT);
  ASSERT_EQ(q, p);  // the HOT spare serves the other site
  EXPECT_EQ(hak_large_site_resident(kA), 0u);
  EXPECT_EQ(hak_large_site_resident(kB), map);
  hak_free(q);
}

TEST_F(LargeHowTest, ReallocFollowsTheMapping) {
  void* p = Alloc(64 * kMiB, kA, HAK_LARGE_HOW_DEFAULT);
  void* q = hak_realloc(p, 8 * kMiB);  // shrinks: the tail is given back
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(hak_large_site_resident(kA), Map(q));
  void* r = hak_realloc(q, 100 * kMiB);  // grows in place or moves
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(hak_large_site_resident(kA), Map(r));
  hak_free(r);
  hak_trim();
  EXPECT_EQ(hak_large_site_resident(kA), 0u);
}

TEST_F(LargeHowTest, CoolingTakesTheCharge) {
  SetOption(HAK_OPT_BIGCACHE, 0);
  SetOption(HAK_OPT_SPARE_RESIDENT_BYTES, 8 * kMiB);
  std::vector<void*> v;
  for (int i = 0; i < 10; i++) v.push_back(Alloc(5 * kMiB, kA, How(0, HAK_RELEASE_KEEP)));
  for (void* p : v) hak_free(p);  // past 4x the cap: the oldest are cooled at once
  EXPECT_GT(Stat(HAK_STAT_free_cold), 0u);
  EXPECT_EQ(hak_large_site_resident(kA), hak_spare_resident_bytes());
  EXPECT_LE(hak_spare_resident_bytes(), 4 * 8 * kMiB);
  EXPECT_TRUE(hak_spare_is_valid());
}

// Random traffic from three sites with random hows: each site's resident
// bytes are its live mappings (the model) plus its share of the caches,
// and the shares add up to the caches' resident bytes.
TEST_F(LargeHowTest, AccountingIsExactUnderRandomTraffic) {
  std::mt19937 rng(12345);
  const hak_site_id_t sites[] = {kA, kB, kC};
  std::vector<std::pair<void*, hak_site_id_t>> live;
  for (int step = 0; step < 3000; step++) {
    unsigned op = rng() % 10;
    if (op < 5 || live.empty()) {
      size_t n = (size_t{256} << 10) + rng() % (24 * kMiB);
      hak_site_id_t s = sites[rng() % 3];
      hak_large_how_t how = How(rng() % 3 == 0 ? 0 : rng() % 2 ? 255 : 1 + rng() % 4,
                                static_cast<hak_release_t>(rng() % 4), rng() % 3 ? 0 : 22 + rng() % 6);
      void* p = Alloc(n, s, how);
      ASSERT_NE(p, nullptr);
      live.push_back({p, s});
    } else if (op < 9) {
      size_t i = rng() % live.size();
      hak_free(live[i].first);
      live[i] = live.back();
      live.pop_back();
    } else {
      size_t i = rng() % live.size();
      void* q = hak_realloc(live[i].first, (size_t{256} << 10) + rng() % (32 * kMiB));
      ASSERT_NE(q, nullptr);
      live[i].first = q;
    }
    if (step % 97 == 0) hak_trim();
    std::map<hak_site_id_t, size_t> model;
    for (auto& [p, s] : live) model[s] += Map(p);
    size_t kept = 0;
    for (hak_site_id_t s : sites) {
      ASSERT_EQ(hak_large_site_resident(s), model[s] + Kept(s)) << "step " << step;
      kept += Kept(s);
    }
    ASSERT_EQ(kept, hak_bigcache_bytes() + hak_spare_resident_bytes()) << "step " << step;
  }
  ASSERT_TRUE(hak_bigcache_is_valid());
  ASSERT_TRUE(hak_spare_is_valid());
  for (auto& [p, s] : live) hak_free(p);
  hak_trim();
  for (hak_site_id_t s : sites) EXPECT_EQ(hak_large_site_resident(s), 0u);
}

TEST_F(LargeHowTest, ForkChildKeepsExactCounts) {
  void* live = Alloc(3 * kMiB, kA, HAK_LARGE_HOW_DEFAULT);
  void* kept = Alloc(5 * kMiB, kA, How(0, HAK_RELEASE_KEEP));
  size_t live_map = Map(live), kept_map = Map(kept);
  hak_free(kept);
  ASSERT_EQ(hak_large_site_resident(kA), live_map + kept_map);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    bool ok = hak_large_site_resident(kA) == live_map + kept_map;
    hak_free(live);  // into the ring: still the site's
    ok = ok && hak_large_site_resident(kA) == live_map + kept_map;
    hak_trim();
    ok = ok && hak_large_site_resident(kA) == 0 && hak_bigcache_is_valid() && hak_spare_is_valid();
    _exit(ok ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(hak_large_site_resident(kA), live_map + kept_map);  // the parent's are its own
  hak_free(live);
}

}  // namespace
