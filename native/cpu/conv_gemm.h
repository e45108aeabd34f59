// conv2d and its two backward passes on the CPU as GEMMs over packed operands (conv_operands.h):
// the products of the table there, with the image's columns packed straight from the image.
//
//   forward          one product per (image, group), spread over the threads by the GEMM; a 1x1
//                    window with stride 1 and no padding reads the image as a plain matrix.
//   backward input   per (image, group, block of input channels): the block's rows of Ĝ into a
//                    thread's buffer, then col2im of those rows into the block's planes of GX, so
//                    no two threads write one plane (deterministic, no atomics); a 1x1 window with
//                    stride 1 and no padding writes GX directly.
//   backward weight  one product per group with the reduction over every image's positions (no
//                    per-image partial sums), the GEMM splitting the output among the threads.
//
// Every output element is summed in one fixed order, whatever the thread count. Inputs may have any
// strides; the weight's (c, i, j) dims must flatten into one stride (`flat_stride`, the caller
// copies it otherwise), outputs are contiguous. Compute type: float for float32 and the half types,
// double for float64. Call on the JS thread (scratch memory comes from the caching allocator).
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>
#include "conv_operands.h"
#include "gemm_loops.h"
#include "gemm_operands.h"
#include "im2col.h"
#include "scratch.h"

