// CUDA kernels of the neural-network ops: im2col / col2im, max pooling, nearest upsampling. The
// index math and the argument checks are in include/kiln/math/nn.h and the entry points in
// include/kiln/nn_entry_points.inc (both shared with cpu/nn.cc): each GPU thread computes output
// elements with the same functors the CPU loop calls. Indexing is 32-bit when every count and
// offset fits (nn::index_fits_int32), 64-bit otherwise.
#include "kiln/math/nn.h"
#include "for_each_element.cuh"
#include "runtime.h"

namespace kiln { namespace cuda { namespace {

// Calls f(int32_t()) when the operands allow 32-bit indexing, f(int64_t()) otherwise.
template <typename F>
void with_index_type(const TensorArg* const* ops, int n, const F& f) {
  if (nn::index_fits_int32(ops, n)) f(int32_t());
  else f(int64_t());
}

// Backward: grad_in starts at zero and every grad_out element is added at its window's argmax
// with atomicAdd (float32 / float64 only; TypeScript computes the half types in float32). Windows
// that overlap may pick the same position, so the order of those few additions is not fixed. An
// index outside the plane is reported through the device-error slot (raised at the next sync).
template <typename T, typename I>
struct MaxPool2dBackward {
  I C, OH, OW, plane;
  nn::Strides<I, 4> gs, is;
  const T* gout;
  const int64_t* idx;
  T* gin;
  DeviceErrorSlot* slot;
  int kernel_id;
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
void max_pool2d_backward_scatter(KernelCall& c) {
  const TensorArg& go = c.in(0);
  const TensorArg& ind = c.in(1);
  TensorArg& gi = c.out(0);
  KILN_CUDA_CHECK(cudaMemsetAsync(gi.data, 0, (size_t)gi.numel * sizeof(T), stream_of(c)), c.name);
  MaxPool2dBackward<T, I> f{(I)go.shape[1],
                            (I)go.shape[2],
                            (I)go.shape[3],
                            (I)(gi.shape[2] * gi.shape[3]),
                            nn::strides_of<I, 4>(go),
                            nn::strides_of<I, 4>(ind),
                            go.ptr<T>(),
                            ind.ptr<int64_t>(),
                            gi.ptr<T>(),
                            error_slot_of(c),
                            c.id};
  for_each_element<I>(c, go.numel, f);
}

#include "kiln/nn_entry_points.inc"

}  // namespace
}}  // namespace kiln::cuda
