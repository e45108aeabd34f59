// CUDA kernels of the mask-driven selections (include/kiln/math/mask.h), the same operands as
// cpu/mask_select.cc: mask_positions writes 0/1 flags and runs CUB's in-place inclusive scan over
// them; the other kernels have one thread per element, which moves a selected element to or from
// its slot. The count that sizes an output is read by the TypeScript op between the two launches
// (one device-to-host read of 8 bytes, as PyTorch's nonzero does); these kernels take it from the
// output's shape and never write past it.
#include <cub/device/device_scan.cuh>
#include "kiln/math/mask.h"
#include "kiln/strided.h"
#include "runtime.h"
#include "workspace.h"

namespace kiln { namespace cuda {
namespace {

// The 64-bit offset calculator over the operands (one shape) of a kernel call.
template <int NT>
OffsetCalc<NT, int64_t> offsets_of(const TensorArg* const ops[NT]) {
  return OffsetCalc<NT, int64_t>(make_layout<NT>(ops));
}

template <typename T>
__global__ void flags_kernel(OffsetCalc<1, int64_t> at, const T* mask, int64_t n, int64_t* flags) {
  KILN_GRID_LOOP(p, n) {
    int64_t off[1];
    at.get(p, off);
    flags[p] = is_nonzero(mask + off[0]) ? 1 : 0;
  }
}

void mask_positions_kernel(KernelCall& c) {
  const TensorArg& mask = c.in(0);
  check_positions(c.name, c.out(0), mask.numel);
  const int64_t n = mask.numel;
  if (n == 0) return;
  int64_t* positions = c.out(0).ptr<int64_t>();
  const TensorArg* ops[1] = {&mask};
  cudaStream_t s = stream_of(c);
  KILN_DISPATCH_ALL(mask.dtype, c.name, flags_kernel<scalar_t><<<blocks_for(n), kThreads, 0, s>>>(offsets_of<1>(ops), mask.ptr<scalar_t>(), n, positions));
  KILN_CUDA_CHECK(cudaGetLastError(), c.name);
  size_t bytes = 0;
  KILN_CUDA_CHECK(cub::DeviceScan::InclusiveSum(nullptr, bytes, positions, positions, n, s), c.name);
  Workspace temp(c.device, bytes > 0 ? bytes : 1);   // a null pointer would make CUB only report the size
  KILN_CUDA_CHECK(cub::DeviceScan::InclusiveSum(temp.ptr, bytes, positions, positions, n, s), c.name);
}

struct Dims {
  int ndim;
  int64_t size[kMaxDims];
};

template <typename T>
__global__ void nonzero_fill(OffsetCalc<1, int64_t> at, const T* x, const int64_t* pos, int64_t n, Dims shape, int64_t* out, int64_t count, int64_t rs,
                             int64_t cs) {
  KILN_GRID_LOOP(p, n) {
    int64_t off[1];
    at.get(p, off);
    const int64_t slot = pos[p] - 1;
    if (is_nonzero(x + off[0]) && slot < count) write_coords(p, shape.ndim, shape.size, out + slot * rs, cs);
  }
}

void nonzero_kernel(KernelCall& c) {
  const TensorArg& x = c.in(0);
  TensorArg& out = c.out(0);
  check_positions(c.name, c.in(1), x.numel);
  KILN_CHECK(out.dtype == DType::Int64 && out.ndim == 2 && out.shape[1] == x.ndim, Shape, c.name,
             "expected an int64 output of shape [count, " + std::to_string(x.ndim) + "]");
  const int64_t count = out.shape[0];
  if (count == 0 || x.ndim == 0) return;
  Dims shape{x.ndim, {}};
  for (int d = 0; d < x.ndim; ++d) shape.size[d] = x.shape[d];
  const TensorArg* ops[1] = {&x};
  KILN_DISPATCH_ALL(x.dtype, c.name,
                    nonzero_fill<scalar_t>
                    <<<blocks_for(x.numel), kThreads, 0, stream_of(c)>>>(offsets_of<1>(ops), x.ptr<scalar_t>(), c.in(1).ptr<int64_t>(), x.numel, shape,
                                                                         out.ptr<int64_t>(), count, out.strides[0], out.strides[1]));
  KILN_CUDA_CHECK(cudaGetLastError(), c.name);
}

template <typename T, typename M>
__global__ void masked_select_fill(OffsetCalc<2, int64_t> at, const T* x, const M* mask, const int64_t* pos, int64_t n, T* out, int64_t count, int64_t os) {
  KILN_GRID_LOOP(p, n) {
    int64_t off[2];
    at.get(p, off);
    const int64_t slot = pos[p] - 1;
    if (is_nonzero(mask + off[1]) && slot < count) out[slot * os] = x[off[0]];
  }
}

void masked_select_kernel(KernelCall& c) {
  const TensorArg &x = c.in(0), &mask = c.in(1);
  TensorArg& out = c.out(0);
  check_same_shape(c.name, x, mask, "input and mask");
  check_positions(c.name, c.in(2), x.numel);
  KILN_CHECK(out.dtype == x.dtype && out.ndim == 1, Shape, c.name, "expected a 1-d output in the input's dtype");
  const int64_t count = out.shape[0];
  if (count == 0) return;
  const TensorArg* ops[2] = {&x, &mask};
  const OffsetCalc<2, int64_t> at = offsets_of<2>(ops);
  const int64_t* pos = c.in(2).ptr<int64_t>();
  KILN_DISPATCH_ALL(x.dtype, c.name, {
    using T = scalar_t;
    KILN_DISPATCH_ALL(mask.dtype, c.name,
                      masked_select_fill<T, scalar_t><<<blocks_for(x.numel), kThreads, 0, stream_of(c)>>>(at, x.ptr<T>(), mask.ptr<scalar_t>(), pos, x.numel,
                                                                                                          out.ptr<T>(), count, out.strides[0]));
  });
  KILN_CUDA_CHECK(cudaGetLastError(), c.name);
}

template <typename T, typename M>
__global__ void masked_select_backward_fill(OffsetCalc<2, int64_t> at, T* out, const M* mask, const int64_t* pos, int64_t n, const T* grad, int64_t count,
                                            int64_t gs) {
  KILN_GRID_LOOP(p, n) {
    int64_t off[2];
    at.get(p, off);
    const int64_t slot = pos[p] - 1;
    out[off[0]] = is_nonzero(mask + off[1]) && slot < count ? grad[slot * gs] : Store<T>::from(0.0f);
  }
}

void masked_select_backward_kernel(KernelCall& c) {
  const TensorArg &grad = c.in(0), &mask = c.in(1);
  TensorArg& out = c.out(0);
  check_same_shape(c.name, out, mask, "the output and mask");
  check_positions(c.name, c.in(2), mask.numel);
  KILN_CHECK(grad.dtype == out.dtype && grad.ndim == 1, Shape, c.name, "expected a 1-d grad in the output's dtype");
  if (out.numel == 0) return;
  const TensorArg* ops[2] = {&out, &mask};
  const OffsetCalc<2, int64_t> at = offsets_of<2>(ops);
  const int64_t* pos = c.in(2).ptr<int64_t>();
  KILN_DISPATCH_ALL(out.dtype, c.name, {
    using T = scalar_t;
    KILN_DISPATCH_ALL(mask.dtype, c.name,
                      masked_select_backward_fill<T, scalar_t><<<blocks_for(out.numel), kThreads, 0, stream_of(c)>>>(
                          at, out.ptr<T>(), mask.ptr<scalar_t>(), pos, out.numel, grad.ptr<T>(), grad.shape[0], grad.strides[0]));
  });
  KILN_CUDA_CHECK(cudaGetLastError(), c.name);
}

}  // namespace

KILN_KERNEL("mask_positions", mask_positions_kernel);
KILN_KERNEL("nonzero", nonzero_kernel);
KILN_KERNEL("masked_select", masked_select_kernel);
KILN_KERNEL("masked_select_backward", masked_select_backward_kernel);

}}  // namespace kiln::cuda
