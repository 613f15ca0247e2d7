// debug_test.cc — the debug levels (config.h, check.h). The invariant
// walkers see a free list corrupted on purpose; HAK_DEBUG_WALK aborts with
// the walker's name in a debug build (--config=debug: HAK_DEBUG=3) and is
// nothing in a release build: the walker is not even called, and the
// program goes on. The release checks that catch corruption are checked
// mode's (checked_test), not these.
#include <cstdint>
#include <cstring>
#include <vector>

#include "tests/test_util.h"

extern "C" {
#include "hakmem/check.h"
#include "hakmem/heap.h"
#include "hakmem/segment.h"
}

namespace {

using hakmem_test::HakTest;

class DebugTest : public HakTest {};
using DebugDeathTest = DebugTest;

// Small blocks of one class, some freed: the last freed is its page's
// free-list head, and its first word the (encoded) link to the next free
// block.
struct Corrupted {
  std::vector<void*> live;
  hak_block_t* head = nullptr;
  uint64_t saved = 0;

  Corrupted() {
    for (int i = 0; i < 64; i++) live.push_back(hak_alloc_at(48, 0xdeb));
    for (int i = 0; i < 64; i += 4) hak_free(live[i]);
    head = static_cast<hak_block_t*>(live[60]);
    saved = head->link;
  }
  void Break() {
    head->link = 0x00007ead0000beefu;  // decodes to no block of the page
  }
  void Repair() { head->link = saved; }
  ~Corrupted() {
    Repair();
    for (int i = 0; i < 64; i++)
      if (i % 4) hak_free(live[i]);
  }
};

TEST_F(DebugTest, HeapWalkerSeesAFreeListLinkOverwritten) {
  Corrupted c;
  ASSERT_TRUE(hak_heap_is_valid());
  c.Break();
  EXPECT_FALSE(hak_heap_is_valid());
  c.Repair();
  EXPECT_TRUE(hak_heap_is_valid());
}

int walker_calls;
[[gnu::used]] bool FailingWalker() {
  walker_calls++;
  return false;
}

#if HAK_DEBUG >= 3

TEST_F(DebugDeathTest, WalkAbortsWithTheWalkersNameOnACorruptFreeList) {
  Corrupted c;
  c.Break();
  EXPECT_DEATH(HAK_DEBUG_WALK(hak_heap_is_valid()), "invariant walker failed: hak_heap_is_valid\\(\\)");
  c.Repair();
  HAK_DEBUG_WALK(hak_heap_is_valid());  // a sound heap passes
}

TEST_F(DebugDeathTest, WalkRunsTheWalker) {
  EXPECT_DEATH(HAK_DEBUG_WALK(FailingWalker()), "invariant walker failed: FailingWalker\\(\\)");
}

#else

TEST_F(DebugTest, ReleaseWalkIsNothingEvenOnACorruptFreeList) {
  Corrupted c;
  c.Break();
  HAK_DEBUG_WALK(hak_heap_is_valid());  // no abort: the walk is compiled out
  c.Repair();
  walker_calls = 0;
  HAK_DEBUG_WALK(FailingWalker());
  EXPECT_EQ(walker_calls, 0);  // not evaluated
}

#endif

}  // namespace
