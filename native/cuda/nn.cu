// CUDA kernels of the neural-network ops: im2col / col2im, max pooling, nearest upsampling. The
// index math and the argument checks are in include/kiln/math/nn.h (shared with cpu/nn.cc): each
// GPU thread computes output elements with the same functions the CPU loop calls. Indexing is
// 32-bit when every count and offset fits (nn::index_fits_int32), 64-bit otherwise.
#include "kiln/math/nn.h"
#include "runtime.h"

namespace kiln { namespace cuda {
namespace {

// Grid-stride loop calling f(i) for i in [0, n). The counter is 64-bit so that it cannot overflow
// past n; f receives it in the index type I.
template <typename I, typename F>
__global__ void for_each_index_kernel(int64_t n, F f) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) f((I)i);
}

template <typename I, typename F>
void launch_indexed(const KernelCall& c, int64_t n, const F& f) {
  if (n == 0) return;
  for_each_index_kernel<I><<<blocks_for(n), kThreads, 0, stream_of(c)>>>(n, f);
  KILN_CUDA_CHECK(cudaGetLastError(), c.name);
}

// Calls run<int32_t>() when the operands allow 32-bit indexing, run<int64_t>() otherwise.
#define KILN_DISPATCH_INDEX_WIDTH(fits, FN, ...) \
  do { if (fits) FN<int32_t>(__VA_ARGS__); else FN<int64_t>(__VA_ARGS__); } while (0)

// ---- im2col / col2im ---------------------------------------------------------------------

template <typename I>
void im2col_run(KernelCall& c) {
  const TensorArg& x = c.in(0);
  TensorArg& o = c.out(0);
  auto g = nn::conv_window<I>(c, x, o);
  auto xs = nn::strides_of<I, 4>(x);
  KILN_DISPATCH_FLOATING(x.dtype, c.name, {
    launch_indexed<I>(c, o.numel, nn::Im2colElement<scalar_t, I>{g, xs, x.ptr<scalar_t>(), o.ptr<scalar_t>()});
  });
}

void im2col_kernel(KernelCall& c) {
  nn::check_contiguous_out(c, c.out(0));
  const TensorArg* ops[2] = {&c.in(0), &c.out(0)};
  KILN_DISPATCH_INDEX_WIDTH(nn::index_fits_int32(ops, 2), im2col_run, c);
}
KILN_KERNEL("im2col", im2col_kernel);

template <typename I>
void col2im_run(KernelCall& c) {
  const TensorArg& cols = c.in(0);
  TensorArg& o = c.out(0);
  auto g = nn::conv_window<I>(c, o, cols);
  auto cs = nn::strides_of<I, 3>(cols);
  KILN_DISPATCH_FLOATING(cols.dtype, c.name, {
    launch_indexed<I>(c, o.numel, nn::Col2imElement<scalar_t, I>{g, cs, cols.ptr<scalar_t>(), o.ptr<scalar_t>()});
  });
}

void col2im_kernel(KernelCall& c) {
  nn::check_contiguous_out(c, c.out(0));
  const TensorArg* ops[2] = {&c.in(0), &c.out(0)};
  KILN_DISPATCH_INDEX_WIDTH(nn::index_fits_int32(ops, 2), col2im_run, c);
}
KILN_KERNEL("col2im", col2im_kernel);

// ---- max pooling -------------------------------------------------------------------------

template <typename I>
void max_pool2d_run(KernelCall& c) {
  const TensorArg& x = c.in(0);
  TensorArg& vals = c.out(0);
  TensorArg& idxs = c.out(1);
  auto g = nn::pool_window<I>(c, x, vals, idxs);
  auto xs = nn::strides_of<I, 4>(x);
  KILN_DISPATCH_FLOATING(x.dtype, c.name, {
    launch_indexed<I>(c, vals.numel, nn::MaxPool2dElement<scalar_t, I>{g, xs, x.ptr<scalar_t>(), vals.ptr<scalar_t>(), idxs.ptr<int64_t>()});
  });
}

void max_pool2d_kernel(KernelCall& c) {
  const TensorArg* ops[3] = {&c.in(0), &c.out(0), &c.out(1)};
  KILN_DISPATCH_INDEX_WIDTH(nn::index_fits_int32(ops, 3), max_pool2d_run, c);
}
KILN_KERNEL("max_pool2d", max_pool2d_kernel);

// Backward: grad_in starts at zero and every grad_out element is added at its window's argmax
// with atomicAdd (float32 / float64 only; TypeScript computes the half types in float32). Windows
// that overlap may pick the same position, so the order of those few additions is not fixed. An
// index outside the plane is reported through the device-error slot (raised at the next sync).
template <typename T, typename I>
struct MaxPool2dBackward {
  I C, OH, OW, plane;
  nn::Strides<I, 4> gs, is;
  const T* gout; const int64_t* idx; T* gin;
  DeviceErrorSlot* slot; int kernel_id;
  __device__ void operator()(I i) const {
    const nn::Nchw<I> o = nn::nchw_of<I>(i, C, OH, OW);
    int64_t pos = idx[o.n * is.s[0] + o.c * is.s[1] + o.h * is.s[2] + o.w * is.s[3]];
    if (pos < 0 || pos >= (int64_t)plane) {
      report_index_error(slot, kernel_id, 1, pos, 0, (long long)plane - 1);
      return;
    }
    atomicAdd(gin + (o.n * C + o.c) * plane + (I)pos, gout[o.n * gs.s[0] + o.c * gs.s[1] + o.h * gs.s[2] + o.w * gs.s[3]]);
  }
};

template <typename T, typename I>
void max_pool2d_backward_launch(KernelCall& c) {
  const TensorArg& go = c.in(0);
  const TensorArg& ind = c.in(1);
  TensorArg& gi = c.out(0);
  KILN_CUDA_CHECK(cudaMemsetAsync(gi.data, 0, (size_t)gi.numel * sizeof(T), stream_of(c)), c.name);
  MaxPool2dBackward<T, I> f{(I)go.shape[1], (I)go.shape[2], (I)go.shape[3], (I)(gi.shape[2] * gi.shape[3]),
                            nn::strides_of<I, 4>(go), nn::strides_of<I, 4>(ind), go.ptr<T>(), ind.ptr<int64_t>(), gi.ptr<T>(),
                            error_slot_of(c), c.id};
  launch_indexed<I>(c, go.numel, f);
}

template <typename I>
void max_pool2d_backward_run(KernelCall& c) {
  if (c.in(0).dtype == DType::Float32) max_pool2d_backward_launch<float, I>(c);
  else max_pool2d_backward_launch<double, I>(c);
}

void max_pool2d_backward_kernel(KernelCall& c) {
  nn::check_max_pool_backward(c, c.in(0), c.in(1), c.out(0));
  const TensorArg* ops[3] = {&c.in(0), &c.in(1), &c.out(0)};
  KILN_DISPATCH_INDEX_WIDTH(nn::index_fits_int32(ops, 3), max_pool2d_backward_run, c);
}
KILN_KERNEL("max_pool2d_backward", max_pool2d_backward_kernel);

// ---- nearest upsampling ------------------------------------------------------------------

template <typename I>
void upsample_nearest2d_run(KernelCall& c) {
  const TensorArg& x = c.in(0);
  TensorArg& o = c.out(0);
  auto g = nn::upsample_window<I>(c, x, o);
  auto xs = nn::strides_of<I, 4>(x);
  KILN_DISPATCH_FLOATING(x.dtype, c.name, {
    launch_indexed<I>(c, o.numel, nn::UpsampleNearest2dElement<scalar_t, I>{g, xs, x.ptr<scalar_t>(), o.ptr<scalar_t>()});
  });
}

void upsample_nearest2d_kernel(KernelCall& c) {
  nn::check_contiguous_out(c, c.out(0));
  const TensorArg* ops[2] = {&c.in(0), &c.out(0)};
  KILN_DISPATCH_INDEX_WIDTH(nn::index_fits_int32(ops, 2), upsample_nearest2d_run, c);
}
KILN_KERNEL("upsample_nearest2d", upsample_nearest2d_kernel);

template <typename I>
void upsample_nearest2d_backward_run(KernelCall& c) {
  const TensorArg& go = c.in(0);
  TensorArg& gi = c.out(0);
  auto g = nn::upsample_window<I>(c, gi, go);
  auto gs = nn::strides_of<I, 4>(go);
  KILN_DISPATCH_FLOATING(go.dtype, c.name, {
    launch_indexed<I>(c, gi.numel, nn::UpsampleNearest2dBackwardElement<scalar_t, I>{g, gs, go.ptr<scalar_t>(), gi.ptr<scalar_t>()});
  });
}

void upsample_nearest2d_backward_kernel(KernelCall& c) {
  nn::check_contiguous_out(c, c.out(0));
  const TensorArg* ops[2] = {&c.in(0), &c.out(0)};
  KILN_DISPATCH_INDEX_WIDTH(nn::index_fits_int32(ops, 2), upsample_nearest2d_backward_run, c);
}
KILN_KERNEL("upsample_nearest2d_backward", upsample_nearest2d_backward_kernel);

}  // namespace
}}  // namespace kiln::cuda
