// Element types shared by TypeScript (packages/tensor/src/dtype.ts: the same codes) and C++.
// float16 and bfloat16 are storage types: they are loaded into float, computed in float and
// rounded back on store (round to nearest even), on both devices.
#pragma once
#include <cstdint>
#include <cstring>
#include <limits>
#include "kiln/error.h"
#include "kiln/hd.h"
#if !defined(__CUDA_ARCH__) && defined(__x86_64__)
#include <emmintrin.h>   // _mm_cvttss_si64 / _mm_cvttsd_si64 (saturate_to_int)
#define KILN_X86_64_HOST 1
#else
#define KILN_X86_64_HOST 0
#endif
#if defined(__CUDACC__)
#include <cuda_fp16.h>
#include <cuda_bf16.h>
#endif

namespace kiln {

enum class DType : int32_t { Float32 = 0, Float64 = 1, Int32 = 2, Int64 = 3, Bool = 4, Float16 = 5, BFloat16 = 6 };

inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::Float32: return "float32";
    case DType::Float64: return "float64";
    case DType::Int32: return "int32";
    case DType::Int64: return "int64";
    case DType::Bool: return "bool";
    case DType::Float16: return "float16";
    case DType::BFloat16: return "bfloat16";
  }
  return "unknown";
}

KILN_HD int dtype_size(DType t) {
  switch (t) {
    case DType::Float32:
    case DType::Int32: return 4;
    case DType::Float64:
    case DType::Int64: return 8;
    case DType::Bool: return 1;
    case DType::Float16:
    case DType::BFloat16: return 2;
  }
  return 0;
}

// The dispatch macros' failure: a DTypeError naming the op, with the expected and given dtypes as facts.
[[noreturn, gnu::cold, gnu::noinline]] inline void throw_dtype_error(const char* op, DType got, const char* expected) {
  fail_arg(ErrorKind::DType, op, "", expected, dtype_name(got));
}

struct Half {
  uint16_t bits;
};
struct BFloat16 {
  uint16_t bits;
};

KILN_HD uint32_t float_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
#endif
}
KILN_HD float bits_float(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, 4);
  return f;
#endif
}

// IEEE binary16 <-> binary32. On the GPU the hardware conversions; on the CPU the same rounding
// (to nearest, ties to even) done with integer arithmetic.
KILN_HD float half_to_float(Half h) {
#if defined(__CUDA_ARCH__)
  return __half2float(__ushort_as_half(h.bits));
#else
  uint32_t sign = (uint32_t)(h.bits & 0x8000u) << 16;
  uint32_t exp = (h.bits >> 10) & 0x1fu;
  uint32_t man = h.bits & 0x3ffu;
  if (exp == 0x1f) return bits_float(sign | 0x7f800000u | (man << 13));   // inf / nan
  if (exp == 0) {
    if (man == 0) return bits_float(sign);                                   // +-0
    // subnormal: value = man * 2^-24
    float v = (float)man * 5.9604644775390625e-8f;
    return sign ? -v : v;
  }
  return bits_float(sign | ((exp + 112u) << 23) | (man << 13));
#endif
}

KILN_HD Half float_to_half(float f) {
#if defined(__CUDA_ARCH__)
  return Half{__half_as_ushort(__float2half_rn(f))};
#else
  uint32_t u = float_bits(f);
  uint32_t sign = (u >> 16) & 0x8000u;
  uint32_t absu = u & 0x7fffffffu;
  if (absu >= 0x7f800000u) return Half{(uint16_t)(sign | 0x7c00u | (absu > 0x7f800000u ? 0x200u : 0u))};
  if (absu >= 0x477ff000u) return Half{(uint16_t)(sign | 0x7c00u)};          // rounds to inf
  if (absu < 0x38800000u) {                                                 // subnormal half or zero
    // scale so that the half's subnormal unit (2^-24) becomes 1, round to nearest even
    float a = bits_float(absu) * 16777216.0f;
    uint32_t m = (uint32_t)a;
    float rem = a - (float)m;
    if (rem > 0.5f || (rem == 0.5f && (m & 1u))) m++;
    return Half{(uint16_t)(sign | m)};
  }
  uint32_t mant_odd = (absu >> 13) & 1u;
  absu += 0xc8000fffu + mant_odd;   // rebias exponent (-112 << 23) and round to nearest even
  return Half{(uint16_t)(sign | (absu >> 13))};
#endif
}

KILN_HD float bf16_to_float(BFloat16 h) { return bits_float((uint32_t)h.bits << 16); }
KILN_HD BFloat16 float_to_bf16(float f) {
#if defined(__CUDA_ARCH__)
  return BFloat16{__bfloat16_as_ushort(__float2bfloat16_rn(f))};
#endif
  uint32_t u = float_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return BFloat16{(uint16_t)((u >> 16) | 0x40u)};  // quiet nan
  u += 0x7fffu + ((u >> 16) & 1u);                                                     // nearest even
  return BFloat16{(uint16_t)(u >> 16)};
}

