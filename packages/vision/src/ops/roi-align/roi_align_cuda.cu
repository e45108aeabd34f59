// CUDA kernels of RoI Align (formulas and operands: roi_align.h), one thread per output element
// (roi, channel, bin) as torchvision's: the forward thread averages its bin's samples, the
// backward thread adds grad · weight / count to each sample's four neighbours with atomicAdd
// (float32, float64; the TypeScript op computes the half types' gradient in float32).
//
// A roi whose batch index is not an integer in [0, N), with a corner that is not finite, or that
// spans too many samples, is
// reported through the device error slot (a ValueError at the next synchronisation) and its
// outputs (gradients) are zero.
#include "cuda/runtime.h"
#include "roi_align.h"

namespace kiln { namespace vision {
namespace {

// One thread per output element (a grid-stride loop). The element's index is split into (roi,
// channel, bin) in I, and the samples' neighbours are found in I: int32_t when the output and a
// feature plane have fewer than 2^31 elements (32-bit divisions, conversions and offsets are much
// cheaper than 64-bit ones), int64_t otherwise.

// (roi, channel, row, column) of output element `index` of [K, C, PH, PW].
template <typename I> struct PooledAt {
  I k, ch, ph, pw;
  __device__ PooledAt(I index, const RoiAlignParams& p) {
    pw = index % (I)p.pooled_w;
    I rest = index / (I)p.pooled_w;
    ph = rest % (I)p.pooled_h;
    rest /= (I)p.pooled_h;
    ch = rest % (I)p.channels;
    k = rest / (I)p.channels;
  }
};

// The roi of output element `index` (a row of 5 values), its batch element and grid; false (and a
// reported error) when the roi is refused.
template <typename T>
__device__ bool roi_of(const T* rois, int64_t k, int64_t batch, compute_t<T> scale, const RoiAlignParams& p, int64_t& b, RoiGrid<compute_t<T>>& g,
                       DeviceErrorSlot* slot, int kernel_id) {
  using C = compute_t<T>;
  C roi[5];
  for (int i = 0; i < 5; ++i) roi[i] = C(load(rois + k * 5 + i));
  b = roi_batch(roi[0], batch);
  if (b < 0) {
    report_value_error(slot, kernel_id, 1, (double)roi[0], 0.0, (double)(batch - 1));
    return false;
  }
  g = roi_grid(roi, scale, p);
  if (g.grid_h == kNotFinite) {
    // the first corner that is not finite once scaled; where all are, the span overflowed
    int i = 1;
    while (i < 5 && m::isfinite(roi[i] * scale)) ++i;
    report_value_error(slot, kernel_id, 1, i < 5 ? (double)roi[i] : (double)INFINITY, -INFINITY, INFINITY);
    return false;
  }
  if (g.grid_h < 0 || g.grid_w < 0) {
    // a bin wider than kMaxGrid pixels, sampled once per pixel (samplingRatio <= 0)
    report_value_error(slot, kernel_id, 1, (double)(g.bin_h > g.bin_w ? g.bin_h : g.bin_w), 0.0, (double)kMaxGrid);
    return false;
  }
  return true;
}

template <typename T, typename I>
__global__ void roi_align_forward(const T* input, const T* rois, T* out, int64_t count, int64_t batch, compute_t<T> scale, RoiAlignParams p,
                                  DeviceErrorSlot* slot, int kernel_id) {
  using C = compute_t<T>;
  KILN_GRID_LOOP(index, count) {
    const PooledAt<I> at((I)index, p);
    const int64_t k = at.k, ch = at.ch, ph = at.ph, pw = at.pw;
    int64_t b;
    RoiGrid<C> g;
    C sum = C(0);
    if (roi_of(rois, k, batch, scale, p, b, g, slot, kernel_id)) {
      const T* plane = input + (b * p.channels + ch) * p.height * p.width;
      const I height = (I)p.height, width = (I)p.width;
      for (int iy = 0; iy < g.grid_h; ++iy) {
        const C y = sample_at(g.start_h, g.bin_h, ph, iy, g.grid_h);
        for (int ix = 0; ix < g.grid_w; ++ix) sum += interpolate<C>(plane, bilinear(height, width, y, sample_at(g.start_w, g.bin_w, pw, ix, g.grid_w)));
      }
      sum /= g.count;
    }
    store(out + index, sum);
  }
}

template <typename T, typename I>
__global__ void roi_align_backward(const T* grad, const T* rois, T* grad_input, int64_t count, int64_t batch, T scale, RoiAlignParams p, DeviceErrorSlot* slot,
                                   int kernel_id) {
  KILN_GRID_LOOP(index, count) {
    const PooledAt<I> at((I)index, p);
    const int64_t k = at.k, ch = at.ch, ph = at.ph, pw = at.pw;
    int64_t b;
    RoiGrid<T> g;
    if (!roi_of(rois, k, batch, scale, p, b, g, slot, kernel_id)) continue;
    T* plane = grad_input + (b * p.channels + ch) * p.height * p.width;
    const I height = (I)p.height, width = (I)p.width;
    const T gb = grad[index];
    for (int iy = 0; iy < g.grid_h; ++iy) {
      const T y = sample_at(g.start_h, g.bin_h, ph, iy, g.grid_h);
      for (int ix = 0; ix < g.grid_w; ++ix) {
        const Bilinear<T, I> w = bilinear(height, width, y, sample_at(g.start_w, g.bin_w, pw, ix, g.grid_w));
        if (!w.inside) continue;
        atomicAdd(plane + w.p1, gb * w.w1 / g.count);
        atomicAdd(plane + w.p2, gb * w.w2 / g.count);
        atomicAdd(plane + w.p3, gb * w.w3 / g.count);
        atomicAdd(plane + w.p4, gb * w.w4 / g.count);
      }
    }
  }
}

// The output (or its gradient) and one feature plane both index in int32_t.
bool fits_int32(int64_t pooled_numel, const RoiAlignParams& p) { return pooled_numel < (1LL << 31) && p.height * p.width < (1LL << 31); }

struct Cuda {
  template <typename T> static void forward(const KernelCall& c, const TensorArg& input, const TensorArg& rois, TensorArg& out, const RoiAlignParams& p) {
    const auto launch = [&](auto index_type) {
      roi_align_forward<T, decltype(index_type)><<<kiln::cuda::blocks_for(out.numel), kiln::cuda::kThreads, 0, kiln::cuda::stream_of(c)>>>(
          input.ptr<T>(), rois.ptr<T>(), out.ptr<T>(), out.numel, input.shape[0], compute_t<T>(c.attr(0)), p, kiln::cuda::error_slot_of(c), c.id);
    };
    if (fits_int32(out.numel, p)) launch(int32_t{});
    else launch(int64_t{});
    KILN_CUDA_CHECK(cudaGetLastError(), c.name);
  }

