// Row-wise CPU loops for some of the math headers' one-element functors: where an output row is a
// shifted copy or a constant shift of an input row, the CPU walks rows (a few index computations per
// row, an inner loop the compiler vectorises) instead of recomputing each element's position with
// divisions. Same values as the functor. for_each_element (for_each_element.h) takes these
// overloads over its generic loop.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>
#include "im2col.h"
#include "kiln/math/bias.h"
#include "kiln/math/nn.h"
#include "parallel.h"
#include "vector_clones.h"

namespace kiln { namespace cpu {

// out[(o c + ch) inner + k] += bias[ch] over rows [r0, r1) of o x channels rows of `inner` elements.
template <typename T>
KILN_VECTOR_CLONES void add_bias_rows(T* out, const T* bias, int64_t bias_stride, int64_t channels, int64_t inner, int64_t r0, int64_t r1) {
  for (int64_t r = r0; r < r1; ++r) {
    const compute_t<T> b = load(bias + (r % channels) * bias_stride);
    T* row = out + r * inner;
    for (int64_t k = 0; k < inner; ++k) store(row + k, load(row + k) + b);
  }
}

template <typename I, typename T>
void for_each_element(const KernelCall&, int64_t n, const nn::AddChannelBiasElement<T, I>& f) {
  const int64_t inner = std::max<int64_t>(1, f.inner), rows = n / inner;
  parallel_for(rows, std::max<int64_t>(1, kGrain / inner),
               [&](int64_t b, int64_t e) { add_bias_rows<T>(f.out, f.bias, f.bias_stride, f.channels, inner, b, e); });
}

template <typename I, typename T>
void for_each_element(const KernelCall&, int64_t, const nn::Im2colElement<T, I>& f) {
  im2col(f.g, f.xs, f.x, f.cols);
}

template <typename I, typename T>
void for_each_element(const KernelCall&, int64_t, const nn::Col2imElement<T, I>& f) {
  col2im(f.g, f.cs, f.cols, f.image);
}

// upsample_nearest2d: each output row (n, c, oh) copies one input row through the columns' source
// positions, computed once per call (nn::nearest_source, as the functor).
template <typename I, typename T>
void for_each_element(const KernelCall&, int64_t, const nn::UpsampleNearest2dElement<T, I>& f) {
  const nn::Upsample2d<I>& g = f.g;
  std::vector<int64_t> src_w((size_t)g.OW);
  for (I ow = 0; ow < g.OW; ++ow) src_w[(size_t)ow] = (int64_t)nn::nearest_source<I>(ow, g.W, g.OW, g.scale_w) * f.xs.s[3];
  const int64_t rows = (int64_t)g.N * g.C * g.OH, OW = g.OW;
  parallel_for(rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, OW)), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const I oh = (I)(r % g.OH), nc = (I)(r / g.OH);
      const T* in = f.x + (nc / g.C) * f.xs.s[0] + (nc % g.C) * f.xs.s[1] + nn::nearest_source<I>(oh, g.H, g.OH, g.scale_h) * f.xs.s[2];
      T* out = f.out + r * OW;
      for (int64_t ow = 0; ow < OW; ++ow) out[ow] = in[src_w[(size_t)ow]];
    }
  });
}

// upsample_nearest2d_backward: each input-gradient row (n, c, h) sums the output rows and columns
// that read it, the column ranges computed once per call; the same sums in the same order as the
// functor's.
template <typename I, typename T>
void for_each_element(const KernelCall&, int64_t, const nn::UpsampleNearest2dBackwardElement<T, I>& f) {
  const nn::Upsample2d<I>& g = f.g;
  std::vector<I> first_w((size_t)g.W + 1);
  for (I w = 0; w <= g.W; ++w) first_w[(size_t)w] = nn::nearest_first_reading<I>(w, g.W, g.OW, g.scale_w);
  const int64_t rows = (int64_t)g.N * g.C * g.H, W = g.W;
  parallel_for(rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, (int64_t)g.OW * g.OH / std::max<I>(1, g.H))), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const I h = (I)(r % g.H), nc = (I)(r / g.H);
      const I oh0 = nn::nearest_first_reading<I>(h, g.H, g.OH, g.scale_h), oh1 = nn::nearest_first_reading<I>(h + 1, g.H, g.OH, g.scale_h);
      const T* plane = f.gout + (nc / g.C) * f.gs.s[0] + (nc % g.C) * f.gs.s[1];
      T* out = f.gin + r * W;
      for (int64_t w = 0; w < W; ++w) {
        compute_t<T> acc = compute_t<T>(0);
        for (I oh = oh0; oh < oh1; ++oh)
          for (I ow = first_w[(size_t)w]; ow < first_w[(size_t)w + 1]; ++ow) acc += load(plane + oh * f.gs.s[2] + ow * f.gs.s[3]);
        store(out + w, acc);
      }
    }
  });
}

}}  // namespace kiln::cpu
