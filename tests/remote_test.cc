// remote_test.cc — remote frees (heap_free.c): a block another thread freed
// is on the owner's remote list once that thread is done with it (every one
// of them, also after the freer exits) and the owner reuses it; a second
// free of it aborts, whether by the same thread, the owner or a third
// thread, and also while the freer is still alive; a live block holding the
// key's value is no double free; fork() with a freer alive loses nothing in
// the child; the counters balance (every remote free drained once, the pool
// memory back to its baseline after a trim).
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <functional>
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

class RemoteTest : public HakTest {};
using RemoteDeathTest = RemoteTest;

char* Alloc(size_t n) { return static_cast<char*>(hak_alloc_at(n, 13)); }

// The blocks on this thread's heap's remote list, following the encoded links.
std::vector<const void*> RemoteList() {
  std::vector<const void*> v;
  const hak_block_t* b = atomic_load(&hak_tls_heap->remote);
  while (b && v.size() < 100000) {
    v.push_back(b);
    b = reinterpret_cast<const hak_block_t*>(b->link ^ ((uintptr_t)b >> 12) ^ hak_pool_secret);
  }
  return v;
}

// A thread that frees what it is given and stays alive until told to go
// (whatever a freer keeps for later, it keeps meanwhile).
class Freer {
 public:
  explicit Freer(std::vector<char*> v) : v_(std::move(v)) {
    t_ = std::thread([this] {
      for (char* p : v_) hak_free(p);
      valid_ = hak_heap_is_valid();
      freed_ = true;
      while (!go_) std::this_thread::yield();
    });
    while (!freed_) std::this_thread::yield();
  }
  ~Freer() { Exit(); }
  void Exit() {
    go_ = true;
    if (t_.joinable()) t_.join();
  }
  bool valid() const { return valid_; }

 private:
  std::vector<char*> v_;
  std::thread t_;
  std::atomic<bool> freed_{false}, go_{false}, valid_{false};
};

// Whatever a live freer holds back, its exit sends on: then every block it
// freed is on the owner's remote list, once.
TEST_F(RemoteTest, EveryFreeReachesTheOwnersListByTheFreersExit) {
  for (int n : {1, 31, 32, 33, 100}) {
    std::vector<char*> v;
    for (int i = 0; i < n; i++) v.push_back(Alloc(64));
    hak_trim();  // nothing of ours waits on the remote list
    ASSERT_TRUE(RemoteList().empty());
    {
      Freer f(v);
      EXPECT_TRUE(f.valid()) << n;
    }
    std::vector<const void*> r = RemoteList();
    std::sort(r.begin(), r.end());
    EXPECT_EQ(std::unique(r.begin(), r.end()), r.end()) << n;
    EXPECT_EQ(r.size(), (size_t)n);
    for (char* p : v) EXPECT_TRUE(std::binary_search(r.begin(), r.end(), p)) << n;
    hak_trim();
    EXPECT_TRUE(hak_heap_is_valid());
  }
}

// The owner reuses a block another thread freed just before it exited.
TEST_F(RemoteTest, BlockOfAnExitedFreerIsReused) {
  char* keep = Alloc(64);  // the page stays in use, so the block comes back on it
  char* a = Alloc(64);
  std::thread([a] { hak_free(a); }).join();
  hak_trim();  // the owner drains: a is its page's head
  EXPECT_EQ(Alloc(64), a);
  hak_free(a);
  hak_free(keep);
}

// Caught by the freeing thread or, at the latest, by the owner's next slow
// path (the second free is a suspect).
TEST_F(RemoteDeathTest, SecondFreeByTheSameThread) {
  char* a = Alloc(64);
  EXPECT_DEATH(
      {
        std::thread([a] {
          hak_free(a);
          hak_free(a);
        }).join();
        hak_trim();
      },
      DoubleFree(a));
  hak_free(a);
}

// a was freed by a freer that is still alive when `again` frees it a second
// time.
void ExpectDoubleFreeWithTheFreerAlive(const std::function<void(char*)>& again) {
  char* a = Alloc(64);
  char* keep = Alloc(64);
  EXPECT_DEATH(
      {
        Freer f({a});
        again(a);
      },
      DoubleFree(a));
  hak_free(a);
  hak_free(keep);
}

