// new_delete_test.cc — operator new/delete from //hakmem:malloc (linked in,
// so every new of this binary is hakmem's): std::bad_alloc reaches the
// program's catch, the new_handler is called, nothrow returns nullptr,
// aligned new is aligned for 16 B - 1 MiB, the site of a new is its caller,
// and checked mode catches a sized delete of the wrong size and delete vs
// delete[] (death tests: the child turns checked mode on).
#include <gtest/gtest.h>

#include <cstdint>
#include <new>

#include <unistd.h>

#include "tests/test_util.h"

extern "C" {
#include "hakmem/callsite.h"
#include "hakmem/large.h"
#include "hakmem/site.h"
}

namespace {

constexpr size_t kHuge = (size_t)1 << 62;  // no allocator can serve it

int g_handler_calls;
void HandlerThatGivesUp() {
  g_handler_calls++;
  std::set_new_handler(nullptr);  // the next failure throws
}

TEST(NewDeleteTest, BadAllocIsCaught) {
  bool caught = false;
  try {
    void* volatile p = ::operator new(kHuge);
    (void)p;
  } catch (const std::bad_alloc& e) {
    caught = true;
    EXPECT_STREQ(e.what(), "std::bad_alloc");
  }
  EXPECT_TRUE(caught);
  caught = false;
  try {
    void* volatile p = ::operator new[](kHuge);
    (void)p;
  } catch (std::bad_alloc&) {
    caught = true;
  }
  EXPECT_TRUE(caught);
}

TEST(NewDeleteTest, NewHandlerIsCalledInALoop) {
  g_handler_calls = 0;
  std::set_new_handler(HandlerThatGivesUp);
  EXPECT_THROW((void)::operator new(kHuge), std::bad_alloc);
  EXPECT_EQ(g_handler_calls, 1);
  EXPECT_EQ(std::get_new_handler(), nullptr);
}

TEST(NewDeleteTest, NothrowReturnsNull) {
  EXPECT_EQ(::operator new(kHuge, std::nothrow), nullptr);
  EXPECT_EQ(::operator new[](kHuge, std::nothrow), nullptr);
  EXPECT_EQ(::operator new(kHuge, std::align_val_t(64), std::nothrow), nullptr);
  void* p = ::operator new(100, std::nothrow);
  ASSERT_NE(p, nullptr);
  ::operator delete(p, std::nothrow);
}

TEST(NewDeleteTest, AlignedNewHonoursEveryPowerOfTwo) {
  for (size_t a = 16; a <= ((size_t)1 << 20); a *= 2) {
    for (size_t n : {(size_t)1, (size_t)100, a, 3 * a + 1}) {
      void* p = ::operator new(n, std::align_val_t(a));
      EXPECT_EQ((uintptr_t)p % a, 0u) << a << " " << n;
      memset(p, 0xa5, n);
      ::operator delete(p, n, std::align_val_t(a));
      void* q = ::operator new[](n, std::align_val_t(a));
      EXPECT_EQ((uintptr_t)q % a, 0u) << a << " " << n;
      ::operator delete[](q, std::align_val_t(a));
    }
  }
  volatile size_t not_pow2 = 48;
  EXPECT_THROW((void)::operator new(64, std::align_val_t(not_pow2)), std::bad_alloc);
}

TEST(NewDeleteTest, EveryFormFrees) {
  for (int i = 0; i < 1000; i++) {
    char* a = new char[i + 1];
    delete[] a;
    int* b = new int(i);
    delete b;
    void* c = ::operator new((size_t)i + 1);
    ::operator delete(c, (size_t)i + 1);
    void* d = ::operator new[]((size_t)i + 1);
    ::operator delete[](d, (size_t)i + 1);
  }
  delete static_cast<int*>(nullptr);
  ::operator delete(nullptr, std::align_val_t(64));
}

extern "C" __attribute__((noinline)) void* NewSite(size_t n) {
  char* p = new char[n];
  p[0] = 1;
  return p;
}

TEST(NewDeleteTest, TheSiteOfANewIsItsCaller) {
  char* p = static_cast<char*>(NewSite(300 << 10));  // large: its site is recorded
  uintptr_t f[HAK_SITE_FRAMES];
  ASSERT_GE(hak_site_frames(hak_large_lookup(p)->site, f, HAK_SITE_FRAMES), 1u);
  EXPECT_GT(f[0], (uintptr_t)&NewSite);
  EXPECT_LT(f[0], (uintptr_t)&NewSite + 256);
  delete[] p;
}

void CheckedMode() {
  hak_options.v[HAK_OPT_CHECK] = 1;
  hak_apply_options();
}

TEST(NewDeleteDeathTest, SizedDeleteOfTheWrongSizeAborts) {
  EXPECT_DEATH(
      {
        CheckedMode();
        void* p = ::operator new(100);
        ::operator delete(p, (size_t)200);
      },
      "sized free of 200 bytes of a block of 100 bytes at 0x");
  EXPECT_DEATH(
      {
        CheckedMode();
        void* p = ::operator new[](300 << 10);
        ::operator delete[](p, (size_t)(300 << 10) + 8);
      },
      "sized free of 307208 bytes of a block of 307200 bytes");
}

TEST(NewDeleteDeathTest, DeleteOfANewArrayAborts) {
  EXPECT_DEATH(
      {
        CheckedMode();
        void* p = ::operator new[](64);
        ::operator delete(p);
      },
      "delete of a block from new\\[\\] at 0x");
  EXPECT_DEATH(
      {
        CheckedMode();
        void* p = ::operator new(64);
        ::operator delete[](p);
      },
      "delete\\[\\] of a block from new at 0x");
}

TEST(NewDeleteTest, CheckedModeAcceptsMatchingPairs) {
  EXPECT_EXIT(
      {
        CheckedMode();
        void* p = ::operator new(100);
        ::operator delete(p, (size_t)100);
        char* q = new char[50];
        delete[] q;
        _exit(0);  // blocks from before checked mode was turned on are not checked ones
      },
      ::testing::ExitedWithCode(0), "");
}

}  // namespace
