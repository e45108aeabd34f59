// conv2d and its two backward passes computed directly, window tap by window tap, for convolutions
// whose groups have one input channel each (depthwise: C/groups = 1, each output plane reads one
// input plane): as matrix products these have K = kh kw, a handful of rows, and would leave most of
// a micro-kernel's tile empty. Along an output row a tap is a shifted, strided copy of an input row,
// so the inner loops run over contiguous output columns; the per-plane functions are compiled for
// AVX2 / AVX-512 too (vector_clones.h).
//
// Each output element is summed in a fixed order (taps (i, j) in row-major order; for the weight
// gradient, images then rows, each row in 8 interleaved partial sums) whatever the thread count.
// Inputs may have any strides; outputs are contiguous. Sums in the compute type (float for the
// half types, through a buffer).
#pragma once
#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>
#include "conv_operands.h"
#include "parallel.h"
#include "vector_clones.h"

namespace kiln { namespace cpu { namespace conv_direct {

// When the direct kernels take a convolution: one input channel per group, a few outputs per group.
template <typename G>
inline bool applies(const G& s) {
  return s.groups > 0 && s.C == s.groups && s.O / s.groups <= 8;
}

// a[0 .. n) += w b[k sb]  (sb = 1: a contiguous run the compiler vectorises)
template <typename C, typename S>
inline void axpy(C* __restrict a, C w, const S* __restrict b, int64_t sb, int64_t n) {
  if (sb == 1)
    for (int64_t k = 0; k < n; ++k) a[k] += w * C(load(b + k));
  else
    for (int64_t k = 0; k < n; ++k) a[k] += w * C(load(b + k * sb));
}

// The sum of a[k sa] b[k sb] for k < n in 8 interleaved partial sums (vectorised when both are
// contiguous), added up in a fixed order at the end.
template <typename S>
inline compute_t<S> dot(const S* a, int64_t sa, const S* b, int64_t sb, int64_t n) {
  using C = compute_t<S>;
  constexpr int kLanes = 8;
  C part[kLanes] = {};
  int64_t k = 0;
  if (sa == 1 && sb == 1)
    for (; k + kLanes <= n; k += kLanes)
      for (int t = 0; t < kLanes; ++t) part[t] += C(load(a + k + t)) * C(load(b + k + t));
  for (; k < n; ++k) part[k % kLanes] += C(load(a + k * sa)) * C(load(b + k * sb));
  C sum = C(0);
  for (int t = 0; t < kLanes; ++t) sum += part[t];
  return sum;
}

// Output plane `out` (OH x OW, contiguous) of input plane `plane` (strides xs[2], xs[3]) and the
// output channel's taps `wo` (strides ws[2], ws[3]); cols[2 j], cols[2 j + 1]: tap_columns of tap
// column j; acc: OW compute-type values of scratch.
template <typename S, typename G>
KILN_VECTOR_CLONES void forward_plane(const G& s, const S* plane, const int64_t* xs, const S* wo, const int64_t* ws, const int64_t* cols, S* out,
                                      compute_t<S>* acc) {
  using C = compute_t<S>;
  for (int64_t oh = 0; oh < s.OH; ++oh) {
    std::fill(acc, acc + s.OW, C(0));
    for (int64_t i = 0; i < s.kh; ++i) {
      const int64_t h = oh * s.sh - s.ph + i * s.dh;
      if (h < 0 || h >= s.H) continue;
      for (int64_t j = 0; j < s.kw; ++j) {
        const int64_t lo = cols[2 * j], hi = cols[2 * j + 1];
        if (lo >= hi) continue;
        const S* src = plane + h * xs[2] + (lo * s.sw + j * s.dw - s.pw) * xs[3];   // input of column lo
        axpy(acc + lo, C(load(wo + i * ws[2] + j * ws[3])), src, s.sw * xs[3], hi - lo);
      }
    }
    for (int64_t ow = 0; ow < s.OW; ++ow) store(out + oh * s.OW + ow, acc[ow]);
  }
}

// Adds to acc (the H x W input plane's gradient, contiguous) the scatter of output gradient plane g
// (strides gs[2], gs[3]) through the output channel's taps wo.
template <typename S, typename G>
KILN_VECTOR_CLONES void backward_input_plane(const G& s, const S* g, const int64_t* gs, const S* wo, const int64_t* ws, compute_t<S>* acc) {
  using C = compute_t<S>;
  for (int64_t i = 0; i < s.kh; ++i)
    for (int64_t j = 0; j < s.kw; ++j) {
      int64_t lo, hi;
      conv_gemm::tap_columns(s, j, &lo, &hi);
      if (lo >= hi) continue;
      const C wv = C(load(wo + i * ws[2] + j * ws[3]));
      for (int64_t oh = 0; oh < s.OH; ++oh) {
        const int64_t h = oh * s.sh - s.ph + i * s.dh;
        if (h < 0 || h >= s.H) continue;
        C* row = acc + h * s.W + (lo * s.sw + j * s.dw - s.pw);   // pixel of column lo
        const S* grow = g + oh * gs[2] + lo * gs[3];
        if (s.sw == 1) axpy(row, wv, grow, gs[3], hi - lo);
        else
          for (int64_t k = 0; k < hi - lo; ++k) row[k * s.sw] += wv * C(load(grow + k * gs[3]));
      }
    }
}

// The gradient of tap (i, j) of an output channel: the sum over images n of gy plane n (strides gs)
// times the tap's view of input plane n (strides xs).
template <typename S, typename G>
KILN_VECTOR_CLONES compute_t<S> backward_weight_tap(const G& s, int64_t i, int64_t j, const S* gy0, const int64_t* gs, const S* x0, const int64_t* xs) {
  using C = compute_t<S>;
  int64_t lo, hi;
  conv_gemm::tap_columns(s, j, &lo, &hi);
  C sum = C(0);
  if (lo >= hi) return sum;
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t oh = 0; oh < s.OH; ++oh) {
      const int64_t h = oh * s.sh - s.ph + i * s.dh;
      if (h < 0 || h >= s.H) continue;
      const S* src = x0 + n * xs[0] + h * xs[2] + (lo * s.sw + j * s.dw - s.pw) * xs[3];
      const S* grow = gy0 + n * gs[0] + oh * gs[2] + lo * gs[3];
      sum += dot(grow, gs[3], src, s.sw * xs[3], hi - lo);
    }
  return sum;
}

// y [N, O, OH, OW] (contiguous) = conv2d(x, w), w [O, 1, kh, kw].
template <typename S, typename G>
void forward(const G& s, const TensorArg& x, const TensorArg& w, TensorArg& y) {
  using C = compute_t<S>;
  const int64_t og = s.O / s.groups, L = s.OH * s.OW;
  std::vector<int64_t> cols((size_t)(2 * s.kw));   // each tap column's valid output columns
  for (int64_t j = 0; j < s.kw; ++j) conv_gemm::tap_columns(s, j, &cols[2 * j], &cols[2 * j + 1]);
  parallel_for(s.N * s.O, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, L * s.kh * s.kw)), [&](int64_t pb, int64_t pe) {
    std::vector<C> acc((size_t)s.OW);
    for (int64_t p = pb; p < pe; ++p) {
      const int64_t n = p / s.O, o = p % s.O;
      forward_plane<S>(s, x.ptr<S>() + n * x.strides[0] + o / og * x.strides[1], x.strides, w.ptr<S>() + o * w.strides[0], w.strides, cols.data(),
                       y.ptr<S>() + p * L, acc.data());
    }
  });
}

