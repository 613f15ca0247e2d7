// callsite_test.cc — sites seen through allocation wrappers: a wrapper is
// found and its requests are keyed by their callers; a function called from
// many places that allocates for itself stays one site; HAKMEM_SITE_WRAPPERS,
// HAKMEM_SITE_DEPTH and HAKMEM_SITE_WRAP; names; and the stack walk from
// every kind of stack (small thread stacks, a signal handler on
// sigaltstack, a stack full of code-like words) never crashes. Built twice:
// with and without frame pointers (callsite_test, callsite_nofp_test).
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>

#include <cstring>
#include <set>
#include <string>

#include "tests/test_util.h"

extern "C" {
#include "hakmem/callsite.h"
#include "hakmem/large.h"
#include "hakmem/learn.h"
#include "hakmem/site.h"
}

// The functions whose sites are checked have C names outside any
// namespace: dladdr finds them (the test is linked -rdynamic).
static constexpr size_t kLarge = 300 << 10;  // the large engine looks every request's site up

static char* volatile g_keep;

// The shape of xmalloc: check the result, hand it back.
extern "C" __attribute__((noinline)) void* test_xalloc(size_t n) {
  void* p = hak_alloc_cs(n);
  if (!p) abort();
  return p;
}

// A wrapper of the wrapper (not a tail call: then it would not be on the
// stack at all).
extern "C" __attribute__((noinline, disable_tail_calls)) void* test_outer_alloc(size_t n) {
  void* p = test_xalloc(n);
  g_keep = static_cast<char*>(p);
  return p;
}

// Called from many places, but allocates for itself.
extern "C" __attribute__((noinline)) size_t test_own_use(size_t n) {
  char* p = (char*)hak_alloc_cs(n);
  memset(p, 1, 64);
  g_keep = p;
  size_t r = (size_t)p[7];
  hak_free(g_keep);
  return r;
}

// Allocates for itself too; named in HAKMEM_SITE_WRAP in one test.
extern "C" __attribute__((noinline)) void* test_named_alloc(size_t n) {
  char* p = (char*)hak_alloc_cs(n);
  if (p) p[0] = 1;
  g_keep = p;
  return g_keep;
}

static hak_site_id_t SiteOf(void* p) { return hak_large_lookup(p)->site; }

// Three callers of each function; each returns the site of its request.
#define CALLERS(name, call)                                                          \
  extern "C" __attribute__((noinline)) hak_site_id_t name(void) {                   \
    void* p = call;                                                                  \
    hak_site_id_t id = SiteOf(p);                                                    \
    hak_free(p);                                                                     \
    return id;                                                                       \
  }
CALLERS(wrap_caller_a, test_xalloc(kLarge))
CALLERS(wrap_caller_b, test_xalloc(kLarge))
CALLERS(wrap_caller_c, test_xalloc(kLarge))
CALLERS(outer_caller_a, test_outer_alloc(kLarge))
CALLERS(outer_caller_b, test_outer_alloc(kLarge))
CALLERS(outer_caller_c, test_outer_alloc(kLarge))
CALLERS(named_caller_a, test_named_alloc(kLarge))
CALLERS(named_caller_b, test_named_alloc(kLarge))
extern "C" __attribute__((noinline)) void own_caller_a(void) { test_own_use(kLarge); }
extern "C" __attribute__((noinline)) void own_caller_b(void) { test_own_use(kLarge); }
extern "C" __attribute__((noinline)) void own_caller_c(void) { test_own_use(kLarge); }

