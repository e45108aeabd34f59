// Overloads of the C math functions for float and double that compile for both devices, so
// formulas can be written once for any compute type (the half types compute in float).
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include "kiln/hd.h"

namespace kiln { namespace m {

#define KILN_MATH1(name, ffn, dfn)                 \
  KILN_HD float name(float x) { return ::ffn(x); } \
  KILN_HD double name(double x) { return ::dfn(x); }
KILN_MATH1(exp, expf, exp)
KILN_MATH1(log, logf, log)
KILN_MATH1(log2, log2f, log2)
KILN_MATH1(log1p, log1pf, log1p)
KILN_MATH1(expm1, expm1f, expm1)
KILN_MATH1(sqrt, sqrtf, sqrt)
KILN_MATH1(tanh, tanhf, tanh)
KILN_MATH1(sin, sinf, sin)
KILN_MATH1(cos, cosf, cos)
KILN_MATH1(atan, atanf, atan)
KILN_MATH1(fabs, fabsf, fabs)
KILN_MATH1(floor, floorf, floor)
KILN_MATH1(ceil, ceilf, ceil)
KILN_MATH1(round, roundf, round)   // halves away from zero
// Rounding to a whole number for any compute type (integers are whole already): floor, ceil,
// trunc (toward zero) and rint (to nearest, halves to even: torch.round's rule; the default
// rounding mode on both devices).
#define KILN_ROUNDING(name, ffn, dfn)                     \
  template <typename T> KILN_HD T name(T x) { return x; } \
  KILN_MATH1(name, ffn, dfn)
KILN_ROUNDING(floor_of, floorf, floor)
KILN_ROUNDING(ceil_of, ceilf, ceil)
KILN_ROUNDING(trunc_of, truncf, trunc)
KILN_ROUNDING(rint_of, rintf, rint)
#undef KILN_ROUNDING
#undef KILN_MATH1
KILN_HD float pow(float x, float y) { return ::powf(x, y); }
KILN_HD double pow(double x, double y) { return ::pow(x, y); }
KILN_HD float rsqrt(float x) { return 1.0f / ::sqrtf(x); }
KILN_HD double rsqrt(double x) { return 1.0 / ::sqrt(x); }

// Products and sums rounded on their own: on the GPU nvcc would otherwise fuse a
// product into a following add (an FMA, one rounding less), so the devices would round
// differently. For formulas whose results must match the CPU's bit for bit (decisions taken by
// comparing them, as NMS's IoU test).
#if defined(__CUDA_ARCH__)
#define KILN_RN2(name, op, fdev, ddev)                        \
  KILN_HD float name(float a, float b) { return fdev(a, b); } \
  KILN_HD double name(double a, double b) { return ddev(a, b); }
#else
#define KILN_RN2(name, op, fdev, ddev)                    \
  KILN_HD float name(float a, float b) { return a op b; } \
  KILN_HD double name(double a, double b) { return a op b; }
#endif
KILN_RN2(mul_rn, *, __fmul_rn, __dmul_rn)
KILN_RN2(add_rn, +, __fadd_rn, __dadd_rn)
#undef KILN_RN2

// 1 / x: on the GPU the approximate reciprocal for float (2 ulp, one instruction and a multiply,
// instead of an IEEE division); plain division elsewhere. Only used where x is in a normal range.
KILN_HD float rcp(float x) {
#if defined(__CUDA_ARCH__)
  return __fdividef(1.0f, x);
#else
  return 1.0f / x;
#endif
}
KILN_HD double rcp(double x) { return 1.0 / x; }

// exp(y) for y <= 0 (or NaN), as used by the losses for e = exp(-|x|) in [0, 1]. On the GPU: expf.
// On the CPU (float): inlined, so that a vectorised loop keeps it in registers instead of calling
// libmvec (a call spills every live vector register). y = k ln2 + r with k = round(y / ln2),
// |r| <= ln2 / 2 (ln2 in two parts; k ln2_hi is exact for |k| < 2^15), e^r by a degree-6
// polynomial (within 1 ulp), then 2^k: t = y / ln2 + 1.5 * 2^23 + 191 holds k + 191 in its low
// mantissa bits, so bits(t) << 23 is the float 2^(k + 64), a normal number for k >= -190, and the
// last factor 2^-64 rounds a result in the subnormal range once, as expf rounds it. y is clamped at
// -104 (exp(-104) < 2^-150 rounds to 0, as expf's result does), which keeps k >= -151. A NaN passes
// the clamp and gives NaN through r and the products (adding k to the exponent bits of e^r instead
// would be one multiply less but could turn a NaN with a payload into a number).
#if !defined(__CUDA_ARCH__)
inline float bits_to_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline uint32_t float_to_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
#endif
KILN_HD float exp_nonpos(float y) {
#if defined(__CUDA_ARCH__)
  return ::expf(y);
#else
  y = y < -104.0f ? -104.0f : y;
  const float kShift = 12582912.0f + 191.0f;        // 1.5 * 2^23 (adding it rounds to an integer) + 127 + 64
  float t = y * 1.44269504088896341f + kShift;
  float k = t - kShift;                             // round(y / ln2), in [-151, 0]
  float r = y - k * 0.693359375f;                   // ln2_hi: 9 significant bits, so k ln2_hi is exact
  r = r - k * -2.12194440e-4f;                      // ln2_lo = ln2 - ln2_hi
  float p = 1.381461276e-03f;                       // e^r = 1 + r + r^2 P(r), P a degree-4 minimax fit
  p = p * r + 8.368710056e-03f;                     // (relative error below 6e-9 with these float
  p = p * r + 4.166838899e-02f;                     // coefficients, for |r| <= ln2 / 2)
  p = p * r + 1.666652113e-01f;
  p = p * r + 4.999999404e-01f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;                                 // e^r
  return p * bits_to_float(float_to_bits(t) << 23) * 5.42101086e-20f;   // * 2^(k + 64) * 2^-64
#endif
}
KILN_HD double exp_nonpos(double y) { return ::exp(y); }

// log(1 + e) for e in [0, 1], as used by softplus, given also s = e / (2 + e) (sigmoid_parts
// computes it with 1 / (1 + e) from one reciprocal). In float: 2 atanh(s), s in [0, 1/3], as
// 2 s (1 + z P(z)), z = s^2 in [0, 1/9], with P a degree-3 minimax fit of (atanh(s)/s - 1) / z
// (relative error of 2 atanh(s) below 6e-9 with the coefficients as rounded to float, i.e. accurate
// to float rounding, also for tiny e: no cancellation); 4 FMAs and 2 multiplies instead of a general
// log1p (the Taylor series 1 + z/3 + z^2/5 + ... needs 8 terms for the same accuracy). In double:
// the library's log1p of e (s unused).
KILN_HD float log1p_unit(float e, float s) {
  (void)e;
  float z = s * s;
  float p = 2.801198661e-01f;                       // 2 c4 .. 2 c1 (the factor 2 folded in, exactly)
  p = p * z + 2.800180614e-01f;
  p = p * z + 4.002152681e-01f;
  p = p * z + 6.666641831e-01f;
  p = p * z + 2.0f;
  return s * p;
}
KILN_HD double log1p_unit(double e, double s) {
  (void)s;
  return ::log1p(e);
}

// For e = exp(-|x|) in [0, 1]: sigmoid(|x|) = 1 / (1 + e), sigmoid(-|x|) = e / (1 + e) and
// s = e / (2 + e) (for log1p_unit) from one reciprocal d = 1 / ((1 + e)(2 + e)) (the product is in
// [2, 6]): 1 / (1 + e) = (2 + e) d, e / (2 + e) = e (1 + e) d, each within a few ulp of the
// correctly rounded quotient (the GPU's rcp is within 2 ulp itself).
template <typename T>
struct SigmoidParts {
  T big, small, s;
};
template <typename T>
KILN_HD SigmoidParts<T> sigmoid_parts(T e) {
  T a1 = T(1) + e, a2 = T(2) + e;
  T d = rcp(a1 * a2);
  T big = a2 * d;
  return {big, e * big, e * a1 * d};
}

template <typename T> KILN_HD bool isnan(T x) { return x != x; }
KILN_HD bool isnan(int32_t) { return false; }
KILN_HD bool isnan(int64_t) { return false; }
KILN_HD bool isnan(bool) { return false; }
template <typename T> KILN_HD bool isfinite(T x) { return x == x && x - x == T(0); }
KILN_HD bool isfinite(int32_t) { return true; }
KILN_HD bool isfinite(int64_t) { return true; }
KILN_HD bool isfinite(bool) { return true; }

// NaN-propagating max/min, as PyTorch's maximum/minimum.
template <typename T> KILN_HD T max_nan(T a, T b) { return isnan(a) ? a : (isnan(b) ? b : (a > b ? a : b)); }
template <typename T> KILN_HD T min_nan(T a, T b) { return isnan(a) ? a : (isnan(b) ? b : (a < b ? a : b)); }

// softplus(x) = log(1 + e^x), computed without overflow: max(x, 0) + log1p(e^-|x|).
template <typename T> KILN_HD T softplus(T x) { return (x > T(0) ? x : T(0)) + log1p(exp(-fabs(x))); }
// log(sigmoid(x)) = -softplus(-x);  log(1 - sigmoid(x)) = -softplus(x).
template <typename T> KILN_HD T log_sigmoid(T x) { return -softplus(-x); }
// sigmoid(x) without overflow for either sign.
template <typename T> KILN_HD T sigmoid(T x) {
  if (x >= T(0)) return T(1) / (T(1) + exp(-x));
  T e = exp(x);
  return e / (T(1) + e);
}

}}  // namespace kiln::m
