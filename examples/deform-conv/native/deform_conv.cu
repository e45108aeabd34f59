// The CUDA kernels of the modulated deformable convolution: grid-stride loops over the work items
// of deform_conv.h (the same functions the CPU kernels call), on the call's stream. Work items run
// with the output position fastest, so neighbouring threads read and write neighbouring elements.
#include "deform_conv_args.h"

namespace dcn { namespace {

constexpr int kThreads = 256;

unsigned blocks_for(int64_t items) {
  const int64_t b = (items + kThreads - 1) / kThreads;
  return (unsigned)(b < 1 ? 1 : b > 65535LL * 32 ? 65535LL * 32 : b);
}

template <typename T>
__global__ void im2col_kernel(Geometry g, View4<const T> input, View4<const T> offset, View4<const T> mask, View3<T> columns, int64_t items) {
  const int64_t per_image = g.channels * g.positions();
  for (int64_t w = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; w < items; w += (int64_t)gridDim.x * blockDim.x) {
    const int64_t n = w / per_image, rest = w % per_image;
    im2col_item(g, input, offset, mask, columns, n, rest / g.positions(), rest % g.positions());
  }
}

// ANCHOR: im2col (quoted in docs/writing-an-extension.md)
void im2col_cuda(KernelCall& c) {
  const Im2colArgs a = im2col_args(c);
  const int64_t items = a.g.batch * a.g.channels * a.g.positions();
  if (items == 0) return;
  dispatch_float(a.input.dtype(), [&](auto zero) {
    using T = decltype(zero);
    im2col_kernel<T><<<blocks_for(items), kThreads, 0, c.stream()>>>(a.g, view4<const T>(a.input), view4<const T>(a.offset), view4<const T>(a.mask),
                                                                     view3<T>(a.columns), items);
  });
}
KILN_CUDA_KERNEL_ARGS("deform_im2col", im2col_cuda, "input, offset, mask");
// ANCHOR_END: im2col

// Work items of different channels and positions add into the same pixels: atomic adds (float and
// double atomicAdd are native from sm_60 on).
template <typename T>
__global__ void backward_input_kernel(Geometry g, View3<const T> grad_columns, View4<const T> offset, View4<const T> mask, View4<T> grad_input, int64_t items) {
  const int64_t per_image = g.channels * g.positions();
  for (int64_t w = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; w < items; w += (int64_t)gridDim.x * blockDim.x) {
    const int64_t n = w / per_image, rest = w % per_image;
    backward_input_item(g, grad_columns, offset, mask, grad_input, n, rest / g.positions(), rest % g.positions(), [](T* at, T v) { atomicAdd(at, v); });
  }
}

void backward_input_cuda(KernelCall& c) {
  const BackwardInputArgs a = backward_input_args(c);
  const int64_t items = a.g.batch * a.g.channels * a.g.positions();
  dispatch_float(a.grad_input.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const size_t bytes = sizeof(T) * (size_t)a.grad_input.numel();
    if (bytes > 0) KILN_CUDA_CHECK(cudaMemsetAsync(a.grad_input.ptr<T>(), 0, bytes, c.stream()), c.name);
    if (items == 0) return;
    backward_input_kernel<T><<<blocks_for(items), kThreads, 0, c.stream()>>>(a.g, view3<const T>(a.grad_columns), view4<const T>(a.offset),
                                                                             view4<const T>(a.mask), view4<T>(a.grad_input), items);
  });
}
KILN_CUDA_KERNEL_ARGS("deform_im2col_backward_input", backward_input_cuda, "grad_columns, offset, mask");

template <typename T>
__global__ void backward_offset_mask_kernel(Geometry g, View3<const T> grad_columns, View4<const T> input, View4<const T> offset, View4<const T> mask,
                                            View4<T> grad_offset, View4<T> grad_mask, int64_t items) {
  const int64_t per_image = g.groups * g.taps() * g.positions();
  for (int64_t w = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; w < items; w += (int64_t)gridDim.x * blockDim.x) {
    const int64_t n = w / per_image, rest = w % per_image, t = rest / g.positions();
    backward_offset_mask_item(g, grad_columns, input, offset, mask, grad_offset, grad_mask, n, t / g.taps(), t % g.taps(), rest % g.positions());
  }
}

void backward_offset_mask_cuda(KernelCall& c) {
  const BackwardOffsetMaskArgs a = backward_offset_mask_args(c);
  const int64_t items = a.g.batch * a.g.groups * a.g.taps() * a.g.positions();
  if (items == 0) return;
  dispatch_float(a.input.dtype(), [&](auto zero) {
    using T = decltype(zero);
    backward_offset_mask_kernel<T><<<blocks_for(items), kThreads, 0, c.stream()>>>(a.g, view3<const T>(a.grad_columns), view4<const T>(a.input),
                                                                                   view4<const T>(a.offset), view4<const T>(a.mask), view4<T>(a.grad_offset),
                                                                                   view4<T>(a.grad_mask), items);
  });
}
KILN_CUDA_KERNEL_ARGS("deform_im2col_backward_offset_mask", backward_offset_mask_cuda, "grad_columns, input, offset, mask");

}  // namespace
}  // namespace dcn
