// conv2d and its two backward passes computed directly, window tap by window tap, for convolutions
// whose groups have one input channel each (depthwise: C/groups = 1, each output plane reads one
// input plane): as matrix products these have K = kh kw, a handful of rows, and would leave most of
// a micro-kernel's tile empty. Along an output row a tap is a shifted, strided copy of an input row,
// so the inner loops run over contiguous output columns and vectorise.
//
// Each output element is summed in a fixed order (taps (i, j) in row-major order; for the weight
// gradient, images then positions) whatever the thread count. Inputs may have any strides; outputs
// are contiguous. Sums in the compute type (float for the half types, through a buffer).
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>
#include "conv_operands.h"
#include "parallel.h"

namespace kiln { namespace cpu { namespace conv_direct {

// When the direct kernels take a convolution: one input channel per group, a few outputs per group.
template <typename G>
inline bool applies(const G& s) {
  return s.groups > 0 && s.C == s.groups && s.O / s.groups <= 8;
}

// y [N, O, OH, OW] (contiguous) = conv2d(x, w), w [O, 1, kh, kw] with strides ws.
template <typename S, typename G>
void forward(const G& s, const TensorArg& x, const TensorArg& w, TensorArg& y) {
  using C = compute_t<S>;
  const int64_t og = s.O / s.groups, L = s.OH * s.OW, planes = s.N * s.O;
  const int64_t* xs = x.strides;
  const int64_t* ws = w.strides;
  parallel_for(planes, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, L * s.kh * s.kw)), [&](int64_t pb, int64_t pe) {
    std::vector<C> acc((size_t)s.OW);
    for (int64_t p = pb; p < pe; ++p) {
      const int64_t n = p / s.O, o = p % s.O, c = o / og;
      const S* plane = x.ptr<S>() + n * xs[0] + c * xs[1];
      const S* wo = w.ptr<S>() + o * ws[0];
      S* out = y.ptr<S>() + p * L;
      for (int64_t oh = 0; oh < s.OH; ++oh) {
        std::fill(acc.begin(), acc.end(), C(0));
        for (int64_t i = 0; i < s.kh; ++i) {
          const int64_t h = oh * s.sh - s.ph + i * s.dh;
          if (h < 0 || h >= s.H) continue;
          for (int64_t j = 0; j < s.kw; ++j) {
            int64_t lo, hi;
            conv_gemm::tap_columns(s, j, &lo, &hi);
            if (lo >= hi) continue;
            const C wv = C(load(wo + i * ws[2] + j * ws[3]));
            const S* src = plane + h * xs[2] + (lo * s.sw + j * s.dw - s.pw) * xs[3];   // input of column lo
            const int64_t step = s.sw * xs[3];
            for (int64_t ow = lo; ow < hi; ++ow) acc[ow] += wv * C(load(src + (ow - lo) * step));
          }
        }
        for (int64_t ow = 0; ow < s.OW; ++ow) store(out + oh * s.OW + ow, acc[ow]);
      }
    }
  });
}

// gx [N, C, H, W] (contiguous) from gy [N, O, OH, OW] and w: plane (n, c) sums, for each output
// channel o of its group and each tap, the tap's scatter of gy[n, o].
template <typename S, typename G>
void backward_input(const G& s, const TensorArg& gy, const TensorArg& w, TensorArg& gx) {
  using C = compute_t<S>;
  const int64_t og = s.O / s.groups, HW = s.H * s.W, planes = s.N * s.C;
  const int64_t* gs = gy.strides;
  const int64_t* ws = w.strides;
  parallel_for(planes, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, og * s.OH * s.OW * s.kh * s.kw)), [&](int64_t pb, int64_t pe) {
    std::vector<C> scratch(std::is_same_v<C, S> ? 0 : (size_t)HW);
    for (int64_t p = pb; p < pe; ++p) {
      const int64_t n = p / s.C, c = p % s.C;
      C* acc = std::is_same_v<C, S> ? reinterpret_cast<C*>(gx.ptr<S>() + p * HW) : scratch.data();
      std::fill(acc, acc + HW, C(0));
      for (int64_t o = c * og; o < (c + 1) * og; ++o) {
        const S* g = gy.ptr<S>() + n * gs[0] + o * gs[1];
        for (int64_t i = 0; i < s.kh; ++i)
          for (int64_t j = 0; j < s.kw; ++j) {
            int64_t lo, hi;
            conv_gemm::tap_columns(s, j, &lo, &hi);
            if (lo >= hi) continue;
            const C wv = C(load(w.ptr<S>() + o * ws[0] + i * ws[2] + j * ws[3]));
            for (int64_t oh = 0; oh < s.OH; ++oh) {
              const int64_t h = oh * s.sh - s.ph + i * s.dh;
              if (h < 0 || h >= s.H) continue;
              C* row = acc + h * s.W + (lo * s.sw + j * s.dw - s.pw);   // pixel of column lo
              const S* grow = g + oh * gs[2];
              for (int64_t ow = lo; ow < hi; ++ow) row[(ow - lo) * s.sw] += wv * C(load(grow + ow * gs[3]));
            }
          }
      }
      if constexpr (!std::is_same_v<C, S>) {
        S* out = gx.ptr<S>() + p * HW;
        for (int64_t k = 0; k < HW; ++k) store(out + k, acc[k]);
      }
    }
  });
}

// gw [O, 1, kh, kw] (contiguous) from gy and x: tap (o, i, j) sums gy[n, o] · the tap's view of
// x[n, c] over images and positions.
template <typename S, typename G>
void backward_weight(const G& s, const TensorArg& gy, const TensorArg& x, TensorArg& gw) {
  using C = compute_t<S>;
  const int64_t og = s.O / s.groups, taps = s.kh * s.kw;
  const int64_t* gs = gy.strides;
  const int64_t* xs = x.strides;
  parallel_for(s.O, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, s.N * s.OH * s.OW * taps)), [&](int64_t ob, int64_t oe) {
    for (int64_t o = ob; o < oe; ++o) {
      const int64_t c = o / og;
      for (int64_t i = 0; i < s.kh; ++i)
        for (int64_t j = 0; j < s.kw; ++j) {
          int64_t lo, hi;
          conv_gemm::tap_columns(s, j, &lo, &hi);
          C sum = C(0);
          for (int64_t n = 0; n < s.N && lo < hi; ++n) {
            const S* g = gy.ptr<S>() + n * gs[0] + o * gs[1];
            const S* plane = x.ptr<S>() + n * xs[0] + c * xs[1];
            for (int64_t oh = 0; oh < s.OH; ++oh) {
              const int64_t h = oh * s.sh - s.ph + i * s.dh;
              if (h < 0 || h >= s.H) continue;
              const S* src = plane + h * xs[2] + (lo * s.sw + j * s.dw - s.pw) * xs[3];
              const S* grow = g + oh * gs[2];
              C row = C(0);
              for (int64_t ow = lo; ow < hi; ++ow) row += C(load(grow + ow * gs[3])) * C(load(src + (ow - lo) * s.sw * xs[3]));
              sum += row;
            }
          }
          store(gw.ptr<S>() + o * taps + i * s.kw + j, sum);
        }
    }
  });
}

}}}  // namespace kiln::cpu::conv_direct
