// pool_guard_test.cc — release mode's guards in the small/mid pools
// (segment.h): pages never taken are inaccessible until taken, the fresh
// order spreads the first half of the pages so each has inaccessible
// neighbours, the header's tail and the top of the last page are guards,
// so a 1 MiB overflow past a small block and an underflow before a page's
// first block fault as they do under glibc; a refused mprotect is out of
// memory (NULL, ENOMEM) and leaks nothing; guards add a bounded number of
// VMAs.
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/test_util.h"

extern "C" {
#include "hakmem/heap.h"
#include "hakmem/segment.h"
}

namespace {

using namespace hakmem_test;

class PoolGuardTest : public HakTest {};
using PoolGuardDeathTest = PoolGuardTest;

constexpr size_t kPage = (size_t)64 << 10, kMiB = (size_t)1 << 20;

char* Alloc(size_t n) { return static_cast<char*>(hak_alloc_at(n, 12)); }

struct Vma {
  uintptr_t lo, hi;
  bool rw;
};

// The mappings that overlap [lo, hi), from /proc/self/maps.
std::vector<Vma> Vmas(uintptr_t lo, uintptr_t hi) {
  std::vector<Vma> out;
  FILE* f = fopen("/proc/self/maps", "r");
  if (!f) return out;
  char line[512];
  while (fgets(line, sizeof line, f)) {
    unsigned long a, b;
    char perms[8] = {0};
    if (sscanf(line, "%lx-%lx %7s", &a, &b, perms) != 3) continue;
    if (b > lo && a < hi) out.push_back({a, b, perms[0] == 'r' && perms[1] == 'w'});
  }
  fclose(f);
  return out;
}
std::vector<Vma> Vmas(const hak_segment_t* s) {
  return Vmas((uintptr_t)s, (uintptr_t)s + HAK_SEGMENT_SIZE);
}
// Whether every byte of [p, p + n) is read-write.
bool Accessible(const void* p, size_t n) {
  uintptr_t lo = (uintptr_t)p, hi = lo + n;
  for (const Vma& v : Vmas(lo, hi))
    if (!v.rw) return false;
  return true;
}
bool Inaccessible(const void* p, size_t n) {
  uintptr_t lo = (uintptr_t)p, hi = lo + n;
  for (const Vma& v : Vmas(lo, hi))
    if (v.rw) return false;
  return true;
}

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define POOL_GUARD_TSAN 1
#endif
#endif

// A store that faulted: SIGSEGV (SIGBUS), or a sanitizer's report of it
// (AddressSanitizer's SEGV handler exits or aborts, ThreadSanitizer's exits
// with its exit code, 66).
bool Faulted(int status) {
#if HAK_ASAN || defined(POOL_GUARD_TSAN)
  if (WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT) return true;
  if (WIFEXITED(status) && WEXITSTATUS(status) != 0) return true;
#endif
  return WIFSIGNALED(status) && (WTERMSIG(status) == SIGSEGV || WTERMSIG(status) == SIGBUS);
}

// Byte stores the compiler cannot merge into a memset or drop.
void Store(char* from, ptrdiff_t n) {
  volatile char* v = from;
  for (ptrdiff_t i = 0; i < (n < 0 ? -n : n); i++) v[n < 0 ? -i - 1 : i] = 1;
}

// The first block of a fresh small segment (SetUp's trim unmapped the
// heap's segments).
char* FreshFirstBlock(size_t n) {
  char* p = Alloc(n);
  hak_segment_t* s = hak_segment_of(p);
  EXPECT_EQ(s->pages_used, 1u) << "not a fresh segment";
  EXPECT_EQ(hak_page_of(s, p)->start, p) << "not the first block of its page";
  return p;
}

// The order is a permutation of the pages that hold blocks (position its
// inverse) whose first half has no two neighbours, and whose first page is
// the random one, for every start (a medium segment's short page 0
// included).
TEST(PoolGuardOrder, FirstHalfNeverNeighbours) {
  for (unsigned count : {64u, 8u}) {
    hak_segment_t* s = new hak_segment_t();
    s->kind = count == 64 ? HAK_PAGE_SMALL : HAK_PAGE_MEDIUM;
    s->page_count = (uint16_t)count;
    unsigned first = hak_segment_first(s), half = first + (count - first) / 2;
    EXPECT_EQ(first, count == 64 ? 1u : 0u) << "only a small segment's page 0 is all header";
    EXPECT_EQ(hak_segment_order_pages(s), count - first);
    std::set<unsigned> firsts;
    for (unsigned start = 0; start < count - first; start++) {
      s->order_start = (uint16_t)start;
      std::set<unsigned> seen;
      std::vector<bool> taken(count, false);
      EXPECT_EQ(hak_segment_fresh_index(s, first), first + start) << "the first page taken is the random one";
      firsts.insert(hak_segment_fresh_index(s, first));
      for (unsigned k = first; k < count; k++) {
        unsigned i = hak_segment_fresh_index(s, k);
        ASSERT_LT(i, count);
        ASSERT_GE(i, first);
        EXPECT_TRUE(seen.insert(i).second) << "page " << i << " twice, start " << start;
        EXPECT_EQ(hak_segment_position(s, i), k) << "start " << start;
        if (k < half && i > first) EXPECT_FALSE(taken[i - 1]) << "pages " << i - 1 << " and " << i << ", start " << start;
        if (k < half && i + 1 < count) EXPECT_FALSE(taken[i + 1]) << "start " << start;
        taken[i] = true;
      }
      EXPECT_EQ(seen.size(), count - first);
    }
    EXPECT_EQ(firsts.size(), count - first) << "every page can be the first";
    delete s;
  }
  hak_segment_t one{};
  one.kind = HAK_PAGE_WHOLE;
  one.page_count = 1;
  EXPECT_EQ(hak_segment_order_pages(&one), 1u);
  EXPECT_EQ(hak_segment_fresh_index(&one, 0), 0u);
  EXPECT_EQ(hak_segment_position(&one, 0), 0u);
}

TEST_F(PoolGuardTest, FreshPagesAreInaccessibleUntilTaken) {
  char* p = FreshFirstBlock(64);
  hak_segment_t* s = hak_segment_of(p);
  ASSERT_EQ(s->guard, HAK_GUARD_GAPS);
  std::vector<char*> blocks;
  for (int round = 0; round < 3; round++) {
    for (unsigned i = 1; i < s->page_count; i++) {
      char* at = reinterpret_cast<char*>(s) + (size_t)i * kPage;
      size_t len = kPage - (i + 1 == s->page_count ? s->top_guard : 0);
      if (hak_segment_position(s, i) < s->fresh) EXPECT_TRUE(Accessible(at, len)) << "taken page " << i;
      else EXPECT_TRUE(Inaccessible(at, kPage)) << "fresh page " << i;
    }
    for (int j = 0; j < 8; j++) blocks.push_back(Alloc(8192));  // a page more of the segment
  }
  // The header's tail and the top guard, whatever was taken.
  size_t hdr = (sizeof(hak_segment_t) + 4095) & ~(size_t)4095;
  EXPECT_TRUE(Accessible(s, sizeof(hak_segment_t)));
  EXPECT_TRUE(Inaccessible(reinterpret_cast<char*>(s) + hdr, HAK_SEGMENT_HEADER - hdr));
  EXPECT_TRUE(Inaccessible(reinterpret_cast<char*>(s) + HAK_SEGMENT_SIZE - s->top_guard, s->top_guard));
  EXPECT_TRUE(hak_heap_is_valid());
  for (char* b : blocks) hak_free(b);
  hak_free(p);
}

TEST_F(PoolGuardDeathTest, MegabyteOverflowPastASmallBlockFaults) {
  for (size_t n : {8u, 4096u}) {
    char* p = FreshFirstBlock(n);
    EXPECT_EXIT(Store(p, (ptrdiff_t)(n + kMiB)), Faulted, "") << n;
    hak_free(p);
    hak_trim();
  }
}

// z = malloc(0), then 256 KiB stored into it (glibc faults past its top).
TEST_F(PoolGuardDeathTest, LargeStoreIntoAZeroSizeBlockFaults) {
  char* a = Alloc(8);
  char* z = Alloc(0);
  EXPECT_EXIT(Store(z, (ptrdiff_t)256 << 10), Faulted, "");
  hak_free(z);
  hak_free(a);
}

TEST_F(PoolGuardDeathTest, UnderflowBeforeAPagesFirstBlockFaults) {
  for (size_t n : {8u, 4096u}) {
    char* p = FreshFirstBlock(n);
    EXPECT_EXIT(Store(p, -1), Faulted, "") << n;
    EXPECT_EXIT(Store(p, -32), Faulted, "") << n;
    hak_free(p);
    hak_trim();
  }
}

// Medium pages and the one-page kind: the header's tail and the top guard.
TEST_F(PoolGuardDeathTest, LargerKindsHaveEdgeGuards) {
  for (size_t n : {(size_t)16 << 10, (size_t)200 << 10}) {
    char* p = static_cast<char*>(hak_heap_alloc(n));  // below any large threshold
    hak_segment_t* s = hak_segment_of(p);
    ASSERT_NE(s->guard, HAK_GUARD_NONE) << n;
    hak_page_t* pg = hak_page_of(s, p);
    // Below page 0's first block (wherever the first block a page hands
    // out is, hak_page_extend): the header's tail.
    EXPECT_EXIT(Store(reinterpret_cast<char*>(s) + HAK_SEGMENT_HEADER, -1), Faulted, "") << n;
    if (p == reinterpret_cast<char*>(s) + HAK_SEGMENT_HEADER) EXPECT_EQ(pg->index, 0u);
    char* top = reinterpret_cast<char*>(s) + HAK_SEGMENT_SIZE - s->top_guard;
    EXPECT_TRUE(Inaccessible(top, s->top_guard)) << n;
    EXPECT_LE((uintptr_t)pg->end, (uintptr_t)top) << n;
    hak_free(p);
  }
}

// The frontier check: a short overflow past the last carved block of a
// fresh page (into the never-carved block after it) aborts at its free.
TEST_F(PoolGuardDeathTest, OverflowPastTheFrontierBlockAbortsAtFree) {
  std::string after = "corrupted block after ";
  char* p = FreshFirstBlock(4096);  // 4 KiB blocks are carved one at a time: p is the frontier
  EXPECT_DEATH((Store(p + 4096, 32), hak_free(p)), after + Hex(p));
  EXPECT_DEATH((Store(p + 4096, 1), hak_free(p)), after + Hex(p));
  hak_free(p);  // untouched: fine, and so again
  p = Alloc(4096);
  hak_free(p);
  // 32 B blocks are carved 64 at a time: the 64th is the frontier.
  std::vector<char*> b;
  for (int i = 0; i < 64; i++) b.push_back(Alloc(32));
  hak_page_t* pg = hak_page_of(hak_segment_of(b[63]), b[63]);
  ASSERT_EQ(pg->carved, 64u);
  ASSERT_EQ(pg->start + 63 * 32, b[63]);
  EXPECT_DEATH((Store(b[63] + 32, 32), hak_free(b[63])), after + Hex(b[63]));
  EXPECT_DEATH((Store(b[62] + 32, 32), hak_free(b[63]), hak_free(b[63])), DoubleFree(b[63]))
      << "the frontier block's double free is still one";
  Store(b[63], 32);  // all of the block: fine
  for (char* x : b) hak_free(x);
  b.clear();
  hak_trim();
  // Freed by another thread: the owner's drain checks.
  p = FreshFirstBlock(4096);
  EXPECT_DEATH((Store(p + 4096, 32), std::thread([p] { hak_free(p); }).join(), hak_free(Alloc(64))), after + Hex(p));
  hak_free(p);
  for (char* x : b) hak_free(x);
  EXPECT_TRUE(hak_heap_is_valid());
}

// A page taken again holds its last blocks past `carved`: no frontier
// check there (it would take them for an overflow).
TEST_F(PoolGuardTest, OnlyFreshPagesHaveAFrontierCheck) {
  hak_segment_t* s = hak_segment_new(HAK_PAGE_SMALL, nullptr, HAK_HEAP_TAG_SHARED);
  ASSERT_NE(s, nullptr);
  unsigned cls = (unsigned)hak_size_class(4096);
  hak_page_t* pg = hak_segment_take_page(s, cls);
  ASSERT_NE(pg, nullptr);
  EXPECT_TRUE(pg->clean);
  ASSERT_TRUE(hak_page_extend(pg));
  EXPECT_EQ(pg->free_limit + 1, pg->limit);
  hak_segment_return_page(s, pg, 0);
  EXPECT_EQ(hak_segment_take_page(s, cls), pg);
  EXPECT_FALSE(pg->clean);
  ASSERT_TRUE(hak_page_extend(pg));
  EXPECT_EQ(pg->free_limit, pg->limit);
  EXPECT_TRUE(hak_segment_is_valid(s));
  hak_segment_return_page(s, pg, 0);
  hak_segment_free(s);
}

// A refused mprotect is out of memory: malloc returns NULL with ENOMEM, the
// segment it made is given back, the page it would have opened stays fresh.
TEST_F(PoolGuardTest, RefusedProtectIsEnomemAndLeaksNothing) {
  rec_.hooks().fail_every[HAK_OS_PROTECT] = 1;
  rec_.Attach();
  errno = 0;
  EXPECT_EQ(Alloc(64), nullptr);  // the new segment's guards
  EXPECT_EQ(errno, ENOMEM);
  rec_.Detach();
  std::vector<uintptr_t> maps;
  for (const OsCall& c : rec_.Calls())
    if (c.call == HAK_OS_MAP && c.ok && c.len == HAK_SEGMENT_SIZE) maps.push_back(c.addr);
  ASSERT_FALSE(maps.empty());
  for (uintptr_t m : maps) EXPECT_TRUE(Vmas(m, m + HAK_SEGMENT_SIZE).empty()) << "segment left mapped";

  char* p = Alloc(64);  // a segment, and the first page
  ASSERT_NE(p, nullptr);
  hak_segment_t* s = hak_segment_of(p);
  unsigned fresh = s->fresh;
  rec_.Clear();
  rec_.Attach();
  errno = 0;
  EXPECT_EQ(Alloc(4096), nullptr);  // another class: a fresh page of the same segment
  EXPECT_EQ(errno, ENOMEM);
  rec_.Detach();
  EXPECT_EQ(s->fresh, fresh) << "the refused page is not lost";
  EXPECT_TRUE(hak_heap_is_valid());
  char* q = Alloc(4096);
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(hak_segment_of(q), s);
  EXPECT_EQ(s->fresh, fresh + 1);
  hak_free(q);
  hak_free(p);
}

// VMAs: a filling segment has at most page_count + 2 (alternating pages), a
// filled one 4 (header, its guard, the pages, the top guard), and the sum
// the guards charge stays within the budget.
TEST_F(PoolGuardTest, VmasPerSegmentAreBounded) {
  std::vector<char*> blocks;
  char* p = FreshFirstBlock(8192);
  blocks.push_back(p);
  hak_segment_t* s = hak_segment_of(p);
  ASSERT_EQ(s->guard, HAK_GUARD_GAPS);
  size_t peak = 0;
  while (s->fresh < s->page_count) {
    char* b = Alloc(8192);
    ASSERT_NE(b, nullptr);
    blocks.push_back(b);
    if (hak_segment_of(b) == s) peak = std::max(peak, Vmas(s).size());
  }
  EXPECT_GT(peak, 30u) << "the first half alternates";
  EXPECT_LE(peak, (size_t)s->page_count + 3);
  EXPECT_LE(Vmas(s).size(), 4u) << "the pages merge back";
  EXPECT_EQ(s->guard, HAK_GUARD_EDGES);
  EXPECT_LE(atomic_load(&hak_segment_guard_vmas), HAK_SEGMENT_GUARD_VMAS);
  for (char* b : blocks) hak_free(b);
}

// Past the budget a new segment has no guard (and costs one VMA at most).
TEST_F(PoolGuardTest, PastTheBudgetSegmentsHaveNoGuards) {
  uint32_t was = atomic_exchange(&hak_segment_guard_vmas, HAK_SEGMENT_GUARD_VMAS - 3);
  char* a = static_cast<char*>(hak_heap_alloc((size_t)200 << 10));  // the one-page kind: EDGES costs 3, still fits
  char* b = Alloc(64);         // GAPS (66) and EDGES (3) no longer fit
  EXPECT_EQ(hak_segment_of(a)->guard, HAK_GUARD_EDGES);
  EXPECT_EQ(hak_segment_of(b)->guard, HAK_GUARD_NONE);
  EXPECT_EQ(atomic_load(&hak_segment_guard_vmas), HAK_SEGMENT_GUARD_VMAS);
  EXPECT_TRUE(Accessible(hak_segment_of(b), HAK_SEGMENT_SIZE));
  hak_free(a);
  hak_free(b);
  hak_trim();
  EXPECT_EQ(atomic_load(&hak_segment_guard_vmas), HAK_SEGMENT_GUARD_VMAS - 3) << "freed segments give their cost back";
  atomic_store(&hak_segment_guard_vmas, was);
}

}  // namespace
