// fork_modes_test.cc — fork() while other threads allocate, in every mode
// (MINIMAL, FAST, BALANCED, LEARNING, RESEARCH) and in checked mode: the
// child must allocate, free and exit within its alarm, with the learning
// engine's walker true. The threads mix small and large blocks from a few
// call sites, which LEARNING and RESEARCH decide with windows of 16
// requests (window ends, wake-ups and new sites' state all take the
// learning engine's locks), and new call sites (each one's state is made
// under the learning arena lock).
// Each mode runs in a process of its own: the test re-executes this binary
// with the mode's environment, as the whole process must start in it.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

extern "C" {
#include "hakmem/alloc.h"
#include "hakmem/heap.h"
#include "hakmem/include/hakmem.h"
#include "hakmem/learn.h"
}

namespace {

constexpr int kForks = 100;
constexpr uintptr_t kSharedSite = 0x5100;  // kShared sites the threads and the children use
constexpr unsigned kShared = 8;

size_t SizeFor(uint64_t x) {
  switch (x % 4) {
    case 0: return (x >> 8) % 2048;                 // pools
    case 1: return 64 * 1024 + (x >> 8) % (64 * 1024);   // the learning engine's sites, below 256 KiB
    case 2: return 256 * 1024 + (x >> 8) % (768 * 1024);  // ... above
    default: return (x >> 8) % 20000;
  }
}

// The child: allocate and free from the shared sites and new ones, take
// every learning lock, check the learning walker. Exit status 0 when all is
// well.
[[noreturn]] void Child(const std::vector<void*>& pre, unsigned fork_no) {
  alarm(10);  // a lock inherited held makes the child spin: SIGALRM ends it
  uint64_t x = 99 + fork_no;
  for (int k = 0; k < 1000; k++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    uintptr_t site = k % 10 == 0 ? 0x900000 + fork_no * 64 + k / 10 : kSharedSite + x % kShared;
    size_t n = SizeFor(x);
    void* p = hak_alloc_at(n, site);
    if (!p) _exit(4);
    memset(p, 1, n < 64 ? n : 64);
    hak_free(p);
  }
  for (void* p : pre) {
    void* q = hak_realloc(p, 5000);
    if (!q) _exit(5);
    hak_free(q);
  }
  if (hak_learn_on) {  // every site lock can be taken
    for (unsigned i = 0; i < HAK_SITE_CAP; i++) {
      uint64_t w = hak_learn_policy_word((hak_site_id_t)i);
      if (w) hak_learn_set_policy_word((hak_site_id_t)i, w);
    }
  }
  // The walkers of the learning engine and of every heap: the child took
  // over the heaps of the threads it does not have, which fork may have
  // caught anywhere in a malloc or free (heap.c makes them whole again).
  _exit(!hak_learn_is_valid() ? 3 : !hak_heap_all_valid() ? 6 : 0);
}

// One mode's whole run (this process was started in it). 0: every child
// exited cleanly.
int RunMode() {
  std::atomic<bool> stop{false};
  std::atomic<unsigned> new_sites{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 3; t++)
    ts.emplace_back([&, t] {
      std::vector<void*> v(48, nullptr);
      uint64_t x = 7 + t;
      while (!stop) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t k = x % v.size();
        hak_free(v[k]);
        uintptr_t site = kSharedSite + (x >> 40) % kShared;
        if ((x & 255) == 0 && new_sites < 400) site = 0x700000 + new_sites++;  // a site never seen
        v[k] = hak_alloc_at(SizeFor(x >> 3), site);
      }
      for (void* p : v) hak_free(p);
    });
  std::vector<void*> pre;
  for (int i = 0; i < 16; i++) pre.push_back(hak_alloc_at(100 * i + 1, 9));
  pre.push_back(hak_alloc_at(300 << 10, kSharedSite));
  int failed = 0;
  std::thread forker([&] {
    for (int i = 0; i < kForks; i++) {
      pid_t pid = fork();
      if (pid == 0) Child(pre, (unsigned)i);
      int status = 0;
      waitpid(pid, &status, 0);
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        failed++;
        if (WIFSIGNALED(status)) fprintf(stderr, "fork %d: child killed by signal %d\n", i, WTERMSIG(status));
        else fprintf(stderr, "fork %d: child exited with %d\n", i, WEXITSTATUS(status));
      }
    }
  });
  forker.join();
  stop = true;
  for (auto& th : ts) th.join();
  for (void* p : pre) hak_free(p);
  if (!hak_heap_is_valid() || !hak_learn_is_valid()) failed++;
  return failed ? 1 : 0;
}

struct Mode {
  const char* name;
  const char* mode;
  bool checked;
};

class ForkModes : public ::testing::TestWithParam<Mode> {};

TEST_P(ForkModes, ChildAllocatesFreesAndExits) {
  const Mode& m = GetParam();
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    setenv("FORK_MODES_RUN", "1", 1);
    setenv("HAKMEM_MODE", m.mode, 1);
    setenv("HAKMEM_CHECK", m.checked ? "1" : "0", 1);
    setenv("HAKMEM_EVO_WINDOW_OPS", "16", 1);
    setenv("HAKMEM_EVO_WINDOW_MS", "1", 1);
    setenv("HAKMEM_EVO_MIN_LEARN_MS", "0", 1);
    setenv("HAKMEM_EVO_WATCH_MS", "1", 1);
    setenv("HAKMEM_VERBOSE", "0", 1);
    alarm(240);
    char self[] = "/proc/self/exe";
    char* argv[] = {self, nullptr};
    execv(self, argv);
    _exit(127);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status)) << m.name << ": killed by signal " << (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  EXPECT_EQ(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 0) << m.name << ": a forked child failed (see stderr)";
}

INSTANTIATE_TEST_SUITE_P(AllModes, ForkModes,
                         ::testing::Values(Mode{"MINIMAL", "MINIMAL", false}, Mode{"FAST", "FAST", false},
                                           Mode{"BALANCED", "BALANCED", false},
                                           Mode{"LEARNING", "LEARNING", false},
                                           Mode{"RESEARCH", "RESEARCH", false}, Mode{"CHECKED", "BALANCED", true}),
                         [](const ::testing::TestParamInfo<Mode>& i) { return std::string(i.param.name); });

}  // namespace

int main(int argc, char** argv) {
  if (getenv("FORK_MODES_RUN")) {
    hak_init();
    return RunMode();
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
