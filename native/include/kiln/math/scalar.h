// Overloads of the C math functions for float and double that compile for both devices, so
// formulas can be written once for any compute type (the half types compute in float).
#pragma once
#include <cmath>
#include <cstdint>
#include "kiln/hd.h"

namespace kiln { namespace m {

#define KILN_MATH1(name, ffn, dfn)                            \
  KILN_HD float name(float x) { return ::ffn(x); }            \
  KILN_HD double name(double x) { return ::dfn(x); }
KILN_MATH1(exp, expf, exp)
KILN_MATH1(log, logf, log)
KILN_MATH1(log1p, log1pf, log1p)
KILN_MATH1(expm1, expm1f, expm1)
KILN_MATH1(sqrt, sqrtf, sqrt)
KILN_MATH1(tanh, tanhf, tanh)
KILN_MATH1(sin, sinf, sin)
KILN_MATH1(cos, cosf, cos)
KILN_MATH1(fabs, fabsf, fabs)
KILN_MATH1(floor, floorf, floor)
#undef KILN_MATH1
KILN_HD float pow(float x, float y) { return ::powf(x, y); }
KILN_HD double pow(double x, double y) { return ::pow(x, y); }
KILN_HD float rsqrt(float x) { return 1.0f / ::sqrtf(x); }
KILN_HD double rsqrt(double x) { return 1.0 / ::sqrt(x); }

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

// log(1 + e) for e in [0, 1], as used by softplus. In float: 2 atanh(s) with s = e / (2 + e) in
// [0, 1/3], i.e. 2 s (1 + s^2/3 + s^4/5 + ... + s^14/15); the first omitted term is below
// (1/9)^8 / 17 < 4e-10 relative, so the result is accurate to float rounding, also for tiny e (no
// cancellation), with 8 FMAs and one reciprocal instead of a general log1p (a plain loop the CPU
// vectorises, and about half the GPU instructions). In double: the library's log1p.
KILN_HD float log1p_unit(float e) {
  float s = e * rcp(2.0f + e);
  float z = s * s;
  float p = 1.0f / 15.0f;
  p = p * z + 1.0f / 13.0f;
  p = p * z + 1.0f / 11.0f;
  p = p * z + 1.0f / 9.0f;
  p = p * z + 1.0f / 7.0f;
  p = p * z + 1.0f / 5.0f;
  p = p * z + 1.0f / 3.0f;
  p = p * z + 1.0f;
  return 2.0f * s * p;
}
KILN_HD double log1p_unit(double e) { return ::log1p(e); }

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