  template <typename T> static void backward(const KernelCall& c, const TensorArg& grad, const TensorArg& rois, TensorArg& grad_input,
                                             const RoiAlignParams& p) {
    cudaStream_t s = kiln::cuda::stream_of(c);
    KILN_CUDA_CHECK(cudaMemsetAsync(grad_input.data, 0, (size_t)grad_input.numel * sizeof(T), s), c.name);
    if (grad.numel == 0) return;
    const auto launch = [&](auto index_type) {
      roi_align_backward<T, decltype(index_type)><<<kiln::cuda::blocks_for(grad.numel), kiln::cuda::kThreads, 0, s>>>(
          grad.ptr<T>(), rois.ptr<T>(), grad_input.ptr<T>(), grad.numel, grad_input.shape[0], T(c.attr(0)), p, kiln::cuda::error_slot_of(c), c.id);
    };
    if (fits_int32(grad.numel, p)) launch(int32_t{});
    else launch(int64_t{});
    KILN_CUDA_CHECK(cudaGetLastError(), c.name);
  }
};

}  // namespace

KILN_KERNEL_ARGS("roi_align", roi_align_entry<Cuda>, "input,rois");
KILN_KERNEL_ARGS("roi_align_backward", roi_align_backward_entry<Cuda>, "grad,rois");

}}  // namespace kiln::vision