// The owner's free of the block aborts at once.
TEST_F(RemoteDeathTest, OwnerFreesABlockALiveThreadFreed) {
  ExpectDoubleFreeWithTheFreerAlive([](char* a) { hak_free(a); });
}

// A third thread cannot look: the block is a suspect until the owner's
// next slow path, which finds it freed.
TEST_F(RemoteDeathTest, ThirdThreadFreesABlockALiveThreadFreed) {
  ExpectDoubleFreeWithTheFreerAlive([](char* a) {
    std::thread([a] { hak_free(a); }).join();
    hak_trim();
  });
}

// A live block holding the key's value (and a link word of its own) freed
// by a thread that stays alive is still no double free.
TEST_F(RemoteTest, KeyValueInALiveBlockIsNoDoubleFree) {
  std::vector<char*> v;
  for (int i = 0; i < 4; i++) {
    char* p = Alloc(64);
    memcpy(p + 8, &hak_pool_key, 8);
    v.push_back(p);
  }
  {
    Freer f(v);
    hak_trim();  // settles the suspects with the freer alive
  }
  hak_trim();
  EXPECT_TRUE(hak_heap_is_valid());
  std::vector<char*> w;
  for (int i = 0; i < 64; i++) w.push_back(Alloc(64));
  std::sort(w.begin(), w.end());
  EXPECT_EQ(std::unique(w.begin(), w.end()), w.end());
  for (char* p : w) hak_free(p);
}

// fork() right after another thread freed blocks, that thread still alive:
// in the child it is gone, and its frees must still reach the owner there,
// as in the parent once it exits.
TEST_F(RemoteTest, ForkWithALiveFreer) {
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
  GTEST_SKIP() << "ThreadSanitizer does not support threads in the child of a multi-threaded fork";
#endif
#endif
  constexpr int kFreed = 10;
  char* keep = Alloc(48);
  std::vector<char*> v;
  for (int i = 0; i < kFreed; i++) v.push_back(Alloc(48));
  std::set<char*> freed(v.begin(), v.end());
  auto all_back = [&] {
    hak_trim();
    std::vector<char*> w;
    for (int i = 0; i < kFreed; i++) w.push_back(Alloc(48));
    bool ok = std::all_of(w.begin(), w.end(), [&](char* p) { return freed.count(p); });
    for (char* p : w) hak_free(p);
    return ok && hak_heap_is_valid();
  };
  Freer f(v);
  pid_t pid = fork();
  if (pid == 0) {
    alarm(10);
    _exit(all_back() ? 0 : 1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  f.Exit();
  EXPECT_TRUE(all_back());
  hak_free(keep);
}

// Counts balance: every remote free is drained once, and once the blocks are
// back the pool memory returns to its baseline.
TEST_F(RemoteTest, CountsBalance) {
  hak_trim();
  const uint64_t mapped = Stat(HAK_STAT_os_bytes_mapped_pools), drained = Stat(HAK_STAT_remote_frees);
  constexpr int kBlocks = 20000;
  std::vector<char*> v;
  for (int i = 0; i < kBlocks; i++) v.push_back(Alloc(16 + (i * 37) % 1000));
  EXPECT_GT(Stat(HAK_STAT_os_bytes_mapped_pools), mapped);
  // Two freers, each its own share.
  std::thread t1([&] {
    for (int i = 0; i < kBlocks; i += 2) hak_free(v[i]);
  });
  std::thread t2([&] {
    for (int i = 1; i < kBlocks; i += 2) hak_free(v[i]);
  });
  t1.join();
  t2.join();
  hak_trim();
  EXPECT_EQ(Stat(HAK_STAT_remote_frees) - drained, (uint64_t)kBlocks);
  EXPECT_EQ(Stat(HAK_STAT_os_bytes_mapped_pools), mapped);
  EXPECT_TRUE(hak_heap_is_valid());
}

}  // namespace
