// Modulated deformable convolution (DCNv2: Zhu, Hu, Lin, Dai, "Deformable ConvNets v2", CVPR 2019),
// the formulas of its three kernels, written once for both devices (KILN_HD): the CPU loops
// (deform_conv.cc) and the CUDA grids (deform_conv.cu) call the same functions per work item.
//
// The convolution is computed as PyTorch computes a convolution on im2col: the columns of the
// input, [N, C kh kw, OH OW], times the weight. Here each column entry samples the input away from
// the regular grid, and the op has three kernels:
//
//   deform_im2col                       columns[n, c K + k, l] = m · x̃(n, c, y, x)
//   deform_im2col_backward_input        ∂/∂input of Σ grad_columns · columns   (a scatter)
//   deform_im2col_backward_offset_mask  ∂/∂offset and ∂/∂mask of the same      (a gather)
//
// for kernel tap k = (i, j) (K = kh kw taps) and output position l = (oh, ow), with channel c in
// offset group g = c / (C / G), tap index t = g K + k, and
//
//   y = oh·sh − ph + i·dh + offset[n, 2t, oh, ow]      x = ow·sw − pw + j·dw + offset[n, 2t + 1, oh, ow]
//   m = mask[n, t, oh, ow]
//
// (the offset and mask layouts of torchvision.ops.deform_conv2d and mmcv's modulated_deform_conv2d).
//
// x̃ is bilinear interpolation of the channel's H×W plane that reads 0 outside it. With
// y0 = ⌊y⌋, x0 = ⌊x⌋, ly = y − y0, lx = x − x0, hy = 1 − ly, hx = 1 − lx and v_ab the input at
// (y0 + a, x0 + b) (0 outside the plane):
//
//   x̃ = hy hx v00 + hy lx v01 + ly hx v10 + ly lx v11
//   ∂x̃/∂y = hx (v10 − v00) + lx (v11 − v01)          ∂x̃/∂x = hy (v01 − v00) + ly (v11 − v10)
//   ∂x̃/∂v_ab = its weight (hy hx, hy lx, ly hx, ly lx)
//
// A sample with y <= −1, y >= H, x <= −1 or x >= W touches no pixel: x̃ = 0 and so are its
// derivatives. x̃ is continuous everywhere (the weights of out-of-plane corners vanish at the edges),
// and differentiable except where y or x is a whole number, where ∂x̃/∂y and ∂x̃/∂x jump; the value
// used there is the one-sided derivative from above (y0 = y), as torchvision's and mmcv's kernels use.
//
// So, for G = grad_columns[n, c K + k, l]:
//   ∂L/∂input[n, c, y0 + a, x0 + b] += G · m · weight_ab          (scatter over c, k, l)
//   ∂L/∂offset[n, 2t, oh, ow]     = Σ_{c in g} G · m · ∂x̃/∂y
//   ∂L/∂offset[n, 2t + 1, oh, ow] = Σ_{c in g} G · m · ∂x̃/∂x
//   ∂L/∂mask[n, t, oh, ow]        = Σ_{c in g} G · x̃
#pragma once
#include <cstdint>
#include "kiln/hd.h"
#include "kiln/math/scalar.h"

namespace dcn {

// The geometry of one call, read from its attributes and shapes (deform_conv_args.h).
struct Geometry {
  int64_t batch, channels, height, width;   // input [N, C, H, W]
  int64_t kh, kw, sh, sw, ph, pw, dh, dw;   // kernel, stride, padding, dilation
  int64_t groups;                           // offset groups G (C % G == 0)
  int64_t out_h, out_w;                     // OH, OW

