// addrmap_test.cc — the address → owner map: unknown addresses read 0,
// large blocks are found from every slot they span, segments read their
// heap's tag, clearing forgets them.
#include <gtest/gtest.h>

extern "C" {
#include "hakmem/addrmap.h"
#include "hakmem/config.h"
}

namespace {

constexpr uintptr_t kSeg = HAK_SEGMENT_SIZE;

TEST(AddrMap, UnknownAddressesReadZero) {
  int local;
  EXPECT_EQ(hak_addrmap_get(&local), 0u);
  EXPECT_EQ(hak_addrmap_get(nullptr), 0u);
  EXPECT_EQ(hak_addrmap_get(reinterpret_cast<void*>(~(uintptr_t)0)), 0u);  // above 2^48
  EXPECT_EQ(hak_addrmap_large_base(&local), nullptr);
}

TEST(AddrMap, LargeBlockFoundFromEverySlot) {
  char* base = reinterpret_cast<char*>(0x3100000000ull);  // never mapped: the map does not care
  size_t len = 3 * kSeg + 5;                               // spans 4 slots
  ASSERT_TRUE(hak_addrmap_set_large(base, len));
  for (size_t off : {(size_t)0, (size_t)1, kSeg - 1, kSeg, 2 * kSeg + 77, 3 * kSeg + 4})
    EXPECT_EQ(hak_addrmap_large_base(base + off), base) << off;
  EXPECT_EQ(hak_addrmap_get(base), (uint8_t)HAK_ADDR_LARGE);
  EXPECT_EQ(hak_addrmap_get(base + 2 * kSeg), (uint8_t)(HAK_ADDR_LARGE + 2));
  EXPECT_EQ(hak_addrmap_get(base + 4 * kSeg), 0u);  // past the end
  EXPECT_EQ(hak_addrmap_get(base - 1), 0u);
  hak_addrmap_clear(base, len);
  for (size_t s = 0; s < 4; s++) EXPECT_EQ(hak_addrmap_get(base + s * kSeg), 0u);
}

TEST(AddrMap, VeryLargeBlocksSayFarBeyondTheirReach) {
  char* base = reinterpret_cast<char*>(0x3200000000ull);
  size_t len = 300 * kSeg;
  ASSERT_TRUE(hak_addrmap_set_large(base, len));
  EXPECT_EQ(hak_addrmap_large_base(base + 200 * kSeg), base);
  EXPECT_EQ(hak_addrmap_get(base + 299 * kSeg), (uint8_t)HAK_ADDR_LARGE_FAR);
  EXPECT_EQ(hak_addrmap_large_base(base + 299 * kSeg), nullptr);
  hak_addrmap_clear(base, len);
}

TEST(AddrMap, SegmentsReadTheirTag) {
  char* seg = reinterpret_cast<char*>(0x3300000000ull);
  ASSERT_TRUE(hak_addrmap_set_segment(seg, 0x1234));
  EXPECT_EQ(hak_addrmap_get(seg + 12345), (uint8_t)HAK_ADDR_SEGMENT);
  EXPECT_EQ(hak_addrmap_entry(seg + kSeg - 1), 0x1234u);
  EXPECT_EQ(hak_addrmap_entry(seg + kSeg), 0u);  // the next slot
  EXPECT_EQ(hak_addrmap_entry(seg - 1), 0u);
  EXPECT_EQ(hak_addrmap_large_base(seg), nullptr);
  ASSERT_TRUE(hak_addrmap_set_segment(seg + kSeg, UINT16_MAX));  // the largest tag is a segment too
  EXPECT_EQ(hak_addrmap_get(seg + kSeg), (uint8_t)HAK_ADDR_SEGMENT);
  hak_addrmap_clear(seg, 2 * kSeg);
  EXPECT_EQ(hak_addrmap_get(seg), 0u);
  EXPECT_EQ(hak_addrmap_get(seg + kSeg), 0u);
}

TEST(AddrMap, TheWholeUserAddressSpace) {
  // The first and the last slot below 2^48; the first above reads 0 and
  // is never written.
  char* first = reinterpret_cast<char*>(kSeg);
  char* last = reinterpret_cast<char*>((1ull << 48) - kSeg);
  ASSERT_TRUE(hak_addrmap_set_large(first, kSeg));
  ASSERT_TRUE(hak_addrmap_set_large(last, kSeg));
  EXPECT_EQ(hak_addrmap_large_base(first + 1), first);
  EXPECT_EQ(hak_addrmap_large_base(last + kSeg - 1), last);
  EXPECT_EQ(hak_addrmap_get(last + kSeg), 0u);
  hak_addrmap_clear(last, 2 * kSeg);  // the slot past the map is skipped
  hak_addrmap_clear(first, kSeg);
  EXPECT_EQ(hak_addrmap_get(first), 0u);
  EXPECT_EQ(hak_addrmap_get(last), 0u);
}

}  // namespace
