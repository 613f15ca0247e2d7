// remote_test.cc — batched remote frees (heap_free.c): a thread's frees of
// another heap's blocks wait in a batch and reach the owner's remote list
// whole (full batch, thread exit, trim, fork); a block waiting in a batch is
// still caught when freed again, by the same thread, by the owner or by a
// third thread; no block is lost: after an exit, in a fork child, and in
// the counters (every remote free drained, the pool memory back to its
// baseline after a trim).
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

// heap_free.c's batch size: a batch goes out when it holds this many.
constexpr int kBatch = 32;

std::string DoubleFree(const void* p) {
  char b[64];
  std::snprintf(b, sizeof b, "double free of 0x%lx", (unsigned long)(uintptr_t)p);
  return b;
}

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

// A thread that frees what it is given and stays alive until told to go, so
// that its batches wait.
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

TEST_F(RemoteTest, FreesWaitUntilTheBatchIsFull) {
  std::vector<char*> v;
  for (int i = 0; i < 2 * kBatch; i++) v.push_back(Alloc(64));
  hak_trim();  // nothing of ours waits on the remote list
  ASSERT_TRUE(RemoteList().empty());
  {
    Freer f(std::vector<char*>(v.begin(), v.begin() + kBatch - 1));
    EXPECT_TRUE(RemoteList().empty()) << "a batch short of full went out";
    EXPECT_TRUE(f.valid()) << "the walker rejected the waiting batch";
    f.Exit();  // thread exit: the batch goes out
    std::vector<const void*> r = RemoteList();
    EXPECT_EQ(r.size(), (size_t)kBatch - 1);
    for (int i = 0; i < kBatch - 1; i++) EXPECT_NE(std::find(r.begin(), r.end(), v[i]), r.end()) << i;
  }
  hak_trim();
  {
    Freer f(std::vector<char*>(v.begin() + kBatch - 1, v.end()));  // 33 frees: one batch out, one block waits
    std::vector<const void*> r = RemoteList();
    EXPECT_EQ(r.size(), (size_t)kBatch);
    EXPECT_EQ(std::find(r.begin(), r.end(), v.back()), r.end()) << "the 33rd free went out with the batch";
  }
  EXPECT_EQ(RemoteList().size(), (size_t)kBatch + 1);
  hak_trim();
  EXPECT_TRUE(hak_heap_is_valid());
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

TEST_F(RemoteDeathTest, SecondFreeOfABatchedBlockBySameThread) {
  char* a = Alloc(64);
  EXPECT_DEATH(std::thread([a] {
                 hak_free(a);
                 hak_free(a);
               }).join(),
               DoubleFree(a));
  hak_free(a);
}

// a waits in the batch of a live freer while `again` frees it a second time.
void ExpectDoubleFreeWhileWaiting(const std::function<void(char*)>& again) {
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
TEST_F(RemoteDeathTest, OwnerFreesABlockWaitingInAnotherThreadsBatch) {
  ExpectDoubleFreeWhileWaiting([](char* a) { hak_free(a); });
}

// A third thread cannot look: the block is a suspect until the owner's
// next slow path, which finds it waiting.
TEST_F(RemoteDeathTest, ThirdThreadFreesABlockWaitingInABatch) {
  ExpectDoubleFreeWhileWaiting([](char* a) {
    std::thread([a] { hak_free(a); }).join();
    hak_trim();
  });
}

// A live block holding the key's value (and a link word of its own) freed
// by another thread is still no double free.
TEST_F(RemoteTest, KeyValueInALiveBlockIsNotTakenForAWaitingOne) {
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

// fork() while another thread's batch waits: in the child that thread is
// gone; its batch goes home there, and in the parent when it exits.
TEST_F(RemoteTest, ForkWithAWaitingBatch) {
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
  GTEST_SKIP() << "ThreadSanitizer does not support threads in the child of a multi-threaded fork";
#endif
#endif
  constexpr int kWaiting = 10;
  char* keep = Alloc(48);
  std::vector<char*> v;
  for (int i = 0; i < kWaiting; i++) v.push_back(Alloc(48));
  std::set<char*> freed(v.begin(), v.end());
  auto all_back = [&] {
    hak_trim();
    std::vector<char*> w;
    for (int i = 0; i < kWaiting; i++) w.push_back(Alloc(48));
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
  // Two freers, each its own share, exiting with a batch part full.
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
