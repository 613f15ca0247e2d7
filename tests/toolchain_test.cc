#include <gtest/gtest.h>
TEST(Toolchain, Works) { EXPECT_EQ(1 + 1, 2); }
