// fmath_test.cc — hakmem's own ln, exp and 10^y (hakmem/policy/fmath.h)
// against libm's over their whole range: within a few ulps everywhere, the
// special values exactly as C answers them, and the exact points the
// learners rely on (ln 1 = 0, e^0 = 1).
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "tests/policy/sim.h"

extern "C" {
#include "hakmem/policy/fmath.h"
}

namespace {

// Distance in representable doubles (both finite, same sign or zero).
double Ulps(double got, double want) {
  if (got == want) return 0;
  return std::fabs(got - want) / std::fabs(std::nextafter(want, INFINITY) - want);
}

uint64_t Next(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

TEST(FmathTest, LnMatchesLibmOverTheRange) {
  uint64_t seed = 1;
  double worst = 0;
  for (int i = 0; i < 200000; i++) {
    // Any positive finite double: random bits, sign cleared, exponent below inf.
    uint64_t b = Next(&seed) & 0x7fefffffffffffffull;
    double x;
    memcpy(&x, &b, sizeof x);
    if (x == 0) continue;
    double u = Ulps(hak_fmath_ln(x), std::log(x));
    if (u > worst) worst = u;
  }
  for (double n = 1; n < 1e6; n += 1) worst = std::fmax(worst, Ulps(hak_fmath_ln(n), std::log(n)));  // UCB1's N
  EXPECT_LE(worst, 2.0);
}

TEST(FmathTest, ExpMatchesLibmOverTheRange) {
  uint64_t seed = 2;
  double worst = 0;
  for (int i = 0; i < 200000; i++) {
    double x = ((double)(Next(&seed) >> 11) / 9007199254740992.0) * 1400.0 - 700.0;
    worst = std::fmax(worst, Ulps(hak_fmath_exp(x), std::exp(x)));
  }
  for (double y = -3; y <= 3; y += 1.0 / 4096)  // ELO: rating gaps / 400
    worst = std::fmax(worst, Ulps(hak_fmath_pow10(y), std::pow(10.0, y)));
  EXPECT_LE(worst, 4.0);
}

TEST(FmathTest, SpecialValues) {
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(hak_fmath_ln(1.0), 0.0);
  EXPECT_EQ(hak_fmath_exp(0.0), 1.0);
  EXPECT_EQ(hak_fmath_pow10(0.0), 1.0);
  EXPECT_EQ(hak_fmath_ln(0.0), -inf);
  EXPECT_EQ(hak_fmath_ln(inf), inf);
  EXPECT_TRUE(std::isnan(hak_fmath_ln(-1.0)));
  EXPECT_TRUE(std::isnan(hak_fmath_ln(NAN)));
  EXPECT_TRUE(std::isnan(hak_fmath_exp(NAN)));
  EXPECT_EQ(hak_fmath_exp(1000.0), inf);
  EXPECT_EQ(hak_fmath_exp(-1000.0), 0.0);
  EXPECT_EQ(hak_fmath_exp(-inf), 0.0);
  double tiny = 0x1p-1074;  // the smallest subnormal
  EXPECT_LE(Ulps(hak_fmath_ln(tiny), std::log(tiny)), 2.0);
  EXPECT_LE(Ulps(hak_fmath_exp(-740.0), std::exp(-740.0)), 2.0);  // a subnormal result: ulps of it
}

}  // namespace
