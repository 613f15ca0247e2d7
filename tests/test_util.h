// test_util.h — shared helpers for hakmem's unit tests: option presets,
// a recorder on the OS seam, and a fixture that starts every test from a
// clean allocator (caches emptied, counters zero, default options).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <mutex>
#include <vector>

extern "C" {
#include "hakmem/alloc.h"
#include "hakmem/include/hakmem.h"
#include "hakmem/large.h"
#include "hakmem/checked.h"
#include "hakmem/learn.h"
#include "hakmem/options.h"
#include "hakmem/os.h"
#include "hakmem/site.h"
#include "hakmem/stats.h"
}

namespace hakmem_test {

struct OsCall {
  hak_os_call_t call;
  uintptr_t addr;
  size_t len;
  hak_advice_t advice;
  bool ok;
};

// Records every call through the OS seam (thread-safe). Optionally keeps
// advice from reaching the kernel and fails every Nth call of a kind.
class OsRecorder {
 public:
  OsRecorder() {
    std::memset(&hooks_, 0, sizeof hooks_);
    hooks_.observe = &OsRecorder::Observe;
    hooks_.ctx = this;
  }
  ~OsRecorder() { Detach(); }
  void Attach() { hak_os_set_hooks(&hooks_); }
  void Detach() { hak_os_set_hooks(nullptr); }
  hak_os_hooks_t& hooks() { return hooks_; }

  std::vector<OsCall> Calls() {
    std::lock_guard<std::mutex> g(mu_);
    return calls_;
  }
  void Clear() {
    std::lock_guard<std::mutex> g(mu_);
    calls_.clear();
  }
  size_t Count(hak_os_call_t c) {
    size_t n = 0;
    for (auto& x : Calls()) n += x.call == c;
    return n;
  }
  size_t CountAdvice(hak_advice_t a) {
    size_t n = 0;
    for (auto& x : Calls()) n += x.call == HAK_OS_ADVISE && x.advice == a;
    return n;
  }
  // Advice of kind a that covered address p.
  size_t AdviceCovering(hak_advice_t a, const void* p) {
    size_t n = 0;
    uintptr_t q = reinterpret_cast<uintptr_t>(p);
    for (auto& x : Calls()) n += x.call == HAK_OS_ADVISE && x.advice == a && x.addr <= q && q < x.addr + x.len;
    return n;
  }

 private:
  static void Observe(void* ctx, hak_os_call_t call, void* addr, size_t len, hak_advice_t advice, bool ok) {
    auto* self = static_cast<OsRecorder*>(ctx);
    std::lock_guard<std::mutex> g(self->mu_);
    self->calls_.push_back({call, reinterpret_cast<uintptr_t>(addr), len, advice, ok});
  }
  hak_os_hooks_t hooks_;
  std::mutex mu_;
  std::vector<OsCall> calls_;
};

// Sets the process's options to a mode's preset and applies them. The
// tests' helpers (SiteA, Calloc, ...) hand hak_* results straight back: they
// are wrappers, but each stands for a site of its own, so wrapper detection
// is off unless a test turns it on (callsite_test).
inline void UseMode(hak_mode_t mode) {
  hak_init();
  hak_trim();
  hak_options_t o;
  hak_options_preset(mode, &o);
  o.v[HAK_OPT_SITE_WRAPPERS] = 0;
  hak_options = o;
  hak_apply_options();
}

inline void SetOption(hak_opt_id_t id, uint64_t v) {
  hak_options.v[id] = v;
  hak_apply_options();
}

// An address as hakmem's messages print it, and the messages that name one.
inline std::string Hex(const void* p) {
  char b[32];
  std::snprintf(b, sizeof b, "0x%lx", (unsigned long)(uintptr_t)p);
  return b;
}
inline std::string DoubleFree(const void* p) { return "double free of " + Hex(p); }
inline std::string Invalid(const void* p) { return "invalid pointer " + Hex(p); }

// Checked mode's allocation-kind checks (the process runs checked mode) on
// two blocks of n bytes from alloc: a block marked operator new's is refused
// by free and by a delete of the wrong form or size, accepted by its own;
// malloc's is refused by delete.
template <typename AllocFn>
void ExpectKindChecks(AllocFn alloc, size_t n) {
  void* p = alloc(n);
  hak_checked_set_kind(p, HAK_KIND_NEW);
  EXPECT_DEATH(hak_free(p), "operator new") << n;
  EXPECT_DEATH(hak_checked_verify_free(p, HAK_KIND_NEW_ARRAY, 0), "do not match") << n;
  EXPECT_DEATH(hak_checked_verify_free(p, HAK_KIND_NEW, n + 1), "wrong size") << n;
  hak_checked_verify_free(p, HAK_KIND_NEW, n);  // sized delete, right size
  hak_free(p);                                  // now accepted as malloc's
  void* m = alloc(n);
  EXPECT_DEATH(hak_checked_verify_free(m, HAK_KIND_NEW, 0), "do not match") << n;
  hak_checked_verify_free(m, HAK_KIND_MALLOC, n);  // free_sized, right size
  hak_free(m);
}

// Every test starts from BALANCED with empty caches and zero counters.
class HakTest : public ::testing::Test {
 protected:
  void SetUp() override {
    UseMode(HAK_MODE_BALANCED);
    hak_stats_reset();
    // The steady state: a site's first large free (which unmaps) is behind it.
    hak_large_set_freed_before(true);
  }
  void TearDown() override {
    rec_.Detach();
    hak_trim();
    UseMode(HAK_MODE_BALANCED);
  }
  static uint64_t Stat(hak_stat_id_t id) { return hak_stat_read(id); }
  OsRecorder rec_;
};

// The same, with the learning engine's and the site table's state emptied too.
class HakSiteTest : public HakTest {
 protected:
  void SetUp() override {
    HakTest::SetUp();
    hak_learn_reset();
    hak_site_reset();
  }
  void TearDown() override {
    hak_learn_reset();
    HakTest::TearDown();
  }
};

// Deterministic fill and check, tied to an id, so swapped blocks are caught.
inline void Fill(void* p, size_t n, uint32_t id) {
  auto* b = static_cast<unsigned char*>(p);
  for (size_t i = 0; i < n; i++) b[i] = static_cast<unsigned char>((i * 131u + id * 7u) ^ (id >> 3));
}
inline bool Check(const void* p, size_t n, uint32_t id) {
  auto* b = static_cast<const unsigned char*>(p);
  for (size_t i = 0; i < n; i++)
    if (b[i] != static_cast<unsigned char>((i * 131u + id * 7u) ^ (id >> 3))) return false;
  return true;
}
// Sparse variants for big blocks: one byte per page plus the last byte.
inline void FillSparse(void* p, size_t n, uint32_t id) {
  auto* b = static_cast<unsigned char*>(p);
  for (size_t i = 0; i + 1 < n; i += 4096) b[i] = static_cast<unsigned char>(i / 4096 + id);
  if (n) b[n - 1] = static_cast<unsigned char>(id ^ 0x5a);
}
inline bool CheckSparse(const void* p, size_t n, uint32_t id) {
  auto* b = static_cast<const unsigned char*>(p);
  for (size_t i = 0; i + 1 < n; i += 4096)
    if (b[i] != static_cast<unsigned char>(i / 4096 + id)) return false;
  return !n || b[n - 1] == static_cast<unsigned char>(id ^ 0x5a);
}
inline bool AllZero(const void* p, size_t n) {
  auto* b = static_cast<const unsigned char*>(p);
  for (size_t i = 0; i < n; i++)
    if (b[i]) return false;
  return true;
}

}  // namespace hakmem_test
