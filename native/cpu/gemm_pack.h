// Packing a strided matrix into the GEMM's micro-kernel strips (gemm_loops.h): the layout the
// micro-kernels read (gemm_kernels.h), converted to the compute type, zero-padded at the edges.
// Unit-stride rows and columns get loops the compiler vectorises; any other stride (transposed,
// sliced, broadcast) takes the general loop.
#pragma once
#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include "kiln/dtype.h"

namespace kiln { namespace cpu { namespace blocked {

// Calls f(std::integral_constant<int, W>) for the strip widths the micro-kernels use.
template <typename F> void with_width(int w, const F& f) {
  switch (w) {
    case 4: f(std::integral_constant<int, 4>()); return;
    case 6: f(std::integral_constant<int, 6>()); return;
    case 8: f(std::integral_constant<int, 8>()); return;
    case 12: f(std::integral_constant<int, 12>()); return;
    case 16: f(std::integral_constant<int, 16>()); return;
    case 32: f(std::integral_constant<int, 32>()); return;
    default: throw std::logic_error("gemm: no packing for strips of width " + std::to_string(w));
  }
}

// Rows [0, mc) x cols [0, kc) of p (strides rs, cs) into MR-tall strips: dst[(s * kc + k) * MR + i].
template <int MR, typename S, typename C>
void pack_a_strips(const S* p, int64_t rs, int64_t cs, int64_t mc, int64_t kc, C* __restrict dst) {
  for (int64_t s = 0; s < mc; s += MR, dst += kc * MR) {
    const S* q = p + s * rs;
    const int rows = (int)std::min<int64_t>(MR, mc - s);
    if (rows == MR && cs == 1) {          // row-major A: each row is read along k
      for (int i = 0; i < MR; ++i) {
        const S* r = q + i * rs;
        for (int64_t k = 0; k < kc; ++k) dst[k * MR + i] = C(load(r + k));
      }
    } else if (rows == MR && rs == 1) {   // column-major A (a transposed view): columns are contiguous
      for (int64_t k = 0; k < kc; ++k)
        for (int i = 0; i < MR; ++i) dst[k * MR + i] = C(load(q + k * cs + i));
    } else {
      for (int64_t k = 0; k < kc; ++k) {
        int i = 0;
        for (; i < rows; ++i) dst[k * MR + i] = C(load(q + i * rs + k * cs));
        for (; i < MR; ++i) dst[k * MR + i] = C(0);
      }
    }
  }
}

// Rows [0, kc) x cols [0, nc) of p (strides rs, cs) into NR-wide strips: dst[(s * kc + k) * NR + j].
template <int NR, typename S, typename C>
void pack_b_strips(const S* p, int64_t rs, int64_t cs, int64_t kc, int64_t nc, C* __restrict dst) {
  for (int64_t s = 0; s < nc; s += NR, dst += kc * NR) {
    const S* q = p + s * cs;
    const int cols = (int)std::min<int64_t>(NR, nc - s);
    if (cols == NR && cs == 1) {          // row-major B: a strip row is NR contiguous values
      for (int64_t k = 0; k < kc; ++k)
        for (int j = 0; j < NR; ++j) dst[k * NR + j] = C(load(q + k * rs + j));
    } else if (cols == NR && rs == 1) {   // column-major B (a transposed view)
      for (int j = 0; j < NR; ++j) {
        const S* col = q + j * cs;
        for (int64_t k = 0; k < kc; ++k) dst[k * NR + j] = C(load(col + k));
      }
    } else {
      for (int64_t k = 0; k < kc; ++k) {
        int j = 0;
        for (; j < cols; ++j) dst[k * NR + j] = C(load(q + k * rs + j * cs));
        for (; j < NR; ++j) dst[k * NR + j] = C(0);
      }
    }
  }
}

template <typename S, typename C>
void pack_a(const S* p, int64_t rs, int64_t cs, int64_t mc, int64_t kc, int mr, C* dst) {
  with_width(mr, [&](auto w) { pack_a_strips<decltype(w)::value>(p, rs, cs, mc, kc, dst); });
}

template <typename S, typename C>
void pack_b(const S* p, int64_t rs, int64_t cs, int64_t kc, int64_t nc, int nr, C* dst) {
  with_width(nr, [&](auto w) { pack_b_strips<decltype(w)::value>(p, rs, cs, kc, nc, dst); });
}

}}}  // namespace kiln::cpu::blocked
