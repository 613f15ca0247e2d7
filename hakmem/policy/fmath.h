/* fmath.h — the natural logarithm and exponential the learners use
 * (layer L4, pure).
 *
 * libhakmem.so would otherwise need libm for log (UCB1's ln N) and pow
 * (ELO's expected score) alone: loading libm into every preloaded process
 * costs its mapping, relocation and some 300 KiB of resident file pages,
 * for two functions called once per learning window. These are accurate to
 * a few units in the last place over the whole double range (NaN, infinities,
 * zero and subnormals as C's log and exp answer them, without errno), which
 * is all the learners need: their decisions compare such values, never test
 * them for equality. Exact where it matters for readers: ln 1 = 0, e^0 = 1.
 * UCB1's sqrt is the instruction (this library is built -fno-math-errno).
 */
#ifndef HAK_POLICY_FMATH_H
#define HAK_POLICY_FMATH_H

#include "hakmem/config.h"

HAK_INTERNAL double hak_fmath_ln(double x);
HAK_INTERNAL double hak_fmath_exp(double x);
/* 10^y, as e^(y ln 10) with the product's rounding error corrected. */
HAK_INTERNAL double hak_fmath_pow10(double y);

#endif /* HAK_POLICY_FMATH_H */
