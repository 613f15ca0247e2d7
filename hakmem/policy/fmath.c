/* fmath.c — ln and exp without libm (layer L4). See fmath.h.
 *
 * Both reduce the argument with the exact split x = k ln 2 + r (ln 2 as a
 * high part with 20 trailing zero bits, so k * LN2_HI is exact for every k
 * the range allows, plus the low part), then sum a short series that is
 * already below half an ulp at the edge of the reduced range.
 */
#include "hakmem/policy/fmath.h"

#include <stdint.h>
#include <string.h>

#define LN2_HI 0x1.62e42fef00000p-1
#define LN2_LO 0x1.473de6af278edp-34
#define INV_LN2 0x1.71547652b82fep+0
#define LN10 0x1.26bb1bbb55516p+1
#define LN10_LO -0x1.f48ad494ea3e9p-53
#define SQRT2 0x1.6a09e667f3bcdp+0

static inline uint64_t bits_of(double x) {
  uint64_t b;
  memcpy(&b, &x, sizeof b);
  return b;
}
static inline double double_of(uint64_t b) {
  double x;
  memcpy(&x, &b, sizeof x);
  return x;
}
// 2^k for a normal exponent (-1022 <= k <= 1023).
static inline double pow2(int k) { return double_of((uint64_t)(k + 1023) << 52); }

double hak_fmath_ln(double x) {
  if (x != x || x < 0) return __builtin_nan("");
  if (x == 0) return -__builtin_inf();
  if (x == __builtin_inf()) return x;
  int e = 0;
  if (x < 0x1p-1022) {  // subnormal: make it normal first
    x *= 0x1p54;
    e = -54;
  }
  uint64_t b = bits_of(x);
  e += (int)((b >> 52) & 0x7ff) - 1023;
  double m = double_of((b & ((1ull << 52) - 1)) | (1023ull << 52));  // [1, 2)
  if (m > SQRT2) {
    m *= 0.5;  // [sqrt(1/2), sqrt(2)]: |s| below 0.172
    e++;
  }
  // ln m = 2 atanh(s) = 2 (s + s^3/3 + s^5/5 + ...), s = (m - 1) / (m + 1).
  double f = m - 1, s = f / (2 + f), z = s * s;
  double r = 1.0 / 23;
  for (int k = 21; k >= 3; k -= 2) r = 1.0 / k + z * r;
  double ln_m = 2 * s + 2 * s * (z * r);
  return (double)e * LN2_HI + (ln_m + (double)e * LN2_LO);
}

double hak_fmath_exp(double x) {
  if (x != x) return x;
  if (x > 709.8) return __builtin_inf();
  if (x < -745.2) return 0.0;
  double kd = x * INV_LN2;
  int k = (int)(kd < 0 ? kd - 0.5 : kd + 0.5);
  double r = (x - (double)k * LN2_HI) - (double)k * LN2_LO;  // |r| <= ln2/2 (+ rounding)
  // e^r = 1 + r (1 + r/2 (1 + r/3 (1 + ...))), to r^14/14!.
  double p = 1;
  for (int n = 14; n >= 1; n--) p = 1 + p * r / n;
  // Scale in two halves: both stay normal even where 2^k alone is not.
  int k1 = k / 2, k2 = k - k1;
  return p * pow2(k1) * pow2(k2);
}

// a = hi + lo with each half 26 bits wide, so that products of halves are exact.
static inline void split(double a, double *hi, double *lo) {
  double c = 134217729.0 * a;  // 2^27 + 1
  *hi = c - (c - a);
  *lo = a - *hi;
}

// y ln 10 rounded once costs its relative error times |y ln 10| in the
// result (10 ulps at y = 3): the rounding error of the product (Dekker's
// exact product, no fma needed) and ln 10's own low part go in as a
// first-order correction instead.
double hak_fmath_pow10(double y) {
  double x = y * LN10, yh, yl, lh, ll;
  split(y, &yh, &yl);
  split(LN10, &lh, &ll);
  double err = ((yh * lh - x) + yh * ll + yl * lh) + yl * ll + y * LN10_LO;
  return hak_fmath_exp(x) * (1 + err);
}
