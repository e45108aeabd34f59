// GPU loops for elementwise kernels: a unit-stride path and a strided path that maps each linear
// index to operand offsets with OffsetCalc (32-bit arithmetic when the tensor has < 2^31 elements,
// 64-bit beyond). Every launch is checked.
//
// The unit-stride path moves its operands in packs: each thread loads N consecutive elements of
// every input with one aligned vector load (16 bytes of the wider dtype: 4 floats, 8 bfloat16s),
// computes N results and stores them with one vector store, as PyTorch's vectorized elementwise
// loop does. One load instruction per 16 bytes instead of per element is what lets a memory-bound
// kernel reach the memory's bandwidth. The n % N elements past the last whole pack are done one
// each by the first threads; operands whose addresses are not pack-aligned (views at an odd
// offset) take the one-element loop.
#pragma once
#include <cstdint>
#include "kiln/strided.h"
#include "runtime.h"

namespace kiln { namespace cuda {

template <typename T, int N>
struct alignas(sizeof(T) * N) Pack {
  T v[N];
};

// Elements per pack for an op reading In and writing Out: 16 bytes of the wider of the two.
template <typename Out, typename In>
constexpr int pack_width() {
  return (int)(16 / (sizeof(Out) > sizeof(In) ? sizeof(Out) : sizeof(In)));
}

template <int N, typename T>
inline bool pack_aligned(const void* p) {
  return reinterpret_cast<uintptr_t>(p) % (sizeof(T) * N) == 0;
}

// Packs per thread: a block takes tiles of kPacksPerThread * blockDim packs, each thread loading
// its kPacksPerThread packs (blockDim apart, so a warp's loads stay contiguous) before computing,
// so that more loads are in flight per thread (PyTorch's vectorized loop does the same).
constexpr int kPacksPerThread = 2;

template <int N, typename Out, typename In, typename F>
__global__ void unary_pack_kernel(Out* o, const In* a, int64_t packs, int64_t tail, F f) {
  const int64_t tile = (int64_t)blockDim.x * kPacksPerThread;
  for (int64_t base = blockIdx.x * tile + threadIdx.x; base < packs; base += (int64_t)gridDim.x * tile) {
    Pack<In, N> x[kPacksPerThread];
#pragma unroll
    for (int u = 0; u < kPacksPerThread; ++u)
      if (base + u * (int64_t)blockDim.x < packs) x[u] = reinterpret_cast<const Pack<In, N>*>(a)[base + u * (int64_t)blockDim.x];
#pragma unroll
    for (int u = 0; u < kPacksPerThread; ++u) {
      if (base + u * (int64_t)blockDim.x >= packs) break;
      Pack<Out, N> y;
#pragma unroll
      for (int k = 0; k < N; ++k) store(&y.v[k], f(load(&x[u].v[k])));
      reinterpret_cast<Pack<Out, N>*>(o)[base + u * (int64_t)blockDim.x] = y;
    }
  }
  const int64_t first = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (first < tail) store(o + packs * N + first, f(load(a + packs * N + first)));
}

template <int N, typename Out, typename In, typename F>
__global__ void binary_pack_kernel(Out* o, const In* a, const In* b, int64_t packs, int64_t tail, F f) {
  const int64_t tile = (int64_t)blockDim.x * kPacksPerThread;
  for (int64_t base = blockIdx.x * tile + threadIdx.x; base < packs; base += (int64_t)gridDim.x * tile) {
    Pack<In, N> x[kPacksPerThread], z[kPacksPerThread];
#pragma unroll
    for (int u = 0; u < kPacksPerThread; ++u)
      if (base + u * (int64_t)blockDim.x < packs) {
        x[u] = reinterpret_cast<const Pack<In, N>*>(a)[base + u * (int64_t)blockDim.x];
        z[u] = reinterpret_cast<const Pack<In, N>*>(b)[base + u * (int64_t)blockDim.x];
      }
#pragma unroll
    for (int u = 0; u < kPacksPerThread; ++u) {
      if (base + u * (int64_t)blockDim.x >= packs) break;
      Pack<Out, N> y;
#pragma unroll
      for (int k = 0; k < N; ++k) store(&y.v[k], f(load(&x[u].v[k]), load(&z[u].v[k])));
      reinterpret_cast<Pack<Out, N>*>(o)[base + u * (int64_t)blockDim.x] = y;
    }
  }
  const int64_t first = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (first < tail) store(o + packs * N + first, f(load(a + packs * N + first), load(b + packs * N + first)));
}

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
  constexpr int N = pack_width<Out, In>();
  if (L.contiguous() && pack_aligned<N, Out>(L.data[0]) && pack_aligned<N, In>(L.data[1])) {
    const int64_t packs = L.numel / N;
    unary_pack_kernel<N, Out, In>
        <<<blocks_for(packs > 0 ? packs : 1, kPacksPerThread), kThreads, 0, s>>>((Out*)L.data[0], (const In*)L.data[1], packs, L.numel - packs * N, f);
  } else if (L.contiguous()) {
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
  constexpr int N = pack_width<Out, In>();
  if (L.contiguous() && pack_aligned<N, Out>(L.data[0]) && pack_aligned<N, In>(L.data[1]) && pack_aligned<N, In>(L.data[2])) {
    const int64_t packs = L.numel / N;
    binary_pack_kernel<N, Out, In><<<blocks_for(packs > 0 ? packs : 1, kPacksPerThread), kThreads, 0, s>>>((Out*)L.data[0], (const In*)L.data[1],
                                                                                                           (const In*)L.data[2], packs, L.numel - packs * N, f);
  } else if (L.contiguous()) {
    binary_contig_kernel<Out, In><<<g, kThreads, 0, s>>>((Out*)L.data[0], (const In*)L.data[1], (const In*)L.data[2], L.numel, f);
  } else if (L.numel < (1LL << 31)) {
    binary_strided_kernel<Out, In, F, int32_t><<<g, kThreads, 0, s>>>(OffsetCalc<3, int32_t>(L), L.data[0], L.data[1], L.data[2], (int32_t)L.numel, f);
  } else {
    binary_strided_kernel<Out, In, F, int64_t><<<g, kThreads, 0, s>>>(OffsetCalc<3, int64_t>(L), L.data[0], L.data[1], L.data[2], L.numel, f);
  }
  KILN_CUDA_CHECK(cudaGetLastError(), c.name);
}

}}  // namespace kiln::cuda
