// Kiln's random numbers: the Philox4x32-10 counter-based generator (Salmon, Moraes, Dror, Shaw,
// "Parallel random numbers: as easy as 1, 2, 3", SC 2011) and the distributions built on it,
// written once for the CPU loop (cpu/random.cc) and the CUDA kernel (cuda/random.cu).
//
// Philox is a keyed bijection of a 128-bit counter: the random bits of any element are computed
// from (key, counter) alone, with no sequential state, so every thread of either device computes
// the same stream in any order. Kiln's random ops use
//
//   key     = the 64-bit seed                      (k0 = low 32 bits, k1 = high 32 bits)
//   counter = (lo(call), hi(call), lo(offset), hi(offset))
//
// where `offset` is the generator's counter for the op (one per random op, advanced by the
// TypeScript Generator) and `call` numbers the Philox calls of the op: call c fills the elements
// c * per_call ... c * per_call + per_call - 1 of the (contiguous) output. Element i's value thus
// depends only on (seed, offset, i), on both devices.
//
// Identical numerics on both devices: the uniform values are exact binary fractions, and the
// floating-point arithmetic after them uses mul_rn/add_rn, so nvcc cannot contract a * b + c into a
// fused multiply-add that rounds differently from the CPU. Normal values go through log, sqrt, sin
// and cos in double precision; the device and host math libraries may differ in the last bit of a
// double, which almost never survives rounding to float32.
#pragma once
#include <cstdint>
#include "kiln/kernel.h"
#include "kiln/math/scalar.h"

namespace kiln { namespace rng {

// ---- Philox4x32-10 ------------------------------------------------------------------------------

struct PhiloxWords {
  uint32_t w[4];
};

constexpr uint32_t kPhiloxM0 = 0xD2511F53u, kPhiloxM1 = 0xCD9E8D57u;   // round multipliers
constexpr uint32_t kPhiloxW0 = 0x9E3779B9u, kPhiloxW1 = 0xBB67AE85u;   // key schedule (Weyl) increments

KILN_HD uint32_t mulhi32(uint32_t a, uint32_t b) {
#if defined(__CUDA_ARCH__)
  return __umulhi(a, b);
#else
  return (uint32_t)(((uint64_t)a * b) >> 32);
#endif
}

// Ten rounds; round r (r > 0) uses the key bumped r times. One round maps (c0, c1, c2, c3) to
//   (hi(M1 c2) ^ c1 ^ k0,  lo(M1 c2),  hi(M0 c0) ^ c3 ^ k1,  lo(M0 c0)).
KILN_HD PhiloxWords philox4x32_10(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0, uint32_t k1) {
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k0 += kPhiloxW0;
      k1 += kPhiloxW1;
    }
    const uint32_t hi0 = mulhi32(kPhiloxM0, c0), lo0 = kPhiloxM0 * c0;
    const uint32_t hi1 = mulhi32(kPhiloxM1, c2), lo1 = kPhiloxM1 * c2;
    const uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
  }
  return PhiloxWords{{c0, c1, c2, c3}};
}

struct RandomKey {
  uint64_t seed;
  uint64_t offset;
};

// The four words of Philox call `call` of the op keyed by k (see the top of this file).
KILN_HD PhiloxWords philox_draw(const RandomKey& k, uint64_t call) {
  return philox4x32_10((uint32_t)call, (uint32_t)(call >> 32), (uint32_t)k.offset, (uint32_t)(k.offset >> 32), (uint32_t)k.seed, (uint32_t)(k.seed >> 32));
}

// ---- uniform values from 32-bit words ----------------------------------------------------------

// In [0, 1): the top `bits` bits of x (bits <= 24) as a multiple of 2^-bits, exact in float.
KILN_HD double unit_from_bits(uint32_t x, int bits) { return (double)(x >> (32 - bits)) * (1.0 / (double)(1u << bits)); }
// In (0, 1]: the same plus one step, for logarithms.
KILN_HD double unit_open0_24(uint32_t x) { return (double)((x >> 8) + 1u) * 0x1p-24; }
// In [0, 1) with 53 random bits (the top 53 bits of hi:lo): exact in double.
KILN_HD double unit_double(uint32_t hi, uint32_t lo) { return (double)((((uint64_t)hi << 32) | lo) >> 11) * 0x1p-53; }
// In (0, 1], 53 bits.
KILN_HD double unit_double_open0(uint32_t hi, uint32_t lo) { return (double)(((((uint64_t)hi << 32) | lo) >> 11) + 1u) * 0x1p-53; }

// a * b and a + b, each rounded once, on both devices (no FMA contraction): kiln/math/scalar.h.
using m::add_rn;
using m::mul_rn;

