// os_fault_test.cc — the OS seam fails every Nth mmap, madvise or mremap
// while random allocations run against a shadow model.
//   mmap failures are clean: NULL with ENOMEM, nothing half-built (every
//     walker stays valid), no mapping leaked once everything is freed;
//   madvise failures are harmless: no allocation fails, contents survive,
//     calloc memory is still zero;
//   mremap failures only cost a copy.
// Links //hakmem:core: the hak_* calls, the process's malloc stays glibc's.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

extern "C" {
#include "hakmem/alloc.h"
#include "hakmem/batch.h"
#include "hakmem/bigcache.h"
#include "hakmem/heap.h"
#include "hakmem/include/hakmem.h"
#include "hakmem/options.h"
#include "hakmem/os.h"
#include "hakmem/spare.h"
#include "hakmem/stats.h"
}

namespace {

void UseMode(hak_mode_t mode) {
  hak_init();
  hak_trim();
  hak_options_t o;
  hak_options_preset(mode, &o);
  hak_options = o;
  hak_apply_options();
}

long MapsLines() {
  char buf[1 << 14];
  int fd = open("/proc/self/maps", O_RDONLY);
  long lines = 0;
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0)
    for (ssize_t i = 0; i < n; i++) lines += buf[i] == '\n';
  close(fd);
  return lines;
}

// While several threads run, only this thread's heap is checked: the batch
// walker can see a full queue whose adder is waiting (lock released) for a
// flush to finish, a legal moment it reports as invalid.
thread_local bool heap_walker_only = false;
bool WalkersValid() {
  if (heap_walker_only) return hak_heap_is_valid();
  return hak_heap_is_valid() && hak_bigcache_is_valid() && hak_spare_is_valid() && hak_batch_is_valid();
}

struct Block {
  unsigned char* p = nullptr;
  size_t n = 0;
  uint8_t tag = 0;
};

// Head and tail bytes carry the tag (whole blocks would make the test slow).
void Stamp(const Block& b) {
  size_t k = b.n < 64 ? b.n : 64;
  memset(b.p, b.tag, k);
  memset(b.p + b.n - k, b.tag, k);
}
bool Stamped(const Block& b) {
  size_t k = b.n < 64 ? b.n : 64;
  for (size_t i = 0; i < k; i++)
    if (b.p[i] != b.tag || b.p[b.n - 1 - i] != b.tag) return false;
  return true;
}
bool Zero(const unsigned char* p, size_t n) {
  size_t step = n > 65536 ? 4093 : 1;  // sparse on big blocks
  for (size_t i = 0; i < n; i += step)
    if (p[i]) return false;
  return p[n - 1] == 0;
}

size_t RandomSize(std::mt19937_64& rng) {
  switch (rng() % 10) {
    case 0: case 1: case 2: case 3: return 1 + rng() % 512;
    case 4: case 5: return 512 + rng() % (64 << 10);
    case 6: return (64 << 10) + rng() % (192 << 10);
    case 7: case 8: return (256 << 10) + rng() % (2 << 20);
    default: return (2 << 20) + rng() % (14 << 20);
  }
}

struct Outcome {
  long ops = 0, failed = 0, bad_errno = 0, damaged = 0, not_zero = 0, invalid = 0;
};