namespace {

// ThreadSanitizer calls __tsan_func_exit after every call: the wrapper no
// longer hands rax straight back, so it is rightly not found.
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SKIP_IF_INSTRUMENTED() GTEST_SKIP() << "ThreadSanitizer instruments the wrapper's return"
#endif
#endif
#ifndef SKIP_IF_INSTRUMENTED
#define SKIP_IF_INSTRUMENTED() (void)0
#endif

std::string Name(hak_site_id_t id) {
  uintptr_t f[HAK_SITE_FRAMES];
  unsigned n = hak_site_frames(id, f, HAK_SITE_FRAMES);
  std::string s;
  for (unsigned k = 0; k < n; k++) {
    char b[160];
    hak_callsite_name(f[k], b, sizeof b);
    s += (k ? " < " : "") + std::string(b);
  }
  return s;
}

class CallsiteTest : public hakmem_test::HakTest {
 protected:
  void SetUp() override {
    HakTest::SetUp();
    hakmem_test::SetOption(HAK_OPT_SITE_WRAPPERS, 1);
    hak_learn_reset();  // with the site table: the front door's entries stand for its ids
    hak_site_reset();
  }
  void TearDown() override {
    hak_options_preset(HAK_MODE_BALANCED, &hak_options);
    hak_apply_options();
    hak_site_reset();
    HakTest::TearDown();
  }
  void Env(const char* var) {
    const char* env[] = {var, nullptr};
    hak_options_parse(env, false, &hak_options);
    hak_apply_options();
  }
};

TEST_F(CallsiteTest, WrapperIsKeyedByItsCallers) {
  SKIP_IF_INSTRUMENTED();
  // The first request finds the code hands rax back: a candidate, its own
  // site while it has one caller; the second caller makes it a wrapper.
  hak_site_id_t first = wrap_caller_a();
  EXPECT_EQ(wrap_caller_a(), first);
  EXPECT_NE(wrap_caller_b(), first);
  std::set<hak_site_id_t> ids;
  for (int i = 0; i < 3; i++) {
    ids.insert(wrap_caller_a());
    ids.insert(wrap_caller_b());
    ids.insert(wrap_caller_c());
  }
  EXPECT_EQ(ids.size(), 3u) << "one site per caller of the wrapper";
  for (hak_site_id_t id : ids) {
    uintptr_t f[HAK_SITE_FRAMES];
    ASSERT_EQ(hak_site_frames(id, f, HAK_SITE_FRAMES), 2u);  // the wrapper's return address + its caller
    EXPECT_EQ(hak_callsite_kind(f[0]), HAK_CALLSITE_WRAPPER);
    EXPECT_NE(Name(id).find("test_xalloc+0x"), std::string::npos) << Name(id);
    EXPECT_NE(Name(id).find("wrap_caller_"), std::string::npos) << Name(id);
  }
}

TEST_F(CallsiteTest, AWrapperOfAWrapperIsSeenThrough) {
  SKIP_IF_INSTRUMENTED();
  wrap_caller_a();
  wrap_caller_b();  // test_xalloc is a wrapper
  std::set<hak_site_id_t> ids;
  for (int i = 0; i < 3; i++) {
    ids.insert(outer_caller_a());
    ids.insert(outer_caller_b());
    ids.insert(outer_caller_c());
  }
  EXPECT_EQ(ids.size(), 3u) << "one site per caller of the outer wrapper";
  for (hak_site_id_t id : ids) {
    EXPECT_NE(Name(id).find("test_outer_alloc+0x"), std::string::npos) << Name(id);
    EXPECT_NE(Name(id).find("outer_caller_"), std::string::npos) << Name(id);
  }
}

TEST_F(CallsiteTest, FunctionAllocatingForItselfIsNotAWrapper) {
  own_caller_a();
  own_caller_b();
  own_caller_c();
  own_caller_a();
  own_caller_b();
  // Every request of test_own_use has the same site: its own return address.
  unsigned with_name = 0;
  for (unsigned i = 1; i < HAK_SITE_CAP; i++) {
    const hak_site_t* s = hak_site_get((hak_site_id_t)i);
    if (!s->allocs) continue;
    std::string n = Name((hak_site_id_t)i);
    if (n.find("test_own_use") != std::string::npos) {
      with_name++;
      uintptr_t f[HAK_SITE_FRAMES];
      EXPECT_EQ(hak_site_frames((hak_site_id_t)i, f, HAK_SITE_FRAMES), 1u);
      EXPECT_EQ(hak_callsite_kind(f[0]), HAK_CALLSITE_PLAIN);
      EXPECT_EQ(s->allocs, 5u);
    }
  }
  EXPECT_EQ(with_name, 1u);
}

TEST_F(CallsiteTest, DetectionOffGivesOneSite) {
  Env("HAKMEM_SITE_WRAPPERS=0");
  std::set<hak_site_id_t> ids;
  for (int i = 0; i < 3; i++) {
    ids.insert(wrap_caller_a());
    ids.insert(wrap_caller_b());
    ids.insert(wrap_caller_c());
  }
  EXPECT_EQ(ids.size(), 1u);
}

TEST_F(CallsiteTest, DepthTwoKeepsTwoFramesAboveTheWrapper) {
  SKIP_IF_INSTRUMENTED();
  Env("HAKMEM_SITE_DEPTH=2");
  wrap_caller_a();
  wrap_caller_b();
  hak_site_id_t id = wrap_caller_c();
  uintptr_t f[HAK_SITE_FRAMES];
  EXPECT_EQ(hak_site_frames(id, f, HAK_SITE_FRAMES), 3u);
}

TEST_F(CallsiteTest, NamedWrapperIsKeyedByItsCallers) {
  named_caller_a();
  hak_site_id_t a = named_caller_a(), b = named_caller_b();
  EXPECT_EQ(a, b) << "test_named_alloc uses its result: not found by itself";
  hak_site_reset();
  Env("HAKMEM_SITE_WRAP=other_name,test_named_alloc");
  named_caller_a();
  a = named_caller_a();
  b = named_caller_b();
  EXPECT_NE(a, b);
  EXPECT_NE(Name(b).find("named_caller_b"), std::string::npos) << Name(b);
}

TEST_F(CallsiteTest, PlainSiteHasOneFrame) {
  void* p = hak_alloc_cs(kLarge);
  uintptr_t f[HAK_SITE_FRAMES];
  ASSERT_EQ(hak_site_frames(SiteOf(p), f, HAK_SITE_FRAMES), 1u);
  EXPECT_NE(Name(SiteOf(p)).find("callsite"), std::string::npos) << Name(SiteOf(p));  // the test binary
  hak_free(p);
}

// --- the walk on every kind of stack --------------------------------------------------

__attribute__((noinline)) unsigned WalkDeep(int depth, uintptr_t* out) {
  volatile char pad[64];
  pad[0] = (char)depth;
  if (depth > 0) return WalkDeep(depth - 1, out) + pad[0] * 0;
  return hak_callsite_walk_here(out, 8);
}

void* WalkThread(void* arg) {
  uintptr_t out[8];
  unsigned n = WalkDeep(20, out);
  *(unsigned*)arg = n;
  hak_free(test_xalloc(kLarge));  // the walk through a wrapper, too
  return nullptr;
}

TEST_F(CallsiteTest, WalkFromASmallThreadStack) {
  for (size_t stack : {(size_t)PTHREAD_STACK_MIN, (size_t)64 << 10}) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, stack);
    unsigned n = 0;
    pthread_t t;
    ASSERT_EQ(pthread_create(&t, &attr, WalkThread, &n), 0);
    pthread_join(t, nullptr);
    pthread_attr_destroy(&attr);
    EXPECT_GE(n, 2u) << "frames above WalkDeep's caller were found";
    EXPECT_LE(n, 8u);
  }
}