// gx [N, C, H, W] (contiguous) from gy [N, O, OH, OW] and w: plane (n, c) sums the scatters of its
// group's output channels.
template <typename S, typename G>
void backward_input(const G& s, const TensorArg& gy, const TensorArg& w, TensorArg& gx) {
  using C = compute_t<S>;
  const int64_t og = s.O / s.groups, HW = s.H * s.W;
  parallel_for(s.N * s.C, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, og * s.OH * s.OW * s.kh * s.kw)), [&](int64_t pb, int64_t pe) {
    std::vector<C> scratch(std::is_same_v<C, S> ? 0 : (size_t)HW);
    for (int64_t p = pb; p < pe; ++p) {
      const int64_t n = p / s.C, c = p % s.C;
      C* acc = std::is_same_v<C, S> ? reinterpret_cast<C*>(gx.ptr<S>() + p * HW) : scratch.data();
      std::fill(acc, acc + HW, C(0));
      for (int64_t o = c * og; o < (c + 1) * og; ++o)
        backward_input_plane<S>(s, gy.ptr<S>() + n * gy.strides[0] + o * gy.strides[1], gy.strides, w.ptr<S>() + o * w.strides[0], w.strides, acc);
      if constexpr (!std::is_same_v<C, S>) {
        S* out = gx.ptr<S>() + p * HW;
        for (int64_t k = 0; k < HW; ++k) store(out + k, acc[k]);
      }
    }
  });
}

// gw [O, 1, kh, kw] (contiguous) from gy and x, tap by tap.
template <typename S, typename G>
void backward_weight(const G& s, const TensorArg& gy, const TensorArg& x, TensorArg& gw) {
  const int64_t og = s.O / s.groups, taps = s.kh * s.kw;
  parallel_for(s.O * taps, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, s.N * s.OH * s.OW)), [&](int64_t tb, int64_t te) {
    for (int64_t t = tb; t < te; ++t) {
      const int64_t o = t / taps, i = t % taps / s.kw, j = t % s.kw;
      store(gw.ptr<S>() + t, backward_weight_tap<S>(s, i, j, gy.ptr<S>() + o * gy.strides[1], gy.strides, x.ptr<S>() + o / og * x.strides[1], x.strides));
    }
  });
}

}}}  // namespace kiln::cpu::conv_direct
