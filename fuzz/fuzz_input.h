/* fuzz_input.h — reading a libFuzzer input as a stream of choices, and the
 * harnesses' invariant check (fuzz/ only).
 *
 * Every read succeeds: past the end of the input, reads return zeros, so a
 * harness never has to check lengths and a truncated input is still a valid
 * (shorter) program. FUZZ_CHECK prints what broke and aborts, which libFuzzer
 * reports as a crash and saves as a crash-* file.
 */
#ifndef HAK_FUZZ_INPUT_H
#define HAK_FUZZ_INPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct fuzz_in {
  const uint8_t *p;
  size_t n;
} fuzz_in_t;

static inline bool in_more(const fuzz_in_t *in) { return in->n > 0; }

static inline uint8_t in_u8(fuzz_in_t *in) {
  if (!in->n) return 0;
  in->n--;
  return *in->p++;
}

static inline uint16_t in_u16(fuzz_in_t *in) { return (uint16_t)(in_u8(in) | (unsigned)in_u8(in) << 8); }
static inline uint32_t in_u32(fuzz_in_t *in) { return in_u16(in) | (uint32_t)in_u16(in) << 16; }
static inline uint64_t in_u64(fuzz_in_t *in) { return in_u32(in) | (uint64_t)in_u32(in) << 32; }

/* A value in [lo, hi] from the next 4 bytes (8 when the span needs them). */
static inline uint64_t in_range(fuzz_in_t *in, uint64_t lo, uint64_t hi) {
  uint64_t span = hi - lo;
  if (span == UINT64_MAX) return in_u64(in);
  uint64_t r = span <= UINT32_MAX ? in_u32(in) : in_u64(in);
  return lo + r % (span + 1);
}

/* The stride of the pages a harness samples in a block of req bytes (its
 * patterns, its zero checks): every page up to 64 KiB, past that about 16
 * (a power of two of at least 8 KiB). Each sample of a fresh block is a page
 * fault: sampling every page of blocks up to 1 MiB (malloc_api) or 4 MiB
 * (threads) made the faults most of an input's time. */
static inline size_t fuzz_stride(size_t req) {
  if (req <= ((size_t)64 << 10)) return 4096;
  size_t s = 8192;
  while (s < req / 16) s <<= 1;
  return s;
}

/* For the checks coverage_ignore.txt leaves out of coverage instrumentation:
 * SanitizerCoverage runs after inlining, and the ignore list goes by the
 * function the code ends up in, so a check inlined into a traced caller was
 * traced again (perf: malloc_api's check_zero and fill inlined into adopt,
 * a tenth of its time in __sanitizer_cov_trace_*cmp*). */
#define FUZZ_UNTRACED __attribute__((noinline))

#define FUZZ_CHECK(cond, ...)                                                     \
  do {                                                                          \
    if (!(cond)) {                                                              \
      fprintf(stderr, "%s:%d: invariant failed: %s\n  ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                                             \
      fputc('\n', stderr);                                                      \
      abort();                                                                  \
    }                                                                           \
  } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#endif /* HAK_FUZZ_INPUT_H */
