// RoI Align's geometry and bilinear sampling (He et al., Mask R-CNN), torchvision's formulas term
// for term, shared by roi_align_cpu.cc and roi_align_cuda.cu.
//
// Kernel "roi_align": inputs [input [N, C, H, W], rois [K, 5]] (contiguous; a roi is batch index,
// x1, y1, x2, y2), outputs [out [K, C, PH, PW]] (contiguous); attrs [spatialScale, samplingRatio,
// aligned]. Kernel "roi_align_backward": inputs [grad [K, C, PH, PW], rois], outputs
// [gradInput [N, C, H, W]], the same attrs.
//
// Output bin (ph, pw) of a roi averages a grid of gh × gw bilinear samples of its channel:
//
//   start = corner · scale - (aligned ? 0.5 : 0)       size = (end - start), at least 1 unless aligned
//   bin = size / pooled                                 g = samplingRatio > 0 ? samplingRatio : ceil(size / pooled)
//   y(ph, iy) = start_h + ph · bin_h + (iy + 0.5) · bin_h / gh         (x likewise)
//   out = Σ bilinear(y, x) / max(gh · gw, 1)
//
// bilinear(y, x) is 0 outside [-1, H] × [-1, W]; inside, y and x are clamped to [0, H - 1] and
// [0, W - 1] and the four neighbours are weighted by the areas of the opposite sub-rectangles. The
// backward pass sends grad · weight / count to the same four neighbours. Everything is computed
// in the compute type (float for float32 and the half types, double for float64).
#pragma once
#include <cmath>
#include <cstdint>
#include <string>
#include "kiln/dtype.h"
#include "kiln/kernel.h"
#include "kiln/math/scalar.h"
#include "../rois.h"

