// The division family's rounding, for every compute type (the half types compute in float):
//
//   fmod(a, b)         = a - trunc(a / b) · b    takes the sign of a   (C's fmod and %, torch.fmod)
//   remainder(a, b)    = a - floor(a / b) · b    takes the sign of b   (Python's %, torch.remainder)
//   floor_divide(a, b) = floor(a / b)                                  (Python's //, torch.floor_divide)
//
// Floats. fmod is exact (the remainder of two floats is representable), so remainder is fmod moved
// by one b where the signs differ: r = fmod(a, b); r += b when r ≠ 0 and sign(r) ≠ sign(b) (exact
// up to that one addition's rounding). For floor_divide, a / b rounded and then floored is wrong
// near whole numbers (a = 1, b = 0.1: the true quotient is 9.99…, 1 / 0.1 rounds to 10), so the
// quotient is built from the exact remainder instead: (a - fmod(a, b)) / b is the truncated quotient
// up to one rounding, minus 1 where the signs differ (truncation rounded toward zero, up for a
// negative quotient); it lies within half of a whole number, so rounding it to the nearest one
// gives the floor. A zero quotient keeps the sign a / b has; b = 0 gives a / b (±inf or NaN), as
// IEEE division.
//
// Integers. C's / and % truncate, so floor_divide subtracts 1 from the quotient and remainder adds
// b to the remainder where the remainder is not 0 and a and b have different signs. A zero divisor
// is refused before any kernel runs (the TypeScript ops check it); here it gives 0 rather than
// trapping. INT_MIN / -1 overflows (x86's idiv traps): a divisor of -1 is negation, which wraps.
#pragma once
#include <cstdint>
#include "kiln/hd.h"
#include "kiln/math/scalar.h"
#include "kiln/math/wrapping.h"

namespace kiln { namespace m {

KILN_HD float fmod_of(float a, float b) { return ::fmodf(a, b); }
KILN_HD double fmod_of(double a, double b) { return ::fmod(a, b); }
KILN_HD float copysign_of(float a, float b) { return ::copysignf(a, b); }
KILN_HD double copysign_of(double a, double b) { return ::copysign(a, b); }

template <typename F> KILN_HD F remainder_float(F a, F b) {
  F r = fmod_of(a, b);
  if (r != F(0) && ((r < F(0)) != (b < F(0)))) r += b;
  return r;
}

template <typename F> KILN_HD F floor_divide_float(F a, F b) {
  if (b == F(0)) return a / b;
  const F r = fmod_of(a, b);
  F q = (a - r) / b;
  if (r != F(0) && ((r < F(0)) != (b < F(0)))) q -= F(1);
  if (q == F(0)) return copysign_of(F(0), a / b);
  F f = floor_of(q);
  if (q - f > F(0.5)) f += F(1);
  return f;
}

template <typename I> KILN_HD I fmod_int(I a, I b) { return (b == 0 || b == I(-1)) ? I(0) : I(a % b); }

template <typename I> KILN_HD I remainder_int(I a, I b) {
  I r = fmod_int(a, b);
  if (r != 0 && ((r < 0) != (b < 0))) r = I(r + b);
  return r;
}

template <typename I> KILN_HD I floor_divide_int(I a, I b) {
  if (b == 0) return 0;
  if (b == I(-1)) return neg(a);
  I q = I(a / b);
  if (a % b != 0 && ((a < 0) != (b < 0))) q = I(q - 1);
  return q;
}

// One name per op for every compute type, what the elementwise functors call.
#define KILN_DIVISION(T, fmod_fn, family)                                \
  KILN_HD T fmod_any(T a, T b) { return fmod_fn(a, b); }                 \
  KILN_HD T remainder_any(T a, T b) { return remainder_##family(a, b); } \
  KILN_HD T floor_divide_any(T a, T b) { return floor_divide_##family(a, b); }
KILN_DIVISION(float, fmod_of, float)
KILN_DIVISION(double, fmod_of, float)
KILN_DIVISION(int32_t, fmod_int, int)
KILN_DIVISION(int64_t, fmod_int, int)
#undef KILN_DIVISION

}}  // namespace kiln::m