// Random malloc/calloc/realloc/aligned/free over `slots` live blocks. With
// burst set, hooks' mmap failure rate switches between every call (a burst:
// the allocator's retry after a trim fails too) and every `burst`th call,
// each 256 operations.
Outcome RandomOps(uint64_t seed, int ops, int slots, hak_os_hooks_t* hooks = nullptr, uint32_t burst = 0) {
  std::mt19937_64 rng(seed);
  std::vector<Block> live(slots);
  Outcome o;
  uint8_t tag = 1;
  for (int i = 0; i < ops; i++, o.ops++) {
    if (hooks && i % 256 == 0) hooks->fail_every[HAK_OS_MAP] = (i / 256) % 2 ? 1 : burst;
    Block& b = live[rng() % slots];
    unsigned what = rng() % 8;
    if (b.p && what < 3) {
      if (!Stamped(b)) o.damaged++;
      hak_free(b.p);
      b = Block();
    } else if (b.p && what < 5) {
      size_t n = RandomSize(rng);
      errno = 0;
      auto* q = static_cast<unsigned char*>(hak_realloc(b.p, n));
      if (!q) {
        o.failed++;
        if (errno != ENOMEM) o.bad_errno++;
        if (!Stamped(b)) o.damaged++;  // a failed realloc leaves the block
      } else {
        Block nb{q, n, b.tag};
        size_t keep = b.n < n ? b.n : n, k = keep < 64 ? keep : 64;
        for (size_t j = 0; j < k; j++)
          if (q[j] != b.tag) { o.damaged++; break; }
        b = nb;
        Stamp(b);
      }
    } else if (!b.p) {
      size_t n = RandomSize(rng);
      errno = 0;
      unsigned char* p;
      bool zero = what == 5;
      if (zero) p = static_cast<unsigned char*>(hak_calloc(1, n));
      else if (what == 6) p = static_cast<unsigned char*>(hak_aligned_alloc(size_t{32} << (rng() % 17), n));
      else p = static_cast<unsigned char*>(hak_alloc_at(n, 0x1000 + rng() % 8));
      if (!p) {
        o.failed++;
        if (errno != ENOMEM) o.bad_errno++;
        continue;
      }
      if (zero && !Zero(p, n)) o.not_zero++;
      b = Block{p, n, tag++};
      if (!tag) tag = 1;
      Stamp(b);
    }
    if (i % 32 == 0 && !WalkersValid()) o.invalid++;
  }
  for (auto& b : live) {
    if (!b.p) continue;
    if (!Stamped(b)) o.damaged++;
    hak_free(b.p);
  }
  if (!WalkersValid()) o.invalid++;
  return o;
}

class OsFaultTest : public ::testing::TestWithParam<hak_mode_t> {
 protected:
  void SetUp() override {
    UseMode(GetParam());
    memset(&hooks_, 0, sizeof hooks_);
    // Warm up (this thread's heap, address-map leaves) so baselines are stable.
    EXPECT_EQ(RandomOps(1, 2000, 64).damaged, 0);
    hak_trim();
    maps0_ = MapsLines();
    large0_ = hak_stat_read(HAK_STAT_os_bytes_mapped);
    pools0_ = hak_stat_read(HAK_STAT_os_bytes_mapped_pools);
  }
  void TearDown() override {
    hak_os_set_hooks(nullptr);
    hak_trim();
    UseMode(HAK_MODE_BALANCED);
  }
  // After everything is freed and trimmed: nothing mapped that was not before.
  // maps_slack: mappings others may add meanwhile (glibc's thread arenas and
  // stacks when the test starts threads).
  void ExpectNothingLeaked(long maps_slack = 8) {
    hak_os_set_hooks(nullptr);
    hak_trim();
    EXPECT_EQ(hak_stat_read(HAK_STAT_os_bytes_mapped), large0_);
    EXPECT_EQ(hak_stat_read(HAK_STAT_os_bytes_mapped_pools), pools0_);
    EXPECT_EQ(hak_stat_read(HAK_STAT_bigcache_bytes), 0u);
    EXPECT_EQ(hak_stat_read(HAK_STAT_spare_bytes), 0u);
    // Address-map leaves (64 KiB) may have been added, never removed.
#if defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
    // The sanitizer runtimes map memory of their own meanwhile: TSan's lines
    // that come and go are in its metainfo and shadow ranges (0x3000... and
    // 0x5680...-0x7b00...), none in application memory where hakmem maps.
    // The byte counts above are the leak check.
    maps_slack += 64;
#endif
#endif
    EXPECT_LE(MapsLines(), maps0_ + maps_slack);
    EXPECT_TRUE(WalkersValid());
  }
  hak_os_hooks_t hooks_;
  long maps0_ = 0;
  uint64_t large0_ = 0, pools0_ = 0;
};

