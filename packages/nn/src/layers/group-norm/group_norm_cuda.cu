// CUDA kernels of group normalisation (formulas and operands: group_norm.h). The statistics and
// the backward pass's sums take one block per row (one group of one sample): its threads stride
// over the row and their partial sums are merged by warp shuffles and one shared-memory step, in
// a fixed order (deterministic, no atomics). The normalisation and the input gradient are
// elementwise, one thread per value; the parameters' gradients one thread per channel.
#include <algorithm>
#include "cuda/runtime.h"
#include "group_norm.h"

namespace kiln { namespace nn {
namespace {

constexpr int kRowThreads = 256;

// The sum of every thread's `v` in the block, returned to every thread (all must call it).
template <typename C> __device__ C block_sum(C v) {
  __shared__ C partial[kRowThreads / 32];
  __shared__ C total;
  for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < kRowThreads / 32 ? partial[lane] : C(0);
    for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
    if (lane == 0) total = v;
  }
  __syncthreads();
  const C result = total;
  __syncthreads();   // partial and total are reused by the caller's next sum
  return result;
}

template <typename T, typename C = compute_t<T>> __global__ void stats_kernel(const T* x, C* mean, C* rstd, int64_t rows, int64_t m, C eps) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* row = x + r * m;
    C sum = C(0);
    for (int64_t i = threadIdx.x; i < m; i += blockDim.x) sum += C(load(row + i));
    const C mu = block_sum(sum) / C(m);
    C sq = C(0);
    for (int64_t i = threadIdx.x; i < m; i += blockDim.x) {
      const C d = C(load(row + i)) - mu;
      sq += d * d;
    }
    const C var = block_sum(sq) / C(m);
    if (threadIdx.x == 0) {
      store(mean + r, mu);
      store(rstd + r, norm_rstd<C>(var, eps));
    }
  }
}

template <typename T, typename C = compute_t<T>>
__global__ void apply_kernel(const T* x, const C* mean, const C* rstd, const C* w, const C* b, T* y, int64_t numel, GroupNormSizes z) {
  KILN_GRID_LOOP(e, numel) {
    const GroupNormAt at(e, z.c, z.s, z.per_group);
    const C wc = w ? C(load(w + at.channel)) : C(1), bc = b ? C(load(b + at.channel)) : C(0);
    store(y + e, norm_output<C>(C(load(x + e)), C(load(mean + at.row)), C(load(rstd + at.row)), wc, bc));
  }
}

template <typename T, typename C = compute_t<T>>
__global__ void backward_reduce_kernel(const T* g, const T* x, const C* mean, const C* rstd, const C* w, C* s1, C* s2, C* coef, GroupNormSizes z) {
  for (int64_t r = blockIdx.x; r < z.rows(); r += gridDim.x) {
    const C mu = C(load(mean + r));
    C ws1 = C(0), ws2 = C(0);   // meaningful in thread 0
    for (int64_t j = 0; j < z.per_group; ++j) {
      const int64_t ch = (r % z.groups) * z.per_group + j, base = r * z.m + j * z.s;
      C a = C(0), d = C(0);
      for (int64_t i = threadIdx.x; i < z.s; i += blockDim.x) {
        const C gi = C(load(g + base + i));
        a += gi;
        d += gi * (C(load(x + base + i)) - mu);
      }
      a = block_sum(a);
      d = block_sum(d);
      if (threadIdx.x == 0) {
        const int64_t nc = (r / z.groups) * z.c + ch;
        store(s1 + nc, a);
        store(s2 + nc, d);
        const C wc = w ? C(load(w + ch)) : C(1);
        ws1 += wc * a;
        ws2 += wc * d;
      }
    }
    if (threadIdx.x == 0) {
      C k[2];
      norm_coefficients<C>(C(load(rstd + r)), ws1, ws2, z.m, k);
      store(coef + 2 * r, k[0]);
      store(coef + 2 * r + 1, k[1]);
    }
  }
}

template <typename T, typename C = compute_t<T>>
__global__ void backward_input_kernel(const T* g, const T* x, const C* mean, const C* rstd, const C* coef, const C* w, T* gx, int64_t numel, GroupNormSizes z) {
  KILN_GRID_LOOP(e, numel) {
    const GroupNormAt at(e, z.c, z.s, z.per_group);
    const C wc = w ? C(load(w + at.channel)) : C(1);
    store(gx + e, norm_grad_input<C>(C(load(g + e)), C(load(x + e)), C(load(mean + at.row)), C(load(rstd + at.row)), wc, C(load(coef + 2 * at.row)),
                                     C(load(coef + 2 * at.row + 1))));
  }
}