namespace kiln { namespace cpu { namespace conv_gemm {

// A 1x1 window moving one pixel at a time over an unpadded image: X̂ is the image itself.
template <typename G>
inline bool pointwise(const G& s) {
  return s.kh == 1 && s.kw == 1 && s.sh == 1 && s.sw == 1 && s.ph == 0 && s.pw == 0;
}

// The stride of l over an image's (h, w) when they flatten into one dim (h stride = W w stride).
inline bool flat_positions(const TensorArg& t, int64_t* stride) {
  if (t.shape[2] == 1 || t.strides[2] == t.shape[3] * t.strides[3]) {
    *stride = t.shape[3] == 1 && t.shape[2] > 1 ? t.strides[2] : t.strides[3];
    return true;
  }
  return false;
}

// y [N, O, OH, OW] (contiguous) = conv2d(x, w); ws: the weight's (c, i, j) stride.
template <typename S, typename G>
void forward(const G& s, const TensorArg& x, const TensorArg& w, int64_t ws, TensorArg& y) {
  using C = compute_t<S>;
  const int64_t og = s.O / s.groups, cg = s.C / s.groups, K = cg * s.kh * s.kw, L = s.OH * s.OW;
  const S* wp = w.ptr<S>();
  const S* xp = x.ptr<S>();
  S* yp = y.ptr<S>();
  const int64_t G_ = s.groups, w0 = w.strides[0], O = s.O;
  const auto a = blocked::strided_matrix<S>([=](int64_t b) { return wp + (b % G_) * og * w0; }, w0, ws);
  const auto out = blocked::strided_output<S, C>([=](int64_t b) { return yp + (b / G_ * O + b % G_ * og) * L; }, L, 1, L, false);
  const blocked::Dims dims{s.N * s.groups, og, L, K};
  int64_t ls;
  if (pointwise(s) && flat_positions(x, &ls)) {   // X̂ is the image: a strided matrix
    const int64_t x0 = x.strides[0], x1 = x.strides[1];
    const auto b = blocked::strided_matrix<S>([=](int64_t bi) { return xp + (bi / G_) * x0 + (bi % G_) * cg * x1; }, x1, ls);
    blocked::run<C>(dims, a, b, out);
    return;
  }
  const int64_t Hp = s.H + 2 * s.ph, Wp = s.W + 2 * s.pw;
  Scratch<C> hold(PaddedImage<C>::size(s.N, s.C, Hp, Wp));
  PaddedImage<C> padded{hold.get(), Hp, Wp, s.C, false};
  padded.template fill<S>(s, x);
  blocked::run<C>(dims, a, ImageColumns<C, G>{s, padded}, out);
}

// gw [O, C/g, kh, kw] (contiguous) = the weight gradient from gy [N, O, OH, OW] and x. The product
// runs over the channels-last padded image, its columns in (i, j, c) order, and is reordered to
// (c, i, j) as it is stored.
template <typename S, typename G>
void backward_weight(const G& s, const TensorArg& gy, const TensorArg& x, TensorArg& gw) {
  using C = compute_t<S>;
  const int64_t og = s.O / s.groups, cg = s.C / s.groups, taps = s.kh * s.kw, K = cg * taps, L = s.OH * s.OW;
  const int64_t Hp = s.H + 2 * s.ph, Wp = s.W + 2 * s.pw;
  Scratch<C> hold(PaddedImage<C>::size(s.N, s.C, Hp, Wp));
  PaddedImage<C> padded{hold.get(), Hp, Wp, s.C, true};
  padded.template fill<S>(s, x);
  Scratch<C> product(s.O * K);   // [O, (i, j, c)]
  C* pp = product.get();
  const auto out = blocked::strided_output<C, C>([=](int64_t g) { return pp + g * og * K; }, K, 1, K, false);
  blocked::run<C>(blocked::Dims{s.groups, og, K, s.N * L}, GradRows<S, G>{s, gy.ptr<S>(), gy.strides}, ImageRows<C, G>{s, padded}, out);
  S* gp = gw.ptr<S>();
  parallel_for(s.O, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, K)), [&](int64_t ob, int64_t oe) {
    for (int64_t o = ob; o < oe; ++o)
      for (int64_t t = 0; t < taps; ++t)
        for (int64_t c = 0; c < cg; ++c) store(gp + o * K + c * taps + t, pp[o * K + t * cg + c]);
  });
}

// gx [N, C, H, W] (contiguous) = the input gradient from gy [N, O, OH, OW] (its (h, w) flatten:
// flat_positions, else the caller copies it) and w.
template <typename S, typename G>
void backward_input(const G& s, const TensorArg& gy, int64_t gys, const TensorArg& w, int64_t ws, TensorArg& gx) {
  using C = compute_t<S>;
  const int64_t og = s.O / s.groups, cg = s.C / s.groups, taps = s.kh * s.kw, L = s.OH * s.OW, HW = s.H * s.W;
  const S* wp = w.ptr<S>();
  const S* gp = gy.ptr<S>();
  S* xp = gx.ptr<S>();
  const int64_t w0 = w.strides[0], g0 = gy.strides[0], g1 = gy.strides[1];
  if (pointwise(s)) {   // Ĝ is GX itself: one product per (image, group) straight into it
    const int64_t G_ = s.groups;
    const auto a = blocked::strided_matrix<S>([=](int64_t b) { return wp + (b % G_) * og * w0; }, ws, w0);   // Wᵀ
    const auto b = blocked::strided_matrix<S>([=](int64_t bi) { return gp + (bi / G_) * g0 + (bi % G_) * og * g1; }, g1, gys);
    const auto out = blocked::strided_output<S, C>([=](int64_t bi) { return xp + (bi / G_ * s.C + bi % G_ * cg) * HW; }, HW, 1, HW, false);
    blocked::run<C>(blocked::Dims{s.N * s.groups, cg, L, og}, a, b, out);
    return;
  }
  // Units (image, group, block of `cb` input channels): enough of them to keep every thread busy.
  const int64_t threads = num_threads();
  int64_t cb = cg;
  while (cb > 1 && s.N * s.groups * ((cg + cb - 1) / cb) < 2 * threads) cb = (cb + 1) / 2;
  const int64_t blocks = (cg + cb - 1) / cb, units = s.N * s.groups * blocks;
  const MicroKernel<C>& mk = micro_kernel<C>();
  const double flops = 2.0 * double(s.N) * double(s.C) * double(taps) * double(L) * double(og);
  parallel_for(units, flops < 2 * blocked::kFlopsPerThread ? units : 1, [&](int64_t ub, int64_t ue) {
    for (int64_t u = ub; u < ue; ++u) {
      const int64_t n = u / (s.groups * blocks), g = u / blocks % s.groups, c0 = u % blocks * cb, nc = std::min(cb, cg - c0);
      const int64_t rows = nc * taps;
      C* cols = blocked::buffer<C>(4, rows * L);   // Ĝ's rows of this block: [nc kh kw, L]
      const S* wblock = wp + g * og * w0 + c0 * taps * ws;
      const auto a = blocked::strided_matrix<S>([=](int64_t) { return wblock; }, ws, w0);   // Wᵀ rows of the block
      const S* gimg = gp + n * g0 + g * og * g1;
      const auto b = blocked::strided_matrix<S>([=](int64_t) { return gimg; }, g1, gys);
      const auto out = blocked::strided_output<C, C>([=](int64_t) { return cols; }, L, 1, L, false);
      blocked::run_unit<C>(mk, og, a, b, out, 0, 0, rows, 0, L);
      // col2im of the block's rows into its planes (channels g cg + c0 .. + nc of image n)
      nn::Window2d<int64_t> win{1, nc, s.H, s.W, s.kh, s.kw, s.sh, s.sw, s.ph, s.pw, s.dh, s.dw, s.OH, s.OW};
      const nn::Strides<int64_t, 3> cs{{rows * L, L, 1}};
      col2im_planes<S, int64_t, C>(win, cs, cols, xp + (n * s.C + g * cg + c0) * HW, 0, nc);
    }
  });
}

}}}  // namespace kiln::cpu::conv_gemm
