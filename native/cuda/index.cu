// CUDA kernels of the gather/scatter family (gather, scatter, scatter_add, index_select) and
// one_hot: the same operand geometry as cpu/index.cc (include/kiln/math/indexing.h), one thread
// per index element.
//
// A kernel cannot throw: an index outside its range is reported through the device error slot
// (report_index_error) and raised as a ValueError at the next synchronisation. gather-like
// kernels skip the bad element (their output is new and the error will be raised). The scatter
// kernels write into the caller's tensor, so they first run a check kernel over the index, which
// also raises a per-device flag; the writing kernel then does nothing when the flag is set, and
// the target is left untouched, as on the CPU.
//
// Duplicate indices: scatter writes one of the duplicates' values (which one is unspecified, as
// in PyTorch); scatter_add sums them with atomicAdd (the order of the additions, and so the last
// bits of a float sum, can vary from run to run).
#include <initializer_list>
#include "elementwise.cuh"
#include "kiln/math/indexing.h"

namespace kiln { namespace cuda {
namespace {

// Set by check_index_kernel when a value is out of range; read by the scatter kernels.
__device__ unsigned int g_bad_index;

// Offsets fit 32-bit arithmetic when the element count and every operand's reach do.
bool small_offsets(int64_t n, std::initializer_list<const TensorArg*> ts) {
  if (n >= (1LL << 31)) return false;
  for (const TensorArg* t : ts) if (max_offset(*t) >= (1LL << 31)) return false;
  return true;
}

// ---- gather / index_select ------------------------------------------------------------------

template <typename T, typename I, typename IndexT>
__global__ void gather_kernel_impl(OffsetCalc<3, IndexT> oc, T* out, const I* index, const T* self, int64_t dim_stride, int64_t dim_size,
                                   IndexT n, DeviceErrorSlot* slot, int kernel_id) {
  for (IndexT i = blockIdx.x * (IndexT)blockDim.x + threadIdx.x; i < n; i += (IndexT)gridDim.x * blockDim.x) {
    IndexT off[3];
    oc.get(i, off);
    I v = index[off[1]];
    if (!index_in_range(v, dim_size)) {
      report_index_error(slot, kernel_id, 1, (long long)v, 0, dim_size - 1);
      continue;
    }
    out[off[0]] = self[indexed_offset(off[2], (int64_t)v, dim_stride)];
  }
}

template <typename T, typename I>
void gather_launch(const KernelCall& c, const TensorArg& out, const TensorArg& index, const TensorArg& self, int dim) {
  TensorArg self_r = restride_indexed(self, index, dim);
  const TensorArg* ops[3] = {&out, &index, &self_r};
  Layout<3> L = make_layout<3>(ops);
  if (L.numel == 0) return;
  unsigned g = blocks_for(L.numel, 4);
  cudaStream_t s = stream_of(c);
  int64_t dim_size = self.shape[dim], dim_stride = self.strides[dim];
  if (small_offsets(L.numel, {&out, &index, &self}))
    gather_kernel_impl<T, I, int32_t><<<g, kThreads, 0, s>>>(OffsetCalc<3, int32_t>(L), (T*)L.data[0], (const I*)L.data[1], (const T*)L.data[2], dim_stride, dim_size,
                                                             (int32_t)L.numel, error_slot_of(c), c.id);
  else
    gather_kernel_impl<T, I, int64_t><<<g, kThreads, 0, s>>>(OffsetCalc<3, int64_t>(L), (T*)L.data[0], (const I*)L.data[1], (const T*)L.data[2], dim_stride, dim_size,
                                                             L.numel, error_slot_of(c), c.id);
  KILN_CUDA_CHECK(cudaGetLastError(), c.name);
}

// gather: inputs [self, index], output [out]; attrs [dim].
void gather_kernel(KernelCall& c) {
  int dim = (int)c.int_attr(0);
  TensorArg self = at_least_1d(c.in(0)), index = at_least_1d(c.in(1)), out = at_least_1d(c.out(0));
  check_indexed_call(c.name, self, index, out, dim, false);
  KILN_CHECK(out.dtype == self.dtype, DType, c.name, std::string("expected the output dtype ") + dtype_name(self.dtype) + ", got " + dtype_name(out.dtype));
  KILN_DISPATCH_ALL(self.dtype, c.name, {
    using T = scalar_t;
    KILN_DISPATCH_INDEX(index.dtype, c.name, gather_launch<T, scalar_t>(c, out, index, self, dim));
  });
}
KILN_KERNEL("gather", gather_kernel);

// index_select: inputs [self, index (0-d or 1-d)], output [out]; attrs [dim].
void index_select_kernel(KernelCall& c) {
  int dim = (int)c.int_attr(0);
  TensorArg self = at_least_1d(c.in(0)), out = at_least_1d(c.out(0));
  const TensorArg& index = c.in(1);
  KILN_CHECK(index.ndim <= 1, Shape, c.name, "argument 'index' expected 0 or 1 dimensions, got " + std::to_string(index.ndim));
  KILN_CHECK(out.ndim == self.ndim && dim >= 0 && dim < self.ndim && out.shape[dim] == index.numel, Shape, c.name, "the output's shape does not match the input and index");
  KILN_CHECK(out.dtype == self.dtype, DType, c.name, std::string("expected the output dtype ") + dtype_name(self.dtype) + ", got " + dtype_name(out.dtype));
  TensorArg bindex = broadcast_index(index, out, dim);
  KILN_DISPATCH_ALL(self.dtype, c.name, {
    using T = scalar_t;
    KILN_DISPATCH_INDEX(index.dtype, c.name, gather_launch<T, scalar_t>(c, out, bindex, self, dim));
  });
}
KILN_KERNEL("index_select", index_select_kernel);

// ---- scatter / scatter_add --------------------------------------------------------------------

template <typename I, typename IndexT>
__global__ void check_index_kernel(OffsetCalc<1, IndexT> oc, const I* index, int64_t size, IndexT n, DeviceErrorSlot* slot, int kernel_id) {
  for (IndexT i = blockIdx.x * (IndexT)blockDim.x + threadIdx.x; i < n; i += (IndexT)gridDim.x * blockDim.x) {
    IndexT off[1];
    oc.get(i, off);
    I v = index[off[0]];
    if (!index_in_range(v, size)) {
      report_index_error(slot, kernel_id, 1, (long long)v, 0, size - 1);
      g_bad_index = 1u;
    }
  }
}

// Atomic form of AddInto (several threads may add into one element).
struct AtomicAddInto {
  __device__ void operator()(float* d, const float* s) const { atomicAdd(d, *s); }
  __device__ void operator()(double* d, const double* s) const { atomicAdd(d, *s); }
  __device__ void operator()(int32_t* d, const int32_t* s) const { atomicAdd((int*)d, (int)*s); }
  // two's-complement addition is the same operation on unsigned words
  __device__ void operator()(int64_t* d, const int64_t* s) const { atomicAdd((unsigned long long*)d, (unsigned long long)*s); }
};

template <typename T, typename I, typename IndexT, typename Write>
__global__ void scatter_kernel_impl(OffsetCalc<3, IndexT> oc, const T* src, const I* index, T* target, int64_t dim_stride, IndexT n, Write write) {
  if (g_bad_index) return;   // the check kernel found a bad index: leave the target untouched
  for (IndexT i = blockIdx.x * (IndexT)blockDim.x + threadIdx.x; i < n; i += (IndexT)gridDim.x * blockDim.x) {
    IndexT off[3];
    oc.get(i, off);
    write(target + indexed_offset(off[2], (int64_t)index[off[1]], dim_stride), src + off[0]);
  }
}

template <typename T, typename I, typename Write>
void scatter_launch(const KernelCall& c, const TensorArg& src, const TensorArg& index, const TensorArg& target, int dim, Write write) {
  cudaStream_t s = stream_of(c);
  // 1. check every index value (reporting the first bad one, raising g_bad_index)
  void* flag = nullptr;
  KILN_CUDA_CHECK(cudaGetSymbolAddress(&flag, g_bad_index), c.name);
  KILN_CUDA_CHECK(cudaMemsetAsync(flag, 0, sizeof(unsigned int), s), c.name);
  const TensorArg* iops[1] = {&index};
  Layout<1> IL = make_layout<1>(iops);
  unsigned gi = blocks_for(IL.numel, 4);
  if (small_offsets(IL.numel, {&index}))
    check_index_kernel<I, int32_t><<<gi, kThreads, 0, s>>>(OffsetCalc<1, int32_t>(IL), (const I*)IL.data[0], target.shape[dim], (int32_t)IL.numel, error_slot_of(c), c.id);
  else
    check_index_kernel<I, int64_t><<<gi, kThreads, 0, s>>>(OffsetCalc<1, int64_t>(IL), (const I*)IL.data[0], target.shape[dim], IL.numel, error_slot_of(c), c.id);
  KILN_CUDA_CHECK(cudaGetLastError(), c.name);
  // 2. write, unless step 1 found a bad value
  TensorArg src_r = shaped_like(src, index), target_r = restride_indexed(target, index, dim);
  const TensorArg* ops[3] = {&src_r, &index, &target_r};
  Layout<3> L = make_layout<3>(ops);
  unsigned g = blocks_for(L.numel, 4);
  if (small_offsets(L.numel, {&src, &index, &target}))
    scatter_kernel_impl<T, I, int32_t><<<g, kThreads, 0, s>>>(OffsetCalc<3, int32_t>(L), (const T*)L.data[0], (const I*)L.data[1], (T*)L.data[2], target.strides[dim],
                                                              (int32_t)L.numel, write);
  else
    scatter_kernel_impl<T, I, int64_t><<<g, kThreads, 0, s>>>(OffsetCalc<3, int64_t>(L), (const T*)L.data[0], (const I*)L.data[1], (T*)L.data[2], target.strides[dim],
                                                              L.numel, write);
  KILN_CUDA_CHECK(cudaGetLastError(), c.name);
}

// Inputs [target, index, src?]; the target (also output 0) is written in place. As cpu/index.cc.
template <typename Body>
void scatter_common(KernelCall& c, bool needs_src, Body body) {
  int dim = (int)c.int_attr(0);
  TensorArg target = at_least_1d(c.out(0)), index = at_least_1d(c.in(1));
  TensorArg src = c.n_inputs > 2 ? at_least_1d(c.in(2)) : index;   // value form: src unused
  KILN_CHECK(!needs_src || c.n_inputs > 2, Internal, c.name, "missing input 'src'");
  check_indexed_call(c.name, target, index, src, dim, true);
  if (c.n_inputs > 2)
    KILN_CHECK(src.dtype == target.dtype, DType, c.name, std::string("argument 'src' expected dtype ") + dtype_name(target.dtype) + ", got " + dtype_name(src.dtype));
  if (index.numel == 0) return;
  body(src, index, target, dim);
}

// scatter: inputs [target, index, src] or [target, index] with the value in attr 1; output
// [target]; attrs [dim, value].
void scatter_kernel(KernelCall& c) {
  scatter_common(c, false, [&](const TensorArg& src, const TensorArg& index, const TensorArg& target, int dim) {
    KILN_DISPATCH_ALL(target.dtype, c.name, {
      using T = scalar_t;
      if (c.n_inputs > 2) {
        KILN_DISPATCH_INDEX(index.dtype, c.name, scatter_launch<T, scalar_t>(c, src, index, target, dim, AssignFrom()));
      } else {
        AssignValue<T> w{Store<T>::from(c.attr(1))};
        KILN_DISPATCH_INDEX(index.dtype, c.name, scatter_launch<T, scalar_t>(c, src, index, target, dim, w));
      }
    });
  });
}
KILN_KERNEL("scatter", scatter_kernel);

// scatter_add: inputs [target, index, src], output [target]; attrs [dim]. float32, float64,
// int32, int64 (the TypeScript op computes the half types through a float32 copy).
template <typename T>
void scatter_add_typed(const KernelCall& c, const TensorArg& src, const TensorArg& index, const TensorArg& target, int dim) {
  KILN_DISPATCH_INDEX(index.dtype, c.name, scatter_launch<T, scalar_t>(c, src, index, target, dim, AtomicAddInto()));
}

void scatter_add_kernel(KernelCall& c) {
  scatter_common(c, true, [&](const TensorArg& src, const TensorArg& index, const TensorArg& target, int dim) {
    switch (target.dtype) {
      case DType::Float32: scatter_add_typed<float>(c, src, index, target, dim); break;
      case DType::Float64: scatter_add_typed<double>(c, src, index, target, dim); break;
      case DType::Int32: scatter_add_typed<int32_t>(c, src, index, target, dim); break;
      case DType::Int64: scatter_add_typed<int64_t>(c, src, index, target, dim); break;
      default: throw_dtype_error(c.name, target.dtype, "float32, float64, int32 or int64 (half types are computed in float32 by the op)");
    }
  });
}
KILN_KERNEL("scatter_add", scatter_add_kernel);

// ---- one_hot ------------------------------------------------------------------------------------

// One thread per output element o = row * classes + k: out[o] = index[row] == k. The thread of
// k == 0 reports an out-of-range value (once per row).
template <typename I, typename IndexT>
__global__ void one_hot_kernel_impl(OffsetCalc<1, IndexT> oc, const I* index, int64_t* out, IndexT classes, IndexT n, DeviceErrorSlot* slot, int kernel_id) {
  for (IndexT o = blockIdx.x * (IndexT)blockDim.x + threadIdx.x; o < n; o += (IndexT)gridDim.x * blockDim.x) {
    IndexT row = o / classes, k = o - row * classes;
    IndexT off[1];
    oc.get(row, off);
    I v = index[off[0]];
    if (k == 0 && !index_in_range(v, (int64_t)classes)) report_index_error(slot, kernel_id, 0, (long long)v, 0, (long long)classes - 1);
    out[o] = (int64_t)v == (int64_t)k ? 1 : 0;
  }
}

// one_hot: input [index], output [out] (int64, contiguous, index.shape + [C]); attrs [C].
void one_hot_kernel(KernelCall& c) {
  const TensorArg& index = c.in(0);
  TensorArg& out = c.out(0);
  int64_t classes = c.int_attr(0);
  KILN_CHECK(out.dtype == DType::Int64 && out.is_contiguous(), Internal, c.name, "expected a contiguous int64 output");
  KILN_CHECK(classes >= 1 && out.numel == index.numel * classes, Shape, c.name, "the output's shape does not match index.shape + [numClasses]");
  if (out.numel == 0) return;
  const TensorArg* ops[1] = {&index};
  Layout<1> L = make_layout<1>(ops);
  unsigned g = blocks_for(out.numel, 4);
  KILN_DISPATCH_INDEX(index.dtype, c.name, {
    if (small_offsets(out.numel, {&index}))
      one_hot_kernel_impl<scalar_t, int32_t><<<g, kThreads, 0, stream_of(c)>>>(OffsetCalc<1, int32_t>(L), (const scalar_t*)L.data[0], out.ptr<int64_t>(), (int32_t)classes,
                                                                               (int32_t)out.numel, error_slot_of(c), c.id);
    else
      one_hot_kernel_impl<scalar_t, int64_t><<<g, kThreads, 0, stream_of(c)>>>(OffsetCalc<1, int64_t>(L), (const scalar_t*)L.data[0], out.ptr<int64_t>(), classes, out.numel,
                                                                               error_slot_of(c), c.id);
  });
  KILN_CUDA_CHECK(cudaGetLastError(), c.name);
}
KILN_KERNEL("one_hot", one_hot_kernel);

}  // namespace
}}  // namespace kiln::cuda
