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

#endif /* HAK_FUZZ_INPUT_H */