// Every Nth mmap failing alone is hidden by the retry after a trim (no
// allocation fails); bursts of failures make allocations fail cleanly.
TEST_P(OsFaultTest, EveryNthMmapFailsCleanly) {
  for (uint32_t n : {2u, 3u, 5u, 11u}) {
    SCOPED_TRACE(n);
    hooks_.fail_every[HAK_OS_MAP] = n;
    hak_os_set_hooks(&hooks_);
    Outcome o = RandomOps(n * 7919, 6000, 96, &hooks_, n);
    hak_os_set_hooks(nullptr);
    EXPECT_GT(o.failed, 0) << "the seam never made a call fail";
    EXPECT_EQ(o.bad_errno, 0);
    EXPECT_EQ(o.damaged, 0);
    EXPECT_EQ(o.not_zero, 0);
    EXPECT_EQ(o.invalid, 0);
    ExpectNothingLeaked();
    // And the allocator works normally again.
    Outcome after = RandomOps(n, 1000, 32);
    EXPECT_EQ(after.failed, 0);
    EXPECT_EQ(after.damaged, 0);
  }
}

TEST_P(OsFaultTest, MadviseFailuresAreHarmless) {
  for (uint32_t n : {1u, 2u, 3u}) {
    SCOPED_TRACE(n);
    hooks_.fail_every[HAK_OS_ADVISE] = n;
    hak_os_set_hooks(&hooks_);
    Outcome o = RandomOps(n * 31, 6000, 96);
    hak_trim();  // flushes the batch: its advice fails too
    hak_os_set_hooks(nullptr);
    EXPECT_EQ(o.failed, 0);
    EXPECT_EQ(o.damaged, 0);
    EXPECT_EQ(o.not_zero, 0);
    EXPECT_EQ(o.invalid, 0);
    ExpectNothingLeaked();
  }
}

TEST_P(OsFaultTest, MremapFailuresOnlyCostACopy) {
  hooks_.fail_every[HAK_OS_REMAP] = 2;
  hak_os_set_hooks(&hooks_);
  Outcome o = RandomOps(77, 6000, 64);
  hak_os_set_hooks(nullptr);
  EXPECT_EQ(o.failed, 0);
  EXPECT_EQ(o.damaged, 0);
  EXPECT_EQ(o.invalid, 0);
  ExpectNothingLeaked();
}

TEST_P(OsFaultTest, EverythingFailsAtOnce) {
  hooks_.fail_every[HAK_OS_MAP] = 3;
  hooks_.fail_every[HAK_OS_ADVISE] = 2;
  hooks_.fail_every[HAK_OS_REMAP] = 2;
  hak_os_set_hooks(&hooks_);
  Outcome o = RandomOps(99, 6000, 96, &hooks_, 3);
  hak_os_set_hooks(nullptr);
  EXPECT_GT(o.failed, 0);
  EXPECT_EQ(o.bad_errno, 0);
  EXPECT_EQ(o.damaged, 0);
  EXPECT_EQ(o.not_zero, 0);
  EXPECT_EQ(o.invalid, 0);
  ExpectNothingLeaked();
}

// Four threads at once, freeing into each other's heaps through the walkers'
// eyes of each thread (each thread checks its own heap).
TEST_P(OsFaultTest, ThreadsUnderMmapFailures) {
  hooks_.fail_every[HAK_OS_MAP] = 4;
  hak_os_set_hooks(&hooks_);
  std::vector<std::thread> threads;
  std::vector<Outcome> out(4);
  for (int t = 0; t < 4; t++) threads.emplace_back([t, &out] {
      heap_walker_only = true;
      out[t] = RandomOps(1000 + t, 4000, 64);
    });
  for (auto& t : threads) t.join();
  hak_os_set_hooks(nullptr);
  for (auto& o : out) {
    EXPECT_EQ(o.bad_errno, 0);
    EXPECT_EQ(o.damaged, 0);
    EXPECT_EQ(o.not_zero, 0);
    EXPECT_EQ(o.invalid, 0);
  }
  ExpectNothingLeaked(/*maps_slack=*/40);
}

INSTANTIATE_TEST_SUITE_P(Modes, OsFaultTest, ::testing::Values(HAK_MODE_BALANCED, HAK_MODE_MINIMAL),
                         [](const ::testing::TestParamInfo<hak_mode_t>& i) { return std::string(hak_mode_name(i.param)); });

}  // namespace
