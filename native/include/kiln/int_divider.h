// Division by a divisor fixed for a whole launch, without a hardware divide: n / d computed as
// (umulhi(n, m) + n) >> s with a precomputed magic m and shift s (Granlund & Montgomery, 1994).
// Exact for 0 <= n < 2^31 and 1 <= d < 2^31. Used where GPU kernels turn a flat index into
// (row, column).
#pragma once
#include <cstdint>
#include "kiln/hd.h"

namespace kiln {

struct IntDivider {
  uint32_t divisor = 1, magic = 0, shift = 0;

  IntDivider() = default;
  explicit IntDivider(uint32_t d) : divisor(d) {
    // s = ceil(log2 d); m = floor(2^32 * (2^s - d) / d) + 1
    shift = 0;
    while ((1ull << shift) < d) ++shift;
    magic = (uint32_t)(((1ull << 32) * ((1ull << shift) - d)) / d + 1);
  }

  KILN_HD uint32_t div(uint32_t n) const {
#if defined(__CUDA_ARCH__)
    uint32_t t = __umulhi(n, magic);
#else
    uint32_t t = (uint32_t)(((uint64_t)n * magic) >> 32);
#endif
    return (uint32_t)(((uint64_t)t + n) >> shift);
  }
};

}  // namespace kiln
