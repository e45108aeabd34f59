// add / sub / mul / neg with defined overflow for the signed integer types: two's-complement
// wrap-around, which is what PyTorch's integer ops give in practice (but signed overflow is
// undefined behaviour in C++, so a compiler may assume it never happens). Used by the shared
// elementwise formulas (elementwise_ops.h) and the integer sum / prod (reduce_ops.h).
//
// The integer overloads compute in the unsigned type of the same width (arithmetic modulo 2^bits,
// defined) and convert back (modulo 2^bits: implementation-defined before C++20, and so defined by
// g++, clang and nvcc; C++20 makes it the rule). uint32_t does not promote to int, so the arithmetic
// stays unsigned. They compile to the same instructions as the signed operators. Every other type
// (float, double) uses the plain operators.
#pragma once
#include <cstdint>
#include "kiln/hd.h"

namespace kiln { namespace m {

template <typename T> KILN_HD T add(T a, T b) { return a + b; }
template <typename T> KILN_HD T sub(T a, T b) { return a - b; }
template <typename T> KILN_HD T mul(T a, T b) { return a * b; }
template <typename T> KILN_HD T neg(T x) { return -x; }

#define KILN_WRAPPING(S, U)                                                                 \
  KILN_HD S add(S a, S b) { return static_cast<S>(static_cast<U>(a) + static_cast<U>(b)); } \
  KILN_HD S sub(S a, S b) { return static_cast<S>(static_cast<U>(a) - static_cast<U>(b)); } \
  KILN_HD S mul(S a, S b) { return static_cast<S>(static_cast<U>(a) * static_cast<U>(b)); } \
  KILN_HD S neg(S x) { return static_cast<S>(U(0) - static_cast<U>(x)); }
KILN_WRAPPING(int32_t, uint32_t)
KILN_WRAPPING(int64_t, uint64_t)
#undef KILN_WRAPPING

}}  // namespace kiln::m