template <typename P> __global__ void param_grads_kernel(const P* s1, const P* s2, const P* rstd, P* grad_w, P* grad_b, GroupNormSizes z) {
  KILN_GRID_LOOP(ch, z.c) gn_param_grads<P>(s1, s2, rstd, z, ch, grad_w, grad_b);
}

// Blocks for one block per row (grid-stride beyond the grid's limit).
unsigned row_blocks(int64_t rows) { return (unsigned)std::min<int64_t>(rows, 1 << 20); }

struct Cuda {
  template <typename T> static void stats(KernelCall& c, const GroupNormSizes& z) {
    using P = compute_t<T>;
    stats_kernel<T><<<row_blocks(z.rows()), kRowThreads, 0, kiln::cuda::stream_of(c)>>>(c.in(0).ptr<T>(), c.out(0).ptr<P>(), c.out(1).ptr<P>(), z.rows(), z.m,
                                                                                        P(c.attr(1)));
    KILN_CUDA_CHECK(cudaGetLastError(), c.name);
  }

  template <typename T> static void apply(KernelCall& c, const GroupNormSizes& z, const TensorArg* w, const TensorArg* b) {
    using P = compute_t<T>;
    const TensorArg& x = c.in(0);
    apply_kernel<T><<<kiln::cuda::blocks_for(x.numel), kiln::cuda::kThreads, 0, kiln::cuda::stream_of(c)>>>(
        x.ptr<T>(), c.in(1).ptr<P>(), c.in(2).ptr<P>(), ptr_or_null<P>(w), ptr_or_null<P>(b), c.out(0).ptr<T>(), x.numel, z);
    KILN_CUDA_CHECK(cudaGetLastError(), c.name);
  }

  template <typename T> static void backward_reduce(KernelCall& c, const GroupNormSizes& z, const TensorArg* w) {
    using P = compute_t<T>;
    backward_reduce_kernel<T><<<row_blocks(z.rows()), kRowThreads, 0, kiln::cuda::stream_of(c)>>>(
        c.in(0).ptr<T>(), c.in(1).ptr<T>(), c.in(2).ptr<P>(), c.in(3).ptr<P>(), ptr_or_null<P>(w), c.out(0).ptr<P>(), c.out(1).ptr<P>(), c.out(2).ptr<P>(), z);
    KILN_CUDA_CHECK(cudaGetLastError(), c.name);
  }

  template <typename T> static void backward_input(KernelCall& c, const GroupNormSizes& z, const TensorArg* w) {
    using P = compute_t<T>;
    const TensorArg& x = c.in(1);
    backward_input_kernel<T><<<kiln::cuda::blocks_for(x.numel), kiln::cuda::kThreads, 0, kiln::cuda::stream_of(c)>>>(
        c.in(0).ptr<T>(), x.ptr<T>(), c.in(2).ptr<P>(), c.in(3).ptr<P>(), c.in(4).ptr<P>(), ptr_or_null<P>(w), c.out(0).ptr<T>(), x.numel, z);
    KILN_CUDA_CHECK(cudaGetLastError(), c.name);
  }

  template <typename P> static void param_grads(KernelCall& c, const GroupNormSizes& z) {
    param_grads_kernel<P><<<kiln::cuda::blocks_for(z.c), kiln::cuda::kThreads, 0, kiln::cuda::stream_of(c)>>>(
        c.in(0).ptr<P>(), c.in(1).ptr<P>(), c.in(2).ptr<P>(), c.out(0).ptr<P>(), c.out(1).ptr<P>(), z);
    KILN_CUDA_CHECK(cudaGetLastError(), c.name);
  }
};

}  // namespace

KILN_KERNEL("group_norm_stats", group_norm_stats_entry<Cuda>);
KILN_KERNEL("group_norm_apply", group_norm_apply_entry<Cuda>);
KILN_KERNEL("group_norm_backward_reduce", group_norm_backward_reduce_entry<Cuda>);
KILN_KERNEL("group_norm_backward_input", group_norm_backward_input_entry<Cuda>);
KILN_KERNEL("group_norm_param_grads", group_norm_param_grads_entry<Cuda>);

}}  // namespace kiln::nn