// Compute type of each storage type: half types and bool compute in float / themselves.
template <typename T> struct Compute {
  using type = T;
};
template <> struct Compute<Half> {
  using type = float;
};
template <> struct Compute<BFloat16> {
  using type = float;
};
template <typename T> using compute_t = typename Compute<T>::type;

template <typename T> KILN_HD compute_t<T> load(const T* p) { return *p; }
template <> KILN_HD float load<Half>(const Half* p) { return half_to_float(*p); }
template <> KILN_HD float load<BFloat16>(const BFloat16* p) { return bf16_to_float(*p); }

// Floating -> integer conversion, defined and the same on both devices:
//   truncate toward zero; a value above I's max gives the max, below I's min gives the min
//   (infinities included); NaN gives 0.
// C++ leaves NaN and out-of-range values undefined, and PyTorch keeps whatever the platform does
// (c10's static_cast_with_inter_type, "unchecked_cast_to_int"), so its devices disagree: x86's
// cvttss2si / cvttsd2si give INT_MIN for all of them, CUDA's cvt.rzi saturates with NaN -> 0. We
// choose the saturating rule so that the devices agree, and that rule because the GPU implements it
// in hardware (free there: the __*_rz intrinsics are single cvt.rzi instructions).
// On the CPU, branch-free (selects the compiler turns into blends / cmovs):
//  - to int64 on x86-64 (no SIMD conversion below AVX-512, so one element at a time): the hardware
//    conversion (cvttss2si / cvttsd2si through their intrinsics, whose result is defined: INT64_MIN,
//    the "integer indefinite", for NaN and out-of-range values) is already right below the range;
//    two masks fix the values above it and NaN. Written as a C++ cast instead, the clamp that makes
//    the cast defined compiles to branches around it (twice as slow).
//  - otherwise (int32, which vectorises as cvttps2dq / cvttpd2dq, and other CPUs): the value is first
//    clamped into [min, 2^(bits-1)) so the C++ cast itself is always defined, then the two cases the
//    cast cannot express (too large, NaN) are selected.
// lo and hi are powers of two, exact in float and double.
template <typename I, typename F> KILN_HD I saturate_to_int(F x) {
  static_assert(sizeof(I) == 4 || sizeof(I) == 8, "int32 or int64");
  static_assert(sizeof(F) == 4 || sizeof(F) == 8, "float or double");
#if defined(__CUDA_ARCH__)
  // The _rz intrinsics truncate and saturate, but NaN does not give 0 in every combination (measured
  // on an H200: float -> int64 and double -> int32 give the minimum), hence the explicit select.
  I r;
  if constexpr (sizeof(I) == 4) {
    if constexpr (sizeof(F) == 4) r = __float2int_rz(x);
    else r = __double2int_rz(x);
  } else {
    if constexpr (sizeof(F) == 4) r = __float2ll_rz(x);
    else r = __double2ll_rz(x);
  }
  return x != x ? I(0) : r;
#else
  constexpr F hi = sizeof(I) == 4 ? F(2147483648.0) : F(9223372036854775808.0);   // 2^31, 2^63
  constexpr F lo = -hi;
  constexpr I imax = std::numeric_limits<I>::max();
#if KILN_X86_64_HOST
  if constexpr (sizeof(I) == 8) {
    int64_t h;
    if constexpr (sizeof(F) == 4) h = _mm_cvttss_si64(_mm_set_ss(x));
    else h = _mm_cvttsd_si64(_mm_set_sd(x));
    // masks, not selects (g++ turns those into branches): h is INT64_MIN where x >= 2^63, and
    // ~INT64_MIN == INT64_MAX; NaN is cleared to 0
    h ^= -static_cast<int64_t>(x >= hi);
    return h & -static_cast<int64_t>(x == x);
  }
#endif
  F c = x > lo ? x : lo;      // below min, -inf and NaN (comparisons with NaN are false) -> lo
  c = c < hi ? c : lo;        // too large: any in-range stand-in, replaced below
  I r = static_cast<I>(c);    // defined: lo <= c < hi
  r = x >= hi ? imax : r;
  return x != x ? I(0) : r;
#endif
}

