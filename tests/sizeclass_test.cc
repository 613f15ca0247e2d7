// sizeclass_test.cc — every request size maps to the smallest class that
// fits it, classes are 16-byte multiples, rounding waste stays below 12.5%,
// and each class's page kind holds enough blocks per page.
#include <gtest/gtest.h>

extern "C" {
#include "hakmem/segment.h"
#include "hakmem/sizeclass.h"
}

namespace {

TEST(SizeClass, EverySizeMapsToTheSmallestClassThatFits) {
  unsigned prev = 0;
  for (size_t s = 0; s <= HAK_POOL_MAX; s++) {
    unsigned c = hak_size_class(s);
    ASSERT_LT(c, HAK_CLASSES) << s;
    size_t cs = hak_class_size(c);
    ASSERT_GE(cs, s) << s;
    if (c > 0) ASSERT_LT(hak_class_size(c - 1), s == 0 ? 1 : s) << "class " << c - 1 << " fits " << s;
    ASSERT_GE(c, prev);
    prev = c;
    if (s > 128) ASSERT_LT(cs - s, s / 8) << "waste at " << s;  // below 12.5%
    else if (s > 0) ASSERT_LT(cs - s, 16u);
  }
  EXPECT_EQ(hak_size_class(HAK_POOL_MAX), HAK_CLASSES - 1);
  EXPECT_EQ(hak_class_size(HAK_CLASSES - 1), HAK_POOL_MAX);
}

TEST(SizeClass, ClassesAreSixteenByteMultiplesAndIncreasing) {
  for (unsigned c = 0; c < HAK_CLASSES; c++) {
    EXPECT_EQ(hak_class_size(c) % 16, 0u) << c;
    if (c) EXPECT_GT(hak_class_size(c), hak_class_size(c - 1));
    EXPECT_EQ(hak_size_class(hak_class_size(c)), c);
  }
  // The original design's tiny classes are all here.
  for (size_t s : {16, 32, 64, 128, 256, 512, 1024}) EXPECT_EQ(hak_class_size(hak_size_class(s)), s);
}

TEST(SizeClass, EveryPageHoldsAtLeastSevenBlocks) {
  size_t page_bytes[HAK_PAGE_KINDS] = {(size_t)64 << 10, (size_t)448 << 10, HAK_SEGMENT_SIZE - HAK_SEGMENT_HEADER};
  for (unsigned c = 0; c < HAK_CLASSES; c++) {
    hak_page_kind_t k = hak_class_kind(c);
    EXPECT_GE(page_bytes[k] / hak_class_size(c), 7u) << "class " << c << " size " << hak_class_size(c);
  }
}

}  // namespace
