/* cxx_sized.cc — C++ allocation as a C++ program does it: new and delete of
 * class objects through a virtual base (the deleting destructor calls the
 * sized operator delete(void*, size_t) with the object's real size), and
 * raw buffers from ::operator new(n) returned with ::operator delete(p, n).
 * Built with -fsized-deallocation, so every delete passes its size: an
 * allocator can use it instead of looking the size up.
 *
 * Each of --threads threads (default 2) keeps 4096 live objects and replaces
 * a random one per op: half of them objects of 8 classes of 32 B – 4 KiB,
 * half buffers of 8 B – 4 KiB (log-uniform). No object crosses threads.
 * Parameters: SLOTS per thread, 2,000,000 ops x --scale in total.
 * One op = check + sized delete of the old object + new + fill of a new one.
 */
#include <pthread.h>

#include <cstdlib>
#include <new>

#include "compare/workloads/common.h"

namespace {

constexpr unsigned kSlots = 4096;
constexpr size_t kMaxBuffer = 4096;

struct Obj {
  uint64_t tag;
  explicit Obj(uint64_t t) : tag(t) {}
  virtual ~Obj() = default;
  virtual size_t payload_size() const = 0;
  virtual unsigned char *payload() = 0;
};

template <size_t N>
struct Sized final : Obj {
  static_assert(N > sizeof(Obj) + 8, "payload of at least 8 bytes");
  unsigned char data[N - sizeof(Obj)];
  explicit Sized(uint64_t t) : Obj(t) { wl_fill(data, sizeof data, t); }
  size_t payload_size() const override { return sizeof data; }
  unsigned char *payload() override { return data; }
};

Obj *make(unsigned kind, uint64_t tag) {
  switch (kind) {
    case 0: return new Sized<32>(tag);
    case 1: return new Sized<48>(tag);
    case 2: return new Sized<64>(tag);
    case 3: return new Sized<128>(tag);
    case 4: return new Sized<256>(tag);
    case 5: return new Sized<640>(tag);
    case 6: return new Sized<1024>(tag);
    default: return new Sized<4096>(tag);
  }
}

struct Slot {
  Obj *obj;     // a class object, or
  void *buf;    // a raw buffer of len bytes
  size_t len;
  uint64_t tag;
};

struct Worker {
  int id;
  uint64_t ops;
  uint64_t seed;
  uint64_t sum;
  char pad[64];  // keep workers' results on separate lines
};

uint64_t release(Slot &s) {
  uint64_t sum = 0;
  if (s.obj) {
    sum = wl_check(s.obj->payload(), s.obj->payload_size(), s.obj->tag, "C++ object");
    delete s.obj;  // virtual: Sized<N>'s deleting destructor calls operator delete(p, N)
  } else if (s.buf) {
    sum = wl_check(s.buf, s.len, s.tag, "C++ buffer");
    ::operator delete(s.buf, s.len);
  }
  s = Slot{nullptr, nullptr, 0, 0};
  return sum;
}

void *run(void *arg) {
  Worker *w = static_cast<Worker *>(arg);
  wl_rng_t rng = wl_rng(w->seed, 600 + static_cast<uint64_t>(w->id));
  Slot *slots = new Slot[kSlots]();
  uint64_t sum = 0;
  for (uint64_t i = 0; i < w->ops; i++) {
    Slot &s = slots[wl_next(&rng) % kSlots];
    sum += release(s);
    s.tag = wl_next(&rng);
    if (wl_next(&rng) & 1) {
      s.obj = make(static_cast<unsigned>(wl_next(&rng) % 8), s.tag);
      wl_escape(s.obj);
    } else {
      s.len = wl_small_size(&rng, kMaxBuffer);
      s.buf = ::operator new(s.len);
      wl_escape(s.buf);
      wl_fill(s.buf, s.len, s.tag);
    }
  }
  for (unsigned k = 0; k < kSlots; k++) sum += release(slots[k]);
  delete[] slots;
  w->sum = sum;
  return nullptr;
}

}  // namespace

int main(int argc, char **argv) {
  wl_args_t args;
  wl_parse_args(argc, argv, &args, "cxx-sized", 2,
                "C++ new/delete with sized delete: class objects of 32 B - 4 KiB, buffers of 8 B - 4 KiB.");
  const int t = args.threads;
  const uint64_t total = wl_scaled(&args, 2000000);
  const uint64_t per = total / static_cast<uint64_t>(t) > 0 ? total / static_cast<uint64_t>(t) : 1;
  Worker *w = new Worker[t]();
  pthread_t *tids = new pthread_t[t];

  uint64_t t0 = wl_now_ns(), c0 = wl_cpu_ns();
  for (int i = 0; i < t; i++) {
    w[i].id = i;
    w[i].ops = per;
    w[i].seed = args.seed;
    if (pthread_create(&tids[i], nullptr, run, &w[i]) != 0) wl_fail("pthread_create");
  }
  uint64_t sum = 0;
  for (int i = 0; i < t; i++) {
    pthread_join(tids[i], nullptr);
    sum += w[i].sum;
  }
  uint64_t t1 = wl_now_ns(), c1 = wl_cpu_ns();
  delete[] tids;
  delete[] w;

  const uint64_t ops = per * static_cast<uint64_t>(t);
  wl_result_t res = {};
  res.ops = ops;
  res.elapsed_ns = t1 - t0;
  res.checksum = sum;
  wl_extra(&res, "cpu_ns_per_op", static_cast<double>(c1 - c0) / static_cast<double>(ops));
  wl_report(&args, &res);
  return 0;
}