  KILN_HD int64_t taps() const { return kh * kw; }
  KILN_HD int64_t positions() const { return out_h * out_w; }
  KILN_HD int64_t channels_per_group() const { return channels / groups; }
};

// A strided 4-D view in elements ([N, C, H, W] or [N, channels, OH, OW]).
template <typename T> struct View4 {
  T* data;
  int64_t s0, s1, s2, s3;
  KILN_HD T& at(int64_t a, int64_t b, int64_t c, int64_t d) const { return data[a * s0 + b * s1 + c * s2 + d * s3]; }
};

// A strided 3-D view (the columns and their gradient, [N, C K, L]).
template <typename T> struct View3 {
  T* data;
  int64_t s0, s1, s2;
  KILN_HD T& at(int64_t a, int64_t b, int64_t c) const { return data[a * s0 + b * s1 + c * s2]; }
};

// Where tap k of output position l samples, for offset group g of image n, and its mask.
template <typename T> struct Sample {
  T y, x, m;
};

template <typename T>
KILN_HD Sample<T> sample_at(const Geometry& g, const View4<const T>& offset, const View4<const T>& mask, int64_t n, int64_t group, int64_t k, int64_t oh,
                            int64_t ow) {
  const int64_t t = group * g.taps() + k, i = k / g.kw, j = k % g.kw;
  Sample<T> s;
  s.y = (T)(oh * g.sh - g.ph + i * g.dh) + offset.at(n, 2 * t, oh, ow);
  s.x = (T)(ow * g.sw - g.pw + j * g.dw) + offset.at(n, 2 * t + 1, oh, ow);
  s.m = mask.at(n, t, oh, ow);
  return s;
}

// The bilinear stencil of a sample point: its top-left pixel and the four weights.
template <typename T> struct Stencil {
  bool touches;            // false: the point is a pixel or more outside the plane
  int64_t y0, x0;
  T ly, lx, hy, hx;
};

template <typename T> KILN_HD Stencil<T> stencil_at(T y, T x, int64_t height, int64_t width) {
  Stencil<T> st{};
  st.touches = y > T(-1) && y < (T)height && x > T(-1) && x < (T)width;
  if (!st.touches) return st;
  const T yf = kiln::m::floor(y), xf = kiln::m::floor(x);
  st.y0 = (int64_t)yf;
  st.x0 = (int64_t)xf;
  st.ly = y - yf;
  st.lx = x - xf;
  st.hy = T(1) - st.ly;
  st.hx = T(1) - st.lx;
  return st;
}

// The four corner values v00, v01, v10, v11 of a stencil over plane (n, c): 0 outside the plane.
template <typename T> struct Corners {
  T v00, v01, v10, v11;
};

template <typename T>
KILN_HD Corners<T> corners_of(const View4<const T>& input, int64_t n, int64_t c, const Stencil<T>& st, int64_t height, int64_t width) {
  const bool top = st.y0 >= 0, bottom = st.y0 + 1 < height, left = st.x0 >= 0, right = st.x0 + 1 < width;
  Corners<T> v;
  v.v00 = top && left ? input.at(n, c, st.y0, st.x0) : T(0);
  v.v01 = top && right ? input.at(n, c, st.y0, st.x0 + 1) : T(0);
  v.v10 = bottom && left ? input.at(n, c, st.y0 + 1, st.x0) : T(0);
  v.v11 = bottom && right ? input.at(n, c, st.y0 + 1, st.x0 + 1) : T(0);
  return v;
}

// ANCHOR: interpolate (quoted in docs/writing-an-extension.md)
template <typename T> KILN_HD T interpolate(const Stencil<T>& st, const Corners<T>& v) {
  return st.hy * st.hx * v.v00 + st.hy * st.lx * v.v01 + st.ly * st.hx * v.v10 + st.ly * st.lx * v.v11;
}
// ANCHOR_END: interpolate

// ---- the three kernels' work items -----------------------------------------------------------

// deform_im2col: the K column entries of channel c at output position l of image n.
template <typename T>
KILN_HD void im2col_item(const Geometry& g, const View4<const T>& input, const View4<const T>& offset, const View4<const T>& mask, const View3<T>& columns,
                         int64_t n, int64_t c, int64_t l) {
  const int64_t oh = l / g.out_w, ow = l % g.out_w, group = c / g.channels_per_group();
  for (int64_t k = 0; k < g.taps(); ++k) {
    const Sample<T> s = sample_at(g, offset, mask, n, group, k, oh, ow);
    const Stencil<T> st = stencil_at(s.y, s.x, g.height, g.width);
    columns.at(n, c * g.taps() + k, l) = st.touches ? s.m * interpolate(st, corners_of(input, n, c, st, g.height, g.width)) : T(0);
  }
}

// deform_im2col_backward_input: adds the gradient of the K column entries of (n, c, l) into the
// input's gradient through `add(pointer, value)` (a plain += where one thread owns the plane, an
// atomic add on the GPU).
template <typename T, typename Add>
KILN_HD void backward_input_item(const Geometry& g, const View3<const T>& grad_columns, const View4<const T>& offset, const View4<const T>& mask,
                                 const View4<T>& grad_input, int64_t n, int64_t c, int64_t l, Add add) {
  const int64_t oh = l / g.out_w, ow = l % g.out_w, group = c / g.channels_per_group();
  for (int64_t k = 0; k < g.taps(); ++k) {
    const Sample<T> s = sample_at(g, offset, mask, n, group, k, oh, ow);
    const Stencil<T> st = stencil_at(s.y, s.x, g.height, g.width);
    if (!st.touches) continue;
    const T gm = grad_columns.at(n, c * g.taps() + k, l) * s.m;
    const bool top = st.y0 >= 0, bottom = st.y0 + 1 < g.height, left = st.x0 >= 0, right = st.x0 + 1 < g.width;
    if (top && left) add(&grad_input.at(n, c, st.y0, st.x0), gm * st.hy * st.hx);
    if (top && right) add(&grad_input.at(n, c, st.y0, st.x0 + 1), gm * st.hy * st.lx);
    if (bottom && left) add(&grad_input.at(n, c, st.y0 + 1, st.x0), gm * st.ly * st.hx);
    if (bottom && right) add(&grad_input.at(n, c, st.y0 + 1, st.x0 + 1), gm * st.ly * st.lx);
  }
}

// deform_im2col_backward_offset_mask: the gradients of tap k's offsets (y, x) and mask at output
// position l of image n, offset group `group`: sums over the group's channels.
template <typename T>
KILN_HD void backward_offset_mask_item(const Geometry& g, const View3<const T>& grad_columns, const View4<const T>& input, const View4<const T>& offset,
                                       const View4<const T>& mask, const View4<T>& grad_offset, const View4<T>& grad_mask, int64_t n, int64_t group, int64_t k,
                                       int64_t l) {
  const int64_t oh = l / g.out_w, ow = l % g.out_w, t = group * g.taps() + k;
  const Sample<T> s = sample_at(g, offset, mask, n, group, k, oh, ow);
  const Stencil<T> st = stencil_at(s.y, s.x, g.height, g.width);
  T gy = 0, gx = 0, gmask = 0;
  if (st.touches) {
    const int64_t per = g.channels_per_group();
    for (int64_t c = group * per; c < (group + 1) * per; ++c) {
      const T gc = grad_columns.at(n, c * g.taps() + k, l);
      const Corners<T> v = corners_of(input, n, c, st, g.height, g.width);
      gy += gc * (st.hx * (v.v10 - v.v00) + st.lx * (v.v11 - v.v01));
      gx += gc * (st.hy * (v.v01 - v.v00) + st.ly * (v.v11 - v.v10));
      gmask += gc * interpolate(st, v);
    }
  }
  grad_offset.at(n, 2 * t, oh, ow) = gy * s.m;
  grad_offset.at(n, 2 * t + 1, oh, ow) = gx * s.m;
  grad_mask.at(n, t, oh, ow) = gmask;
}

}  // namespace dcn
