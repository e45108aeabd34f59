// The sort order of every dtype as an unsigned integer key, shared by the CPU sort (which compares
// keys) and the CUDA sort (a radix sort of keys): both devices order values identically.
//
// The order is PyTorch's: ascending numbers, with every NaN after +inf (so a descending sort puts
// NaNs first), -0.0 equal to +0.0, false before true. Equal keys keep their input order (both
// devices sort stably), so ties come out by increasing index.
//
// Floats: flipping the sign bit of a non-negative float, and every bit of a negative one, gives an
// unsigned integer whose order is the float order (IEEE 754 is sign-magnitude); NaN takes the
// largest key of its width and -0.0 the key of +0.0. Signed integers: flipping the sign bit maps
// [min, max] onto [0, 2^bits) in order. Half types load as float (exactly) and use float's key.
// Descending: the complement within the key's width reverses the order and keeps equal keys equal.
#pragma once
#include <cstdint>
#include <cstring>
#include "kiln/dtype.h"

namespace kiln {

// The number of low bits a key of scalar type T uses (a radix sort passes over those only).
template <typename T> struct SortKeyBits {
  static constexpr int value = 32;
};   // float, int32, half types
template <> struct SortKeyBits<double> {
  static constexpr int value = 64;
};
template <> struct SortKeyBits<int64_t> {
  static constexpr int value = 64;
};
template <> struct SortKeyBits<bool> {
  static constexpr int value = 1;
};

KILN_HD uint64_t order_key(float x) {
  if (x != x) return 0xffffffffull;                         // NaN: above +inf's key 0xff800000
  uint32_t u = float_bits(x == 0.0f ? 0.0f : x);             // -0.0 -> +0.0
  return (u & 0x80000000u) ? (uint64_t)(uint32_t)~u : (uint64_t)(u | 0x80000000u);
}
KILN_HD uint64_t order_key(double x) {
  if (x != x) return ~0ull;
  double y = x == 0.0 ? 0.0 : x;
#if defined(__CUDA_ARCH__)
  uint64_t u = (uint64_t)__double_as_longlong(y);
#else
  uint64_t u;
  std::memcpy(&u, &y, 8);
#endif
  return (u & 0x8000000000000000ull) ? ~u : (u | 0x8000000000000000ull);
}
KILN_HD uint64_t order_key(int32_t v) { return (uint64_t)((uint32_t)v ^ 0x80000000u); }
KILN_HD uint64_t order_key(int64_t v) { return (uint64_t)v ^ 0x8000000000000000ull; }
KILN_HD uint64_t order_key(bool v) { return v ? 1u : 0u; }

// The key of the element at p (scalar type T): ascending order, or descending when `descending`.
template <typename T> KILN_HD uint64_t sort_key(const T* p, bool descending) {
  constexpr int B = SortKeyBits<T>::value;
  constexpr uint64_t mask = B == 64 ? ~0ull : ((1ull << B) - 1ull);
  const uint64_t k = order_key(load(p));
  return descending ? mask - k : k;
}

}  // namespace kiln
