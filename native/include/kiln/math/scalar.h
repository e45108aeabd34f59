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
