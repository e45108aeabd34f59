// CUDA kernels of the gather/scatter family (gather, scatter, scatter_add, index_select) and
// one_hot: the same operand geometry as cpu/index.cc (include/kiln/math/indexing.h), one thread
// per index element. The entry points (argument checks, dispatch) are those of the CPU kernels
// (include/kiln/index_entry_points.inc); this file has the launches.
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

namespace kiln { namespace cuda { namespace {

// Set by check_index_kernel when a value is out of range; read by the scatter kernels.
__device__ unsigned int g_bad_index;

// Offsets fit 32-bit arithmetic when the element count and every operand's reach do.
bool small_offsets(int64_t n, std::initializer_list<const TensorArg*> ts) {
  if (n >= (1LL << 31)) return false;
  for (const TensorArg* t : ts)
    if (max_offset(*t) >= (1LL << 31)) return false;
  return true;
}

// True when v is in [0, size); otherwise reports it (as a value of input `arg`) through the device
// error slot, raised as a ValueError at the next synchronisation.
template <typename I>
__device__ bool index_value_ok(I v, int64_t size, int arg, DeviceErrorSlot* slot, int kernel_id) {
  if (index_in_range(v, size)) return true;
  report_index_error(slot, kernel_id, arg, (long long)v, 0, size - 1);
  return false;
}

// The entry points' host-side check of the index values: nothing here, the kernels below check
// every value on the device (see the top of this file).
template <typename I>
void check_index_values(const KernelCall&, const TensorArg&, int, int64_t) {}

// ---- gather / index_select ------------------------------------------------------------------

template <typename T, typename I, typename IndexT>
__global__ void gather_kernel_impl(OffsetCalc<3, IndexT> oc, T* out, const I* index, const T* self, int64_t dim_stride, int64_t dim_size, IndexT n,
                                   DeviceErrorSlot* slot, int kernel_id) {
  for (IndexT i = blockIdx.x * (IndexT)blockDim.x + threadIdx.x; i < n; i += (IndexT)gridDim.x * blockDim.x) {
    IndexT off[3];
    oc.get(i, off);
    I v = index[off[1]];
    if (!index_value_ok(v, dim_size, 1, slot, kernel_id)) continue;
    out[off[0]] = self[indexed_offset(off[2], (int64_t)v, dim_stride)];
  }
}

template <typename T, typename I>
void gather_loop(const KernelCall& c, const TensorArg& out, const TensorArg& index, const TensorArg& self, int dim) {
  TensorArg self_r = restride_indexed(self, index, dim);
  const TensorArg* ops[3] = {&out, &index, &self_r};
  Layout<3> L = make_layout<3>(ops);
  if (L.numel == 0) return;
  unsigned g = blocks_for(L.numel, 4);
  cudaStream_t s = stream_of(c);
  int64_t dim_size = self.shape[dim], dim_stride = self.strides[dim];
  if (small_offsets(L.numel, {&out, &index, &self}))
    gather_kernel_impl<T, I, int32_t><<<g, kThreads, 0, s>>>(OffsetCalc<3, int32_t>(L), (T*)L.data[0], (const I*)L.data[1], (const T*)L.data[2], dim_stride,
                                                             dim_size, (int32_t)L.numel, error_slot_of(c), c.id);
  else
    gather_kernel_impl<T, I, int64_t><<<g, kThreads, 0, s>>>(OffsetCalc<3, int64_t>(L), (T*)L.data[0], (const I*)L.data[1], (const T*)L.data[2], dim_stride,
                                                             dim_size, L.numel, error_slot_of(c), c.id);
  KILN_CUDA_CHECK(cudaGetLastError(), c.name);
}

// ---- scatter / scatter_add --------------------------------------------------------------------

template <typename I, typename IndexT>
__global__ void check_index_kernel(OffsetCalc<1, IndexT> oc, const I* index, int64_t size, IndexT n, DeviceErrorSlot* slot, int kernel_id) {
  for (IndexT i = blockIdx.x * (IndexT)blockDim.x + threadIdx.x; i < n; i += (IndexT)gridDim.x * blockDim.x) {
    IndexT off[1];
    oc.get(i, off);
    if (!index_value_ok(index[off[0]], size, 1, slot, kernel_id)) g_bad_index = 1u;
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
void scatter_loop(const KernelCall& c, const TensorArg& src, const TensorArg& index, const TensorArg& target, int dim, Write write) {
  cudaStream_t s = stream_of(c);
  // 1. check every index value (reporting the first bad one, raising g_bad_index)
  void* flag = nullptr;
  KILN_CUDA_CHECK(cudaGetSymbolAddress(&flag, g_bad_index), c.name);
  KILN_CUDA_CHECK(cudaMemsetAsync(flag, 0, sizeof(unsigned int), s), c.name);
  const TensorArg* iops[1] = {&index};
  Layout<1> IL = make_layout<1>(iops);
  unsigned gi = blocks_for(IL.numel, 4);
  if (small_offsets(IL.numel, {&index}))
    check_index_kernel<I, int32_t>
        <<<gi, kThreads, 0, s>>>(OffsetCalc<1, int32_t>(IL), (const I*)IL.data[0], target.shape[dim], (int32_t)IL.numel, error_slot_of(c), c.id);
  else
    check_index_kernel<I, int64_t>
        <<<gi, kThreads, 0, s>>>(OffsetCalc<1, int64_t>(IL), (const I*)IL.data[0], target.shape[dim], IL.numel, error_slot_of(c), c.id);
  KILN_CUDA_CHECK(cudaGetLastError(), c.name);
  // 2. write, unless step 1 found a bad value
  TensorArg src_r = shaped_like(src, index), target_r = restride_indexed(target, index, dim);
  const TensorArg* ops[3] = {&src_r, &index, &target_r};
  Layout<3> L = make_layout<3>(ops);
  unsigned g = blocks_for(L.numel, 4);
  if (small_offsets(L.numel, {&src, &index, &target}))
    scatter_kernel_impl<T, I, int32_t><<<g, kThreads, 0, s>>>(OffsetCalc<3, int32_t>(L), (const T*)L.data[0], (const I*)L.data[1], (T*)L.data[2],
                                                              target.strides[dim], (int32_t)L.numel, write);
  else
    scatter_kernel_impl<T, I, int64_t>
        <<<g, kThreads, 0, s>>>(OffsetCalc<3, int64_t>(L), (const T*)L.data[0], (const I*)L.data[1], (T*)L.data[2], target.strides[dim], L.numel, write);
  KILN_CUDA_CHECK(cudaGetLastError(), c.name);
}

using ScatterAddInto = AtomicAddInto;

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
    if (k == 0) index_value_ok(v, (int64_t)classes, 0, slot, kernel_id);
    out[o] = (int64_t)v == (int64_t)k ? 1 : 0;
  }
}

// one_hot's launch: out (int64, contiguous, index.shape + [classes]) from index.
template <typename I>
void one_hot_fill(const KernelCall& c, const TensorArg& index, int64_t* out, int64_t classes) {
  const int64_t n = index.numel * classes;
  const TensorArg* ops[1] = {&index};
  Layout<1> L = make_layout<1>(ops);
  unsigned g = blocks_for(n, 4);
  if (small_offsets(n, {&index}))
    one_hot_kernel_impl<I, int32_t>
        <<<g, kThreads, 0, stream_of(c)>>>(OffsetCalc<1, int32_t>(L), (const I*)L.data[0], out, (int32_t)classes, (int32_t)n, error_slot_of(c), c.id);
  else
    one_hot_kernel_impl<I, int64_t><<<g, kThreads, 0, stream_of(c)>>>(OffsetCalc<1, int64_t>(L), (const I*)L.data[0], out, classes, n, error_slot_of(c), c.id);
  KILN_CUDA_CHECK(cudaGetLastError(), c.name);
}

#include "kiln/index_entry_points.inc"

}  // namespace
}}  // namespace kiln::cuda