namespace kiln { namespace vision {

struct RoiAlignParams {
  int64_t channels, height, width, pooled_h, pooled_w;
  int sampling_ratio;
  bool aligned;
};

// One roi's sampling grid.
template <typename C> struct RoiGrid {
  C start_h, start_w, bin_h, bin_w;
  int grid_h, grid_w;
  C count;   // samples averaged per bin (at least 1)
};

// Samples per bin along an axis when samplingRatio <= 0: ceil(bin size), 0 for an empty or NaN
// bin, and kTooManySamples past kMaxGrid (a roi that large would take hours: the kernels refuse it).
constexpr int kMaxGrid = 1 << 14;
constexpr int kTooManySamples = -1;
// grid_h and grid_w of a roi with a corner, or a width or height, that is not finite once scaled
// (a NaN box sampled nothing and gave zeros; an infinite one spans every pixel): the kernels refuse
// it, as RoI Pool.
constexpr int kNotFinite = -2;
template <typename C> KILN_HD int adaptive_grid(C bin) {
  const C n = m::ceil(bin);
  if (!(n > C(0))) return 0;
  return n <= C(kMaxGrid) ? (int)n : kTooManySamples;
}

template <typename C> KILN_HD RoiGrid<C> roi_grid(const C* roi, C scale, const RoiAlignParams& p) {
  const C offset = p.aligned ? C(0.5) : C(0);
  RoiGrid<C> g;
  g.start_w = roi[1] * scale - offset;
  g.start_h = roi[2] * scale - offset;
  C width = roi[3] * scale - offset - g.start_w;
  C height = roi[4] * scale - offset - g.start_h;
  // finite corners can still span more than the type holds (x1 = -1e308, x2 = 1e308)
  if (!(m::isfinite(g.start_w) && m::isfinite(g.start_h) && m::isfinite(width) && m::isfinite(height))) {
    g.grid_h = g.grid_w = kNotFinite;
    return g;
  }
  if (!p.aligned) {   // torchvision forces malformed rois to 1 × 1 (aligned rois may be empty)
    width = width > C(1) ? width : C(1);
    height = height > C(1) ? height : C(1);
  }
  g.bin_h = height / C(p.pooled_h);
  g.bin_w = width / C(p.pooled_w);
  g.grid_h = p.sampling_ratio > 0 ? p.sampling_ratio : adaptive_grid(height / C(p.pooled_h));
  g.grid_w = p.sampling_ratio > 0 ? p.sampling_ratio : adaptive_grid(width / C(p.pooled_w));
  const int64_t n = (int64_t)g.grid_h * g.grid_w;
  g.count = C(n > 1 ? n : 1);
  return g;
}

// The sample coordinate of bin `b`, grid step `i` of `n`, along one axis.
template <typename C> KILN_HD C sample_at(C start, C bin, int64_t b, int i, int n) { return start + C(b) * bin + C(i + 0.5f) * bin / C(n); }

// The four neighbours (offsets in an H × W plane, in the index type I: int32_t on CUDA when the
// plane fits it, whose 64-bit integer arithmetic takes two instructions per operation) of a sample
// and their weights; all weights 0 when the sample lies outside [-1, H] × [-1, W].
template <typename C, typename I = int64_t> struct Bilinear {
  I p1, p2, p3, p4;
  C w1, w2, w3, w4;
  bool inside;   // false: no neighbours (the backward pass adds nothing, not even 0 × a NaN gradient)
};

template <typename C, typename I> KILN_HD Bilinear<C, I> bilinear(I height, I width, C y, C x) {
  // written as !(in range) so that NaN coordinates (every comparison false) land here
  if (!(y >= C(-1) && y <= C(height) && x >= C(-1) && x <= C(width))) return {0, 0, 0, 0, C(0), C(0), C(0), C(0), false};
  if (y <= C(0)) y = C(0);
  if (x <= C(0)) x = C(0);
  I y_low = (I)y, x_low = (I)x, y_high, x_high;
  if (y_low >= height - 1) {
    y_high = y_low = height - 1;
    y = C(y_low);
  } else {
    y_high = y_low + 1;
  }
  if (x_low >= width - 1) {
    x_high = x_low = width - 1;
    x = C(x_low);
  } else {
    x_high = x_low + 1;
  }
  const C ly = y - C(y_low), lx = x - C(x_low);
  const C hy = C(1) - ly, hx = C(1) - lx;
  return {y_low * width + x_low, y_low * width + x_high, y_high * width + x_low, y_high * width + x_high, hy * hx, hy * lx, ly * hx, ly * lx, true};
}

// The interpolated value at a sample (torchvision's order of the four products).
template <typename C, typename T, typename I> KILN_HD C interpolate(const T* plane, const Bilinear<C, I>& s) {
  return s.w1 * C(load(plane + s.p1)) + s.w2 * C(load(plane + s.p2)) + s.w3 * C(load(plane + s.p3)) + s.w4 * C(load(plane + s.p4));
}

// The operands of both kernels, checked the same way on both devices: `features` is the input
// (forward) or the input gradient (backward), `pooled` the output or the output gradient.
inline RoiAlignParams check_roi_call(const KernelCall& c, const TensorArg& features, const TensorArg& pooled, const TensorArg& rois) {
  KILN_CHECK(c.n_inputs == 2 && c.n_outputs == 1 && c.n_attrs >= 3, Internal, c.name,
             "expected 2 inputs, 1 output and attributes [spatialScale, samplingRatio, aligned]");
  KILN_CHECK(features.ndim == 4 && pooled.ndim == 4 && rois.ndim == 2 && rois.shape[1] == 5, Shape, c.name,
             "expected features [N, C, H, W], pooled [K, C, PH, PW] and rois [K, 5]");
  KILN_CHECK(pooled.shape[0] == rois.shape[0] && pooled.shape[1] == features.shape[1], Shape, c.name,
             "pooled must be [K, C, PH, PW] for K rois and C channels");
  KILN_CHECK(features.is_contiguous() && pooled.is_contiguous() && rois.is_contiguous(), Internal, c.name, "expected contiguous operands");
  KILN_CHECK(features.dtype == pooled.dtype && rois.dtype == features.dtype, DType, c.name, "features, pooled values and rois must share one dtype");
  return {features.shape[1], features.shape[2], features.shape[3], pooled.shape[2], pooled.shape[3], (int)c.int_attr(1), c.attr(2) != 0};
}

// The kernels' entry points, the same on both devices: the checks, then the device's
// Device::forward<T>(c, input, rois, out, p) (every float dtype) or
// Device::backward<T>(c, grad, rois, gradInput, p) (float32 and float64: the TypeScript op
// computes the half types' gradient in float32).
template <typename Device> void roi_align_entry(KernelCall& c) {
  const TensorArg &input = c.in(0), &rois = c.in(1);
  TensorArg& out = c.out(0);
  const RoiAlignParams p = check_roi_call(c, input, out, rois);
  if (out.numel == 0) return;
  KILN_DISPATCH_FLOATING(input.dtype, c.name, Device::template forward<scalar_t>(c, input, rois, out, p));
}
template <typename Device> void roi_align_backward_entry(KernelCall& c) {
  const TensorArg &grad = c.in(0), &rois = c.in(1);
  TensorArg& grad_input = c.out(0);
  const RoiAlignParams p = check_roi_call(c, grad_input, grad, rois);
  if (grad_input.numel == 0) return;
  KILN_DISPATCH_FLOAT_DOUBLE(grad.dtype, c.name, Device::template backward<scalar_t>(c, grad, rois, grad_input, p));
}

}}  // namespace kiln::vision