unsigned g_handler_frames;
void* g_handler_block;

void OnSignal(int) {
  uintptr_t out[8];
  g_handler_frames = hak_callsite_walk_here(out, 8);
  g_handler_block = test_xalloc(kLarge);
}

// A thread whose signal stack lies right below its own stack, where a walk
// that trusted [sp, top) would run into the gap.
void* AltStackThread(void* arg) {
  stack_t ss = {};
  ss.ss_sp = arg;
  ss.ss_size = 64 << 10;
  sigaltstack(&ss, nullptr);
  raise(SIGUSR1);
  ss.ss_flags = SS_DISABLE;
  sigaltstack(&ss, nullptr);
  return nullptr;
}

TEST_F(CallsiteTest, WalkFromASignalHandlerOnSigaltstack) {
  wrap_caller_a();
  wrap_caller_b();  // test_xalloc is a wrapper: the handler's request walks
  struct sigaction sa = {}, old;
  sa.sa_handler = OnSignal;
  sa.sa_flags = SA_ONSTACK;
  sigaction(SIGUSR1, &sa, &old);
  // [guard][signal stack 64 KiB][guard][thread stack 64 KiB]
  size_t k64 = 64 << 10, page = 4096;
  char* m = (char*)mmap(nullptr, 2 * k64 + 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(m, MAP_FAILED);
  mprotect(m, page, PROT_NONE);
  mprotect(m + page + k64, page, PROT_NONE);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstack(&attr, m + 2 * page + k64, k64);
  pthread_t t;
  g_handler_frames = 99;
  ASSERT_EQ(pthread_create(&t, &attr, AltStackThread, m + page), 0);
  pthread_join(t, nullptr);
  pthread_attr_destroy(&attr);
  EXPECT_EQ(g_handler_frames, 1u) << "a signal stack is not walked";
  ASSERT_NE(g_handler_block, nullptr);
  hak_free(g_handler_block);
  // The main thread on a signal stack of its own.
  static char alt[64 << 10];
  stack_t ss = {};
  ss.ss_sp = alt;
  ss.ss_size = sizeof alt;
  sigaltstack(&ss, nullptr);
  raise(SIGUSR1);
  ss.ss_flags = SS_DISABLE;
  sigaltstack(&ss, nullptr);
  EXPECT_EQ(g_handler_frames, 1u);
  hak_free(g_handler_block);
  sigaction(SIGUSR1, &old, nullptr);
  munmap(m, 2 * k64 + 2 * page);
}

// A stack full of words that look like return addresses (code addresses
// after call-like bytes and not) must give a bounded, crash-free walk.
__attribute__((noinline)) unsigned WalkOverJunk(uintptr_t* out) {
  volatile uintptr_t junk[600];
  uintptr_t code = (uintptr_t)&WalkOverJunk;
  for (unsigned i = 0; i < 600; i++) junk[i] = i % 3 == 0 ? code + i : i % 3 == 1 ? (uintptr_t)&junk[i] : ~(uintptr_t)i;
  unsigned n = hak_callsite_walk_here(out, 8);
  return n + (unsigned)(junk[5] & 0);
}

TEST_F(CallsiteTest, WalkOverCodeLikeJunk) {
  uintptr_t out[8];
  unsigned n = WalkOverJunk(out);
  EXPECT_GE(n, 1u);
  EXPECT_LE(n, 8u);
  for (unsigned i = 0; i < n; i++) EXPECT_NE(out[i], 0u);
}

TEST_F(CallsiteTest, DecodesTheCodeAfterACall) {
  // ret; test rax,rax + je + ret; pop rbx + ret; add rsp,8 + ret
  static const unsigned char hands_back[][16] = {
      {0xc3},
      {0x48, 0x85, 0xc0, 0x74, 0x02, 0x5b, 0xc3, 0xe8, 0, 0, 0, 0},
      {0x48, 0x83, 0xc4, 0x08, 0xc3},
      {0x48, 0x89, 0xc3, 0x48, 0x89, 0xd8, 0xc3},  // mov rbx,rax; mov rax,rbx: writes rax
      {0x48, 0x89, 0xc7, 0xe8, 0, 0, 0, 0, 0xc3},     // passes it to another call
      {0x31, 0xc0, 0xc3},                             // xor eax,eax
  };
  static const int expect[] = {1, 1, 1, 0, 0, 0};
  for (unsigned i = 0; i < sizeof expect / sizeof expect[0]; i++) {
    // The decoder reads 16 bytes ahead of each instruction: copy into a page.
    static unsigned char code[4096] __attribute__((aligned(4096)));
    memset(code, 0xcc, sizeof code);
    memcpy(code, hands_back[i], sizeof hands_back[i]);
    EXPECT_EQ(hak_callsite_passes_through((uintptr_t)code), expect[i]) << "case " << i;
  }
}

}  // namespace
