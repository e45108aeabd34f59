// im2col and col2im on the CPU, row by row (math/nn.h defines both, one element at a time, for
// the GPU's threads): a row of the columns, [n, (c kh + i) kw + j, 0..OH OW), is a shifted and
// strided copy of the input plane (n, c), so it costs a few index computations per row instead of
// six divisions per element. The values are the same: im2col copies, and col2im adds each pixel's
// column entries in the same order (tap i, then tap j) as col2im_value, starting from zero.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>
#include "kiln/math/nn.h"
#include "parallel.h"
#include "vector_clones.h"

namespace kiln { namespace cpu {

// Output columns [lo, hi) whose tap j lands inside the input row: 0 <= ow sw - pw + j dw < W.
template <typename I>
inline void valid_columns(const nn::Window2d<I>& g, int64_t j, int64_t* lo, int64_t* hi) {
  const int64_t first = int64_t(g.pw) - j * g.dw;            // ow sw >= first
  const int64_t last = int64_t(g.W) - 1 + g.pw - j * g.dw;   // ow sw <= last
  *lo = first <= 0 ? 0 : std::min<int64_t>(g.OW, (first + g.sw - 1) / g.sw);
  *hi = last < 0 ? 0 : std::min<int64_t>(g.OW, last / g.sw + 1);
  if (*hi < *lo) *hi = *lo;
}

// Rows [r0, r1) of cols [N, C kh kw, OH OW] (contiguous) from x [N, C, H, W] (strides xs).
template <typename T, typename I>
KILN_VECTOR_CLONES void im2col_rows(const nn::Window2d<I>& g, const nn::Strides<I, 4>& xs, const T* x, T* cols, int64_t r0, int64_t r1) {
  const int64_t L = int64_t(g.OH) * g.OW;
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t j = r % g.kw, i = r / g.kw % g.kh, c = r / (int64_t(g.kw) * g.kh) % g.C, n = r / (int64_t(g.kw) * g.kh * g.C);
    int64_t lo, hi;
    valid_columns(g, j, &lo, &hi);
    const T* plane = x + n * xs.s[0] + c * xs.s[1];
    const int64_t w0 = j * g.dw - g.pw, step = int64_t(g.sw) * xs.s[3];
    T* d = cols + r * L;
    for (int64_t oh = 0; oh < g.OH; ++oh, d += g.OW) {
      const int64_t h = oh * g.sh - g.ph + i * g.dh;
      if (h < 0 || h >= g.H || lo >= hi) {
        std::fill(d, d + g.OW, T(Store<T>::from(0)));
        continue;
      }
      const T* src = plane + h * xs.s[2] + (lo * g.sw + w0) * xs.s[3];   // input of column lo
      std::fill(d, d + lo, T(Store<T>::from(0)));
      if (step == 1) std::copy(src, src + (hi - lo), d + lo);
      else
        for (int64_t ow = lo; ow < hi; ++ow) d[ow] = src[(ow - lo) * step];
      std::fill(d + hi, d + g.OW, T(Store<T>::from(0)));
    }
  }
}

// Planes [p0, p1) (p = n C + c) of image [N, C, H, W] (contiguous) = col2im(cols), cols
// [N, C kh kw, OH OW] with strides cs, of type T or of T's compute type (Src). Sums in the compute
// type: in the image itself for float32 / float64, in a float buffer for the half types.
template <typename T, typename I, typename Src = T>
KILN_VECTOR_CLONES void col2im_planes(const nn::Window2d<I>& g, const nn::Strides<I, 3>& cs, const Src* cols, T* image, int64_t p0, int64_t p1) {
  using C = compute_t<T>;
  const int64_t HW = int64_t(g.H) * g.W;
  std::vector<C> scratch(std::is_same_v<C, T> ? 0 : (size_t)HW);
  for (int64_t p = p0; p < p1; ++p) {
    const int64_t n = p / g.C, c = p % g.C;
    C* acc = std::is_same_v<C, T> ? reinterpret_cast<C*>(image + p * HW) : scratch.data();
    std::fill(acc, acc + HW, C(0));
    for (int64_t i = 0; i < g.kh; ++i)
      for (int64_t j = 0; j < g.kw; ++j) {
        int64_t lo, hi;
        valid_columns(g, j, &lo, &hi);
        const Src* col = cols + n * cs.s[0] + ((c * g.kh + i) * g.kw + j) * cs.s[1];
        const int64_t w0 = j * g.dw - g.pw;
        for (int64_t oh = 0; oh < g.OH; ++oh) {
          const int64_t h = oh * g.sh - g.ph + i * g.dh;
          if (h < 0 || h >= g.H) continue;
          C* __restrict row = acc + h * g.W + (lo * g.sw + w0);   // pixel of column lo
          const Src* __restrict src = col + (oh * g.OW + lo) * cs.s[2];
          if (g.sw == 1 && cs.s[2] == 1)
            for (int64_t ow = 0; ow < hi - lo; ++ow) row[ow] += load(src + ow);   // vectorised
          else
            for (int64_t ow = 0; ow < hi - lo; ++ow) row[ow * g.sw] += load(src + ow * cs.s[2]);
        }
      }
    if constexpr (!std::is_same_v<C, T>) {
      T* img = image + p * HW;
      for (int64_t k = 0; k < HW; ++k) store(img + k, acc[k]);
    }
  }
}

// The whole of im2col / col2im, split across threads by rows / planes.
template <typename T, typename I>
void im2col(const nn::Window2d<I>& g, const nn::Strides<I, 4>& xs, const T* x, T* cols) {
  const int64_t rows = int64_t(g.N) * g.C * g.kh * g.kw, L = std::max<int64_t>(1, int64_t(g.OH) * g.OW);
  parallel_for(rows, std::max<int64_t>(1, kGrain / L), [&](int64_t b, int64_t e) { im2col_rows(g, xs, x, cols, b, e); });
}

template <typename T, typename I>
void col2im(const nn::Window2d<I>& g, const nn::Strides<I, 3>& cs, const T* cols, T* image) {
  const int64_t planes = int64_t(g.N) * g.C, work = std::max<int64_t>(1, int64_t(g.kh) * g.kw * g.OH * g.OW + int64_t(g.H) * g.W);
  parallel_for(planes, std::max<int64_t>(1, kGrain / work), [&](int64_t b, int64_t e) { col2im_planes(g, cs, cols, image, b, e); });
}

}}  // namespace kiln::cpu
