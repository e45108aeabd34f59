// GPU loops for elementwise kernels: a unit-stride path and a strided path that maps each linear
// index to operand offsets with OffsetCalc (32-bit arithmetic when the tensor has < 2^31 elements,
// 64-bit beyond). Every launch is checked.
#pragma once
#include "kiln/strided.h"
#include "runtime.h"

namespace kiln { namespace cuda {

template <typename Out, typename In, typename F>
__global__ void unary_contig_kernel(Out* o, const In* a, int64_t n, F f) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) store(o + i, f(load(a + i)));
}

template <typename Out, typename In, typename F, typename IndexT>
__global__ void unary_strided_kernel(OffsetCalc<2, IndexT> oc, char* o, const char* a, IndexT n, F f) {
  for (IndexT i = blockIdx.x * (IndexT)blockDim.x + threadIdx.x; i < n; i += (IndexT)gridDim.x * blockDim.x) {
    IndexT off[2];
    oc.get(i, off);
    store((Out*)o + off[0], f(load((const In*)a + off[1])));
  }
}

template <typename Out, typename In, typename F>
__global__ void binary_contig_kernel(Out* o, const In* a, const In* b, int64_t n, F f) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) store(o + i, f(load(a + i), load(b + i)));
}

template <typename Out, typename In, typename F, typename IndexT>
__global__ void binary_strided_kernel(OffsetCalc<3, IndexT> oc, char* o, const char* a, const char* b, IndexT n, F f) {
  for (IndexT i = blockIdx.x * (IndexT)blockDim.x + threadIdx.x; i < n; i += (IndexT)gridDim.x * blockDim.x) {
    IndexT off[3];
    oc.get(i, off);
    store((Out*)o + off[0], f(load((const In*)a + off[1]), load((const In*)b + off[2])));
  }
}

template <typename Out, typename In, typename F>
void unary_launch(KernelCall& c, F f) {
  const TensorArg* ops[2] = {&c.out(0), &c.in(0)};
  Layout<2> L = make_layout<2>(ops);
  if (L.numel == 0) return;
  cudaStream_t s = stream_of(c);
  unsigned g = blocks_for(L.numel, 4);
  if (L.contiguous()) {
    unary_contig_kernel<Out, In><<<g, kThreads, 0, s>>>((Out*)L.data[0], (const In*)L.data[1], L.numel, f);
  } else if (L.numel < (1LL << 31)) {
    unary_strided_kernel<Out, In, F, int32_t><<<g, kThreads, 0, s>>>(OffsetCalc<2, int32_t>(L), L.data[0], L.data[1], (int32_t)L.numel, f);
  } else {
    unary_strided_kernel<Out, In, F, int64_t><<<g, kThreads, 0, s>>>(OffsetCalc<2, int64_t>(L), L.data[0], L.data[1], L.numel, f);
  }
  KILN_CUDA_CHECK(cudaGetLastError(), c.name);
}

// A scalar second operand (one input) arrives as attribute 0, on the left when attribute 1 is set.
template <typename F, typename C>
struct ScalarRight {
  F f;
  C s;
  __device__ auto operator()(C x) const { return f(x, s); }
};
template <typename F, typename C>
struct ScalarLeft {
  F f;
  C s;
  __device__ auto operator()(C x) const { return f(s, x); }
};

template <typename Out, typename In, typename F>
void binary_launch(KernelCall& c, F f) {
  using C = compute_t<In>;
  if (c.n_inputs == 1) {
    C s = (C)c.attr(0);
    bool left = c.n_attrs > 1 && c.attr(1) != 0;
    if (left) unary_launch<Out, In>(c, ScalarLeft<F, C>{f, s});
    else unary_launch<Out, In>(c, ScalarRight<F, C>{f, s});
    return;
  }
  const TensorArg* ops[3] = {&c.out(0), &c.in(0), &c.in(1)};
  Layout<3> L = make_layout<3>(ops);
  if (L.numel == 0) return;
  cudaStream_t s = stream_of(c);
  unsigned g = blocks_for(L.numel, 4);
  if (L.contiguous()) {
    binary_contig_kernel<Out, In><<<g, kThreads, 0, s>>>((Out*)L.data[0], (const In*)L.data[1], (const In*)L.data[2], L.numel, f);
  } else if (L.numel < (1LL << 31)) {
    binary_strided_kernel<Out, In, F, int32_t><<<g, kThreads, 0, s>>>(OffsetCalc<3, int32_t>(L), L.data[0], L.data[1], L.data[2], (int32_t)L.numel, f);
  } else {
    binary_strided_kernel<Out, In, F, int64_t><<<g, kThreads, 0, s>>>(OffsetCalc<3, int64_t>(L), L.data[0], L.data[1], L.data[2], L.numel, f);
  }
  KILN_CUDA_CHECK(cudaGetLastError(), c.name);
}

}}  // namespace kiln::cuda
