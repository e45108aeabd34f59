// CUDA kernels of RoI max pooling (geometry and operands: roi_pool.h), one thread per output
// element (roi, channel, bin): the forward thread scans its window, the backward thread adds its
// gradient at the argmax with atomicAdd (float32, float64; the TypeScript op computes the half
// types' gradient in float32). A roi with a bad batch index or corner is reported through the
// device error slot (a ValueError at the next synchronisation) and pools to zero.
#include "cuda/runtime.h"
#include "roi_pool.h"

namespace kiln { namespace vision {
namespace {

template <typename T>
__device__ int64_t checked_roi(const T* rois, int64_t k, int64_t batch, compute_t<T> scale, compute_t<T> roi[5], DeviceErrorSlot* slot, int kernel_id) {
  for (int i = 0; i < 5; ++i) roi[i] = compute_t<T>(load(rois + k * 5 + i));
  const int64_t b = roi_batch(roi[0], batch);
  if (b < 0) report_value_error(slot, kernel_id, 1, (double)roi[0], 0.0, (double)(batch - 1));
  else if (!corners_ok(roi, scale)) report_value_error(slot, kernel_id, 1, (double)roi[1], -1e15, 1e15);
  else return b;
  return -1;
}

template <typename T>
__global__ void roi_pool_forward(const T* input, const T* rois, T* out, int64_t* argmax, int64_t count, int64_t batch, compute_t<T> scale, RoiPoolParams p,
                                 DeviceErrorSlot* slot, int kernel_id) {
  using C = compute_t<T>;
  KILN_GRID_LOOP(index, count) {
    const int64_t pw = index % p.pooled_w, ph = (index / p.pooled_w) % p.pooled_h;
    const int64_t kc = index / (p.pooled_w * p.pooled_h), ch = kc % p.channels, k = kc / p.channels;
    C roi[5];
    C best = C(0);
    int64_t at = -1;
    const int64_t b = checked_roi(rois, k, batch, scale, roi, slot, kernel_id);
    if (b >= 0) window_max(input + (b * p.channels + ch) * p.height * p.width, p.width, pool_window(roi, scale, ph, pw, p), best, at);
    store(out + index, best);
    argmax[index] = at;
  }
}

template <typename T>
__global__ void roi_pool_backward(const T* grad, const T* rois, const int64_t* argmax, T* grad_input, int64_t count, int64_t batch, RoiPoolParams p,
                                  DeviceErrorSlot* slot, int kernel_id) {
  const int64_t plane = p.height * p.width, bins = p.pooled_h * p.pooled_w;
  KILN_GRID_LOOP(index, count) {
    const int64_t k = index / (bins * p.channels), ch = (index / bins) % p.channels;
    const int64_t b = roi_batch(rois[k * 5], batch);
    const int64_t at = argmax[index];
    if (b < 0) {
      report_value_error(slot, kernel_id, 1, (double)rois[k * 5], 0.0, (double)(batch - 1));
    } else if (at < -1 || at >= plane) {
      report_index_error(slot, kernel_id, 2, (long long)at, -1, plane - 1);
    } else if (at >= 0) {
      atomicAdd(grad_input + (b * p.channels + ch) * plane + at, grad[index]);
    }
  }
}

struct Cuda {
  template <typename T>
  static void forward(const KernelCall& c, const TensorArg& input, const TensorArg& rois, TensorArg& out, TensorArg& argmax, const RoiPoolParams& p) {
    roi_pool_forward<T><<<kiln::cuda::blocks_for(out.numel), kiln::cuda::kThreads, 0, kiln::cuda::stream_of(c)>>>(
        input.ptr<T>(), rois.ptr<T>(), out.ptr<T>(), argmax.ptr<int64_t>(), out.numel, input.shape[0], compute_t<T>(c.attr(0)), p, kiln::cuda::error_slot_of(c),
        c.id);
    KILN_CUDA_CHECK(cudaGetLastError(), c.name);
  }

  template <typename T>
  static void backward(const KernelCall& c, const TensorArg& grad, const TensorArg& rois, const TensorArg& argmax, TensorArg& grad_input,
                       const RoiPoolParams& p) {
    cudaStream_t s = kiln::cuda::stream_of(c);
    KILN_CUDA_CHECK(cudaMemsetAsync(grad_input.data, 0, (size_t)grad_input.numel * sizeof(T), s), c.name);
    if (grad.numel == 0) return;
    roi_pool_backward<T><<<kiln::cuda::blocks_for(grad.numel), kiln::cuda::kThreads, 0, s>>>(
        grad.ptr<T>(), rois.ptr<T>(), argmax.ptr<int64_t>(), grad_input.ptr<T>(), grad.numel, grad_input.shape[0], p, kiln::cuda::error_slot_of(c), c.id);
    KILN_CUDA_CHECK(cudaGetLastError(), c.name);
  }
};

}  // namespace

KILN_KERNEL_ARGS("roi_pool", roi_pool_entry<Cuda>, "input,rois");
KILN_KERNEL_ARGS("roi_pool_backward", roi_pool_backward_entry<Cuda>, "grad,rois,argmax");

}}  // namespace kiln::vision
