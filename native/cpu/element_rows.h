// Row-wise CPU loops for some of the math headers' one-element functors: where an output row is a
// shifted copy or a constant shift of an input row, the CPU walks rows (a few index computations per
// row, an inner loop the compiler vectorises) instead of recomputing each element's position with
// divisions. Same values as the functor. for_each_element (for_each_element.h) takes these
// overloads over its generic loop.
#pragma once
#include <algorithm>
#include <cstdint>
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

}}  // namespace kiln::cpu
