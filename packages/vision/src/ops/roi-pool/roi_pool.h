// RoI max pooling's geometry (Fast R-CNN), torchvision's formulas, shared by roi_pool_cpu.cc and
// roi_pool_cuda.cu.
//
// Kernel "roi_pool": inputs [input [N, C, H, W], rois [K, 5]] (contiguous), outputs [out
// [K, C, PH, PW], argmax int64 [K, C, PH, PW]] (contiguous); attrs [spatialScale]. Kernel
// "roi_pool_backward": inputs [grad [K, C, PH, PW], rois, argmax], outputs [gradInput
// [N, C, H, W]].
//
// A roi's corners are rounded to feature-map pixels (round(corner · scale), halves away from
// zero); its size is end - start + 1, at least 1; bin (ph, pw) covers rows
// [floor(ph · bin_h), ceil((ph + 1) · bin_h)) + start_h (columns likewise), clipped to the map.
// The output is the bin's largest value (NaNs are skipped; the first of equal maxima in row-major
// order) and argmax its offset in the H × W plane; an empty bin gives 0 and argmax -1.
#pragma once
#include <cfloat>
#include <cstdint>
#include "kiln/dtype.h"
#include "kiln/kernel.h"
#include "kiln/math/scalar.h"
#include "../rois.h"

namespace kiln { namespace vision {

struct RoiPoolParams {
  int64_t channels, height, width, pooled_h, pooled_w;
};

// The [h0, h1) × [w0, w1) window of bin (ph, pw) of a roi (5 values in the compute type).
struct PoolWindow {
  int64_t h0, h1, w0, w1;
  KILN_HD bool empty() const { return h1 <= h0 || w1 <= w0; }
};

KILN_HD int64_t clip(int64_t v, int64_t hi) { return v < 0 ? 0 : (v > hi ? hi : v); }

template <typename C> KILN_HD PoolWindow pool_window(const C* roi, C scale, int64_t ph, int64_t pw, const RoiPoolParams& p) {
  const int64_t start_w = (int64_t)m::round(roi[1] * scale), start_h = (int64_t)m::round(roi[2] * scale);
  const int64_t end_w = (int64_t)m::round(roi[3] * scale), end_h = (int64_t)m::round(roi[4] * scale);
  const int64_t roi_w = end_w - start_w + 1 > 1 ? end_w - start_w + 1 : 1, roi_h = end_h - start_h + 1 > 1 ? end_h - start_h + 1 : 1;
  const C bin_h = C(roi_h) / C(p.pooled_h), bin_w = C(roi_w) / C(p.pooled_w);
  PoolWindow w;
  w.h0 = clip((int64_t)m::floor(C(ph) * bin_h) + start_h, p.height);
  w.h1 = clip((int64_t)m::ceil(C(ph + 1) * bin_h) + start_h, p.height);
  w.w0 = clip((int64_t)m::floor(C(pw) * bin_w) + start_w, p.width);
  w.w1 = clip((int64_t)m::ceil(C(pw + 1) * bin_w) + start_w, p.width);
  return w;
}

// The largest value of a window of an H × W plane and its offset (torchvision starts from
// -FLT_MAX, so a window of values all below it keeps -FLT_MAX and argmax -1).
template <typename C, typename T> KILN_HD void window_max(const T* plane, int64_t width, const PoolWindow& w, C& best, int64_t& at) {
  best = w.empty() ? C(0) : C(-FLT_MAX);
  at = -1;
  for (int64_t h = w.h0; h < w.h1; ++h)
    for (int64_t x = w.w0; x < w.w1; ++x) {
      const C v = C(load(plane + h * width + x));
      if (v > best) {
        best = v;
        at = h * width + x;
      }
    }
}

// Whether roi corner values are usable: finite, and small enough that their rounded pixel
// positions fit the 64-bit arithmetic above.
template <typename C> KILN_HD bool corners_ok(const C* roi, C scale) {
  for (int i = 1; i < 5; ++i) {
    const C v = roi[i] * scale;
    if (!(v > C(-1e15) && v < C(1e15))) return false;
  }
  return true;
}

inline RoiPoolParams check_roi_pool_call(const KernelCall& c, const TensorArg& features, const TensorArg& pooled, const TensorArg& rois,
                                         const TensorArg& argmax) {
  KILN_CHECK(features.ndim == 4 && pooled.ndim == 4 && rois.ndim == 2 && rois.shape[1] == 5, Shape, c.name,
             "expected features [N, C, H, W], pooled [K, C, PH, PW] and rois [K, 5]");
  KILN_CHECK(pooled.shape[0] == rois.shape[0] && pooled.shape[1] == features.shape[1], Shape, c.name,
             "pooled must be [K, C, PH, PW] for K rois and C channels");
  KILN_CHECK(argmax.dtype == DType::Int64 && argmax.ndim == 4 && argmax.numel == pooled.numel, Shape, c.name, "argmax must be int64 of the pooled shape");
  KILN_CHECK(features.is_contiguous() && pooled.is_contiguous() && rois.is_contiguous() && argmax.is_contiguous(), Internal, c.name,
             "expected contiguous operands");
  KILN_CHECK(features.dtype == pooled.dtype && rois.dtype == features.dtype, DType, c.name, "features, pooled values and rois must share one dtype");
  return {features.shape[1], features.shape[2], features.shape[3], pooled.shape[2], pooled.shape[3]};
}

// The kernels' entry points, the same on both devices: the checks, then the device's
// Device::forward<T>(c, input, rois, out, argmax, p) (every float dtype) or
// Device::backward<T>(c, grad, rois, argmax, gradInput, p) (float32 and float64: the TypeScript
// op computes the half types' gradient in float32).
template <typename Device> void roi_pool_entry(KernelCall& c) {
  KILN_CHECK(c.n_inputs == 2 && c.n_outputs == 2 && c.n_attrs >= 1, Internal, c.name,
             "expected inputs [input, rois], outputs [out, argmax], attrs [spatialScale]");
  const TensorArg &input = c.in(0), &rois = c.in(1);
  TensorArg &out = c.out(0), &argmax = c.out(1);
  const RoiPoolParams p = check_roi_pool_call(c, input, out, rois, argmax);
  if (out.numel == 0) return;
  KILN_DISPATCH_FLOATING(input.dtype, c.name, Device::template forward<scalar_t>(c, input, rois, out, argmax, p));
}
template <typename Device> void roi_pool_backward_entry(KernelCall& c) {
  KILN_CHECK(c.n_inputs == 3 && c.n_outputs == 1, Internal, c.name, "expected inputs [grad, rois, argmax], outputs [gradInput]");
  const TensorArg &grad = c.in(0), &rois = c.in(1), &argmax = c.in(2);
  TensorArg& grad_input = c.out(0);
  const RoiPoolParams p = check_roi_pool_call(c, grad_input, grad, rois, argmax);
  if (grad_input.numel == 0) return;
  KILN_DISPATCH_FLOAT_DOUBLE(grad.dtype, c.name, Device::template backward<scalar_t>(c, grad, rois, argmax, grad_input, p));
}

}}  // namespace kiln::vision
