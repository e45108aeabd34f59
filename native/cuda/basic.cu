// CUDA kernels that every op builds on: copy (with dtype conversion), fill, where, clamp.
// The same semantics as cpu/basic.cc.
#include "elementwise.cuh"

namespace kiln { namespace cuda { namespace {

struct Identity {
  template <typename T> __device__ T operator()(T x) const { return x; }
};

void copy_kernel(KernelCall& c) {
  // A copy between dense operands of one dtype is a byte copy: the copy engine's path, as PyTorch's
  // copy_ takes (the conversions and strided views below go through the elementwise loop).
  const TensorArg* ops[2] = {&c.out(0), &c.in(0)};
  Layout<2> L = make_layout<2>(ops);
  const size_t bytes = (size_t)L.numel * dtype_size(c.out(0).dtype);
  const bool overlap = L.data[0] < L.data[1] + bytes && L.data[1] < L.data[0] + bytes;   // memcpy's ranges must not
  if (c.out(0).dtype == c.in(0).dtype && L.contiguous() && !overlap) {
    if (L.numel > 0) KILN_CUDA_CHECK(cudaMemcpyAsync(L.data[0], L.data[1], bytes, cudaMemcpyDeviceToDevice, stream_of(c)), c.name);
    return;
  }
  KILN_DISPATCH_ALL(c.out(0).dtype, c.name, {
    using Out = scalar_t;
    KILN_DISPATCH_ALL(c.in(0).dtype, c.name, unary_launch<Out, scalar_t>(c, Identity()));
  });
}
KILN_KERNEL("copy", copy_kernel);

template <typename T, typename IndexT>
__global__ void fill_strided(OffsetCalc<1, IndexT> oc, T* o, IndexT n, T v) {
  for (IndexT i = blockIdx.x * (IndexT)blockDim.x + threadIdx.x; i < n; i += (IndexT)gridDim.x * blockDim.x) {
    IndexT off[1];
    oc.get(i, off);
    o[off[0]] = v;
  }
}

void fill_kernel(KernelCall& c) {
  const TensorArg* ops[1] = {&c.out(0)};
  Layout<1> L = make_layout<1>(ops);
  if (L.numel == 0) return;
  double v = c.attr(0);
  KILN_DISPATCH_ALL(c.out(0).dtype, c.name, {
    scalar_t s = Store<scalar_t>::from(v);
    unsigned g = blocks_for(L.numel, 4);
    if (L.numel < (1LL << 31))
      fill_strided<scalar_t, int32_t><<<g, kThreads, 0, stream_of(c)>>>(OffsetCalc<1, int32_t>(L), (scalar_t*)L.data[0], (int32_t)L.numel, s);
    else fill_strided<scalar_t, int64_t><<<g, kThreads, 0, stream_of(c)>>>(OffsetCalc<1, int64_t>(L), (scalar_t*)L.data[0], L.numel, s);
  });
  KILN_CUDA_CHECK(cudaGetLastError(), c.name);
}
KILN_KERNEL("fill", fill_kernel);

template <typename T, typename IndexT>
__global__ void where_strided(OffsetCalc<4, IndexT> oc, T* o, const bool* cond, const T* a, const T* b, IndexT n) {
  for (IndexT i = blockIdx.x * (IndexT)blockDim.x + threadIdx.x; i < n; i += (IndexT)gridDim.x * blockDim.x) {
    IndexT off[4];
    oc.get(i, off);
    o[off[0]] = cond[off[1]] ? a[off[2]] : b[off[3]];
  }
}

void where_kernel(KernelCall& c) {
  const TensorArg* ops[4] = {&c.out(0), &c.in(0), &c.in(1), &c.in(2)};
  Layout<4> L = make_layout<4>(ops);
  if (L.numel == 0) return;
  unsigned g = blocks_for(L.numel, 4);
  KILN_DISPATCH_ALL(c.out(0).dtype, c.name, {
    if (L.numel < (1LL << 31))
      where_strided<scalar_t, int32_t><<<g, kThreads, 0, stream_of(c)>>>(OffsetCalc<4, int32_t>(L), (scalar_t*)L.data[0], (const bool*)L.data[1],
                                                                         (const scalar_t*)L.data[2], (const scalar_t*)L.data[3], (int32_t)L.numel);
    else
      where_strided<scalar_t, int64_t><<<g, kThreads, 0, stream_of(c)>>>(OffsetCalc<4, int64_t>(L), (scalar_t*)L.data[0], (const bool*)L.data[1],
                                                                         (const scalar_t*)L.data[2], (const scalar_t*)L.data[3], L.numel);
  });
  KILN_CUDA_CHECK(cudaGetLastError(), c.name);
}
KILN_KERNEL("where", where_kernel);

template <typename C>
struct Clamp {
  bool has_lo, has_hi;
  C lo, hi;
  __device__ C operator()(C x) const {
    if (x != x) return x;
    if (has_lo && x < lo) x = lo;
    if (has_hi && x > hi) x = hi;
    return x;
  }
};

void clamp_kernel(KernelCall& c) {
  double lo = c.attr(0), hi = c.attr(1);
  KILN_DISPATCH_NUMERIC(c.in(0).dtype, c.name, {
    using C = compute_t<scalar_t>;
    Clamp<C> f{lo == lo, hi == hi, lo == lo ? (C)lo : C(0), hi == hi ? (C)hi : C(0)};
    unary_launch<scalar_t, scalar_t>(c, f);
  });
}
KILN_KERNEL("clamp", clamp_kernel);

template <typename T>
__global__ void arange_kernel_impl(T* o, int64_t stride, int64_t n, double start, double step) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) store(o + i * stride, start + (double)i * step);
}

// arange: out[i] = start + i * step (attrs [start, step]); also linspace's kernel.
void arange_kernel(KernelCall& c) {
  TensorArg& o = c.out(0);
  if (o.numel == 0) return;
  KILN_DISPATCH_NUMERIC(o.dtype, c.name, {
    arange_kernel_impl<scalar_t><<<blocks_for(o.numel), kThreads, 0, stream_of(c)>>>(o.ptr<scalar_t>(), o.strides[0], o.numel, c.attr(0), c.attr(1));
  });
  KILN_CUDA_CHECK(cudaGetLastError(), c.name);
}
KILN_KERNEL("arange", arange_kernel);

}  // namespace
}}  // namespace kiln::cuda
