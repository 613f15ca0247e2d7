// route_test.cc — the one routing rule (route.h) at its edges: the
// threshold, the pools' largest block, and an over-alignment's slack.
#include "hakmem/route.h"

#include <gtest/gtest.h>

namespace {

constexpr size_t kKiB = 1024;

TEST(Route, ThresholdDecidesPlainRequests) {
  EXPECT_FALSE(hak_route_large(256 * kKiB - 1, 0, 256 * kKiB));
  EXPECT_TRUE(hak_route_large(256 * kKiB, 0, 256 * kKiB));
  EXPECT_FALSE(hak_route_large(64 * kKiB - 16, 16, 64 * kKiB));  // 16 is no over-alignment
}

TEST(Route, PoolsCannotHoldPastTheirLargestBlock) {
  // A learning site's threshold can be far above the pools' reach.
  EXPECT_FALSE(hak_route_large(HAK_POOL_MAX - 1, 0, 32 * 1024 * kKiB));
  EXPECT_TRUE(hak_route_large(HAK_POOL_MAX, 0, 32 * 1024 * kKiB));
}

TEST(Route, AnOverAlignmentsSlackCounts) {
  EXPECT_FALSE(hak_route_large(100 * kKiB, 64 * kKiB, 256 * kKiB));
  EXPECT_TRUE(hak_route_large(200 * kKiB, 64 * kKiB, 256 * kKiB));   // span reaches the threshold
  EXPECT_TRUE(hak_route_large(100 * kKiB, 448 * kKiB, 32 * 1024 * kKiB));  // span reaches HAK_POOL_MAX
  EXPECT_TRUE(hak_route_large(16, (size_t)1 << 40, 32 * 1024 * kKiB));     // no overflow for huge alignments
  EXPECT_TRUE(hak_route_large(HAK_POOL_MAX - 1, (size_t)1 << 63, 256 * kKiB));
}

}  // namespace
