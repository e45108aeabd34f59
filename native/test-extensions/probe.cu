// The probe extension's CUDA kernels (see probe.cc):
//   ext_probe_scale(input; out; s)           the same formula as the CPU kernel (probe_math.h)
//   ext_probe_device_error(input; ; limit)   reports the first element above `limit` from the
//                                            device (raised at the next synchronisation, naming
//                                            the argument 'values')
#include "kiln/extension.h"
#include "probe_math.h"

using kiln::ext::KernelCall;
using kiln::ext::TensorArg;

namespace {

struct Strides {
  int ndim;
  int64_t shape[KILN_MAX_DIMS], strides[KILN_MAX_DIMS];
};

__device__ int64_t offset_of(const Strides& s, int64_t i) {
  int64_t off = 0;
  for (int d = s.ndim - 1; d >= 0; --d) {
    off += (i % s.shape[d]) * s.strides[d];
    i /= s.shape[d];
  }
  return off;
}

Strides strides_of(const TensorArg& t) {
  Strides s{t.ndim(), {}, {}};
  for (int d = 0; d < t.ndim(); ++d) {
    s.shape[d] = t.size(d);
    s.strides[d] = t.stride(d);
  }
  return s;
}

template <typename T>
__global__ void scale_kernel(const T* x, Strides xs, T* y, int64_t n, double s) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) probe::scale(x + offset_of(xs, i), y + i, s);
}

unsigned blocks_for(int64_t n) { return (unsigned)(n / 256 + 1 < 4096 ? n / 256 + 1 : 4096); }

void scale(KernelCall& c) {
  const TensorArg x = c.in(0), y = c.out(0);
  KILN_CHECK(x.numel() == y.numel() && y.is_contiguous(), Shape, c.name, "expected a contiguous output of the input's size");
  KILN_CHECK(x.dtype() == y.dtype(), DType, c.name, "input and output dtypes differ");
  if (x.numel() == 0) return;
  KILN_DISPATCH_FLOATING(x.dtype(), c.name, {
    scale_kernel<scalar_t><<<blocks_for(x.numel()), 256, 0, c.stream()>>>(x.ptr<scalar_t>(), strides_of(x), y.ptr<scalar_t>(), x.numel(), c.attr(0));
  });
}
KILN_CUDA_KERNEL_ARGS("ext_probe_scale", scale, "input");

__global__ void find_above(const float* v, int64_t n, double limit, kiln::DeviceErrorSlot* slot, int kernel_id) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    if (v[i] > limit) kiln::report_value_error(slot, kernel_id, 0, v[i], -1e300, limit);
}

void device_error(KernelCall& c) {
  const TensorArg v = c.in(0);
  KILN_CHECK(v.dtype() == kiln::DType::Float32 && v.is_contiguous(), DType, c.name, "expected a contiguous float32 input");
  if (v.numel() == 0) return;
  find_above<<<blocks_for(v.numel()), 256, 0, c.stream()>>>(v.ptr<float>(), v.numel(), c.attr(0), c.error_slot(), c.kernel_id());
}
KILN_CUDA_KERNEL_ARGS("ext_probe_device_error", device_error, "values");

}  // namespace