// Converts any computed value to storage type T (bool: nonzero is true; integers from a float:
// saturate_to_int; integers from an integer: static_cast, i.e. two's-complement wrap).
template <typename T> struct Store {
  template <typename V> KILN_HD static T from(V v) { return static_cast<T>(v); }
};
template <typename I> struct StoreInt {
  template <typename V> KILN_HD static I from(V v) { return static_cast<I>(v); }   // integers, bool
  KILN_HD static I from(float v) { return saturate_to_int<I>(v); }
  KILN_HD static I from(double v) { return saturate_to_int<I>(v); }
};
template <> struct Store<int32_t> : StoreInt<int32_t> {};
template <> struct Store<int64_t> : StoreInt<int64_t> {};
template <> struct Store<bool> {
  template <typename V> KILN_HD static bool from(V v) { return v != V(0); }
};
// Half types from a double (float64 tensors, JS numbers) round via float32: twice, so a double just
// above a half-type tie can round down. PyTorch does the same: c10::Half and c10::BFloat16 have no
// constructor from double, only Half(float) / BFloat16(float), so its double -> half cast converts
// to float first (c10/util/Half.h, BFloat16.h). We keep it: results match PyTorch's bit for bit,
// and both devices take the same path (float_to_half / float_to_bf16 of the same float).
template <> struct Store<Half> {
  template <typename V> KILN_HD static Half from(V v) { return float_to_half(static_cast<float>(v)); }
};
template <> struct Store<BFloat16> {
  template <typename V> KILN_HD static BFloat16 from(V v) { return float_to_bf16(static_cast<float>(v)); }
};
template <typename T, typename V> KILN_HD void store(T* p, V v) { *p = Store<T>::from(v); }

}  // namespace kiln

// Calls BODY with scalar_t bound to the C++ type of `dtype`. The ALL variant covers every dtype;
// FLOATING covers the float types (half types included), NUMERIC everything but bool.
#define KILN_DTYPE_CASE(ENUM, TYPE, ...) \
  case ::kiln::DType::ENUM: {            \
    using scalar_t = TYPE;               \
    __VA_ARGS__;                         \
  } break;
#define KILN_DISPATCH_FLOATING(dtype, opname, ...)                         \
  switch (dtype) {                                                         \
    KILN_DTYPE_CASE(Float32, float, __VA_ARGS__)                           \
    KILN_DTYPE_CASE(Float64, double, __VA_ARGS__)                          \
    KILN_DTYPE_CASE(Float16, ::kiln::Half, __VA_ARGS__)                    \
    KILN_DTYPE_CASE(BFloat16, ::kiln::BFloat16, __VA_ARGS__)               \
    default: ::kiln::throw_dtype_error(opname, dtype, "a floating dtype"); \
  }
#define KILN_DISPATCH_NUMERIC(dtype, opname, ...)                         \
  switch (dtype) {                                                        \
    KILN_DTYPE_CASE(Float32, float, __VA_ARGS__)                          \
    KILN_DTYPE_CASE(Float64, double, __VA_ARGS__)                         \
    KILN_DTYPE_CASE(Int32, int32_t, __VA_ARGS__)                          \
    KILN_DTYPE_CASE(Int64, int64_t, __VA_ARGS__)                          \
    KILN_DTYPE_CASE(Float16, ::kiln::Half, __VA_ARGS__)                   \
    KILN_DTYPE_CASE(BFloat16, ::kiln::BFloat16, __VA_ARGS__)              \
    default: ::kiln::throw_dtype_error(opname, dtype, "a numeric dtype"); \
  }
#define KILN_DISPATCH_ALL(dtype, opname, ...)                           \
  switch (dtype) {                                                      \
    KILN_DTYPE_CASE(Float32, float, __VA_ARGS__)                        \
    KILN_DTYPE_CASE(Float64, double, __VA_ARGS__)                       \
    KILN_DTYPE_CASE(Int32, int32_t, __VA_ARGS__)                        \
    KILN_DTYPE_CASE(Int64, int64_t, __VA_ARGS__)                        \
    KILN_DTYPE_CASE(Bool, bool, __VA_ARGS__)                            \
    KILN_DTYPE_CASE(Float16, ::kiln::Half, __VA_ARGS__)                 \
    KILN_DTYPE_CASE(BFloat16, ::kiln::BFloat16, __VA_ARGS__)            \
    default: ::kiln::throw_dtype_error(opname, dtype, "a known dtype"); \
  }
// float32 and float64 only (kernels that accumulate, e.g. with atomics, in their own type).
#define KILN_DISPATCH_FLOAT_DOUBLE(dtype, opname, ...)                       \
  switch (dtype) {                                                           \
    KILN_DTYPE_CASE(Float32, float, __VA_ARGS__)                             \
    KILN_DTYPE_CASE(Float64, double, __VA_ARGS__)                            \
    default: ::kiln::throw_dtype_error(opname, dtype, "float32 or float64"); \
  }
#define KILN_DISPATCH_INDEX(dtype, opname, ...)                          \
  switch (dtype) {                                                       \
    KILN_DTYPE_CASE(Int32, int32_t, __VA_ARGS__)                         \
    KILN_DTYPE_CASE(Int64, int64_t, __VA_ARGS__)                         \
    default: ::kiln::throw_dtype_error(opname, dtype, "int32 or int64"); \
  }