// Box–Muller: for u1 in (0, 1] and u2 in [0, 1), with r = sqrt(-2 ln u1) and t = 2 pi u2,
// z0 = r cos t and z1 = r sin t are independent standard normal values.
KILN_HD void box_muller(double u1, double u2, double& z0, double& z1) {
  const double r = m::sqrt(-2.0 * m::log(u1));
  const double t = mul_rn(6.283185307179586476925286766559, u2);
  z0 = mul_rn(r, m::cos(t));
  z1 = mul_rn(r, m::sin(t));
}

// ---- distributions ----------------------------------------------------------------------------
// A sampler turns one call's four words into per_call values of storage type T.

// Random bits of a uniform value of type T: its significand's precision, so u is exact in T.
template <typename T> struct UnitBits {
  static constexpr int value = 24;
};   // float
template <> struct UnitBits<double> {
  static constexpr int value = 53;
};
template <> struct UnitBits<Half> {
  static constexpr int value = 11;
};
template <> struct UnitBits<BFloat16> {
  static constexpr int value = 8;
};

// Values per call: 4 (32 bits each), or 2 for double (64 bits each).
template <typename T> struct LanesPerCall {
  static constexpr int value = UnitBits<T>::value > 32 ? 2 : 4;
};

// Uniform in [low, high): low + (high - low) u. A value that rounds up to `high` in T (possible
// for narrow types or wide ranges) becomes `low`, as PyTorch does, so that high is never returned.
template <typename T> struct UniformSampler {
  static constexpr int per_call = LanesPerCall<T>::value;
  double low, high;
  KILN_HD void operator()(const PhiloxWords& r, T out[4]) const {
    for (int k = 0; k < per_call; ++k) {
      double u;
      if constexpr (per_call == 2) u = unit_double(r.w[2 * k], r.w[2 * k + 1]);
      else u = unit_from_bits(r.w[k], UnitBits<T>::value);
      T v = Store<T>::from(add_rn(low, mul_rn(high - low, u)));
      if ((double)load(&v) >= high) v = Store<T>::from(low);
      out[k] = v;
    }
  }
};

// Normal with mean and std: Box–Muller pairs, mean + std z. float and the half types use 24-bit
// uniforms (|z| <= 5.77: a tail of probability 8e-9 is cut), double 53-bit ones (|z| <= 8.57).
template <typename T> struct NormalSampler {
  static constexpr int per_call = LanesPerCall<T>::value;
  double mean, std;
  KILN_HD void operator()(const PhiloxWords& r, T out[4]) const {
    double z[4];
    if constexpr (per_call == 2) {
      box_muller(unit_double_open0(r.w[0], r.w[1]), unit_double(r.w[2], r.w[3]), z[0], z[1]);
    } else {
      box_muller(unit_open0_24(r.w[0]), unit_from_bits(r.w[1], 24), z[0], z[1]);
      box_muller(unit_open0_24(r.w[2]), unit_from_bits(r.w[3], 24), z[2], z[3]);
    }
    for (int k = 0; k < per_call; ++k) out[k] = Store<T>::from(add_rn(mean, mul_rn(std, z[k])));
  }
};

// Integers in [low, low + range): low + (x mod range) with x a 64-bit word pair. The modulo bias
// is below range / 2^64 (under 2^-32 for ranges below 2^32).
template <typename T> struct IntSampler {
  static constexpr int per_call = 2;
  int64_t low;
  uint64_t range;
  KILN_HD void operator()(const PhiloxWords& r, T out[4]) const {
    for (int k = 0; k < per_call; ++k) {
      const uint64_t x = ((uint64_t)r.w[2 * k] << 32) | r.w[2 * k + 1];
      out[k] = Store<T>::from(low + (int64_t)(x % range));
    }
  }
};

// Fills the output elements of call `call` (out is contiguous, n elements in all).
template <typename T, typename Sampler>
KILN_HD void fill_random_call(const Sampler& s, const RandomKey& key, int64_t call, T* out, int64_t n) {
  T v[4];
  s(philox_draw(key, (uint64_t)call), v);
  const int64_t base = call * Sampler::per_call;
  for (int k = 0; k < Sampler::per_call && base + k < n; ++k) out[base + k] = v[k];
}

template <typename Sampler> inline int64_t random_calls(int64_t n) { return (n + Sampler::per_call - 1) / Sampler::per_call; }

// The kernels' attributes: [seed_lo, seed_hi, offset, a, b] (the seed as two exact 32-bit halves).
inline RandomKey random_key(const KernelCall& c) {
  const uint64_t lo = (uint64_t)c.attr(0), hi = (uint64_t)c.attr(1);
  return RandomKey{lo | (hi << 32), (uint64_t)c.attr(2)};
}

}}  // namespace kiln::rng
