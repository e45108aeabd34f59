// CUDA kernels of batch normalisation (formulas and operands: batch_norm.h).
//
// A channel's values are spread over N segments of S, so one block per channel would leave most of
// the GPU idle when C is small (64 channels of 131,072 values in ResNet's first layer). The
// statistics and the backward sums therefore go in two launches: blocks over tiles, a tile being
// up to kTile consecutive values of one segment (its own partial result), then one warp per channel
// merging that channel's partials in a fixed order (deterministic, no atomics). The statistics'
// partials are Welford triples (count, mean, M2), merged by Chan's formula, so the variance comes
// from one read of x without the cancellation of Σx² - n·mean². The normalisation and the input
// gradient are elementwise, one thread per value.
#include <algorithm>
#include "batch_norm.h"
#include "cuda/allocator.h"
#include "cuda/runtime.h"
#include "kiln/int_divider.h"

namespace kiln { namespace nn {
namespace {

constexpr int64_t kTile = 4096;
constexpr int kMaxTileThreads = 256;

// The tiles of a call: `chunks` per segment, `per_channel` = N·chunks per channel.
struct Tiles {
  int64_t chunk, chunks, per_channel, total;
  int threads;   // a block's threads: a power of two from 32 to 256, about 4 values each
  explicit Tiles(const BatchNormSizes& z) {
    chunk = std::min<int64_t>(kTile, z.s);
    chunks = (z.s + chunk - 1) / chunk;
    per_channel = z.n * chunks;
    total = per_channel * z.c;
    threads = 32;
    while (threads < kMaxTileThreads && threads * 4 < chunk) threads *= 2;
  }
};

// Block b's tile: segment (sample, channel) = b / chunks, chunk b % chunks; its values and the
// index of its partial result (channel-major, so that a channel's partials are neighbours).
struct TileAt {
  int64_t begin, end, partial;
  __device__ TileAt(int64_t b, const BatchNormSizes& z, const Tiles& t) {
    const int64_t seg = b / t.chunks, k = b % t.chunks, sample = seg / z.c, ch = seg % z.c;
    begin = seg * z.s + k * t.chunk;
    end = seg * z.s + min(z.s, (k + 1) * t.chunk);
    partial = ch * t.per_channel + sample * t.chunks + k;
  }
};

template <typename C> struct Moments {
  C n, mean, m2;
};

template <typename C> __device__ void welford_add(Moments<C>& m, C v) {
  m.n += C(1);
  const C d = v - m.mean;
  m.mean += d / m.n;
  m.m2 += d * (v - m.mean);
}

// Chan's merge of two sets' moments.
template <typename C> __device__ Moments<C> merge(const Moments<C>& a, const Moments<C>& b) {
  const C n = a.n + b.n;
  if (n == C(0)) return a;
  const C d = b.mean - a.mean, fb = b.n / n;
  return {n, a.mean + d * fb, a.m2 + b.m2 + d * d * a.n * fb};
}

template <typename C> __device__ Moments<C> shfl_down(const Moments<C>& m, int off) {
  return {__shfl_down_sync(0xffffffffu, m.n, off), __shfl_down_sync(0xffffffffu, m.mean, off), __shfl_down_sync(0xffffffffu, m.m2, off)};
}

// Merges a warp's values into lane 0 (a fixed tree: deterministic).
template <typename C> __device__ Moments<C> warp_merge(Moments<C> m) {
  for (int off = 16; off > 0; off >>= 1) m = merge(m, shfl_down(m, off));
  return m;
}

template <typename C> __device__ C warp_sum(C v) {
  for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
  return v;
}

// The block's merge, in thread 0: each warp's, then the warps' in order. `shared` holds one value per warp.
template <typename V, typename Warp, typename Combine> __device__ V block_merge(V v, V* shared, const Warp& warp, const Combine& combine) {
  v = warp(v);
  const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
  if (lane == 0) shared[w] = v;
  __syncthreads();
  if (threadIdx.x == 0)
    for (int i = 1; i < (int)(blockDim.x >> 5); ++i) v = combine(v, shared[i]);
  __syncthreads();   // shared is reused by the block's next tile
  return v;
}

template <typename T, typename C = compute_t<T>> __global__ void stats_partial_kernel(const T* x, Moments<C>* partials, BatchNormSizes z, Tiles t) {
  __shared__ Moments<C> shared[kMaxTileThreads / 32];
  for (int64_t b = blockIdx.x; b < t.total; b += gridDim.x) {
    const TileAt tile(b, z, t);
    Moments<C> m{C(0), C(0), C(0)};
    for (int64_t i = tile.begin + threadIdx.x; i < tile.end; i += blockDim.x) welford_add(m, C(load(x + i)));
    m = block_merge(m, shared, [](const Moments<C>& v) { return warp_merge(v); }, [](const Moments<C>& a, const Moments<C>& c) { return merge(a, c); });
    if (threadIdx.x == 0) partials[tile.partial] = m;
  }
}

// One warp per channel: its partials merged, then the statistics and the running update.
template <typename C>
__global__ void stats_finish_kernel(const Moments<C>* partials, BatchNormSizes z, int64_t per_channel, C eps, C factor, C* mean, C* rstd, C* run_mean,
                                    C* run_var) {
  for (int64_t ch = blockIdx.x; ch < z.c; ch += gridDim.x) {
    Moments<C> m{C(0), C(0), C(0)};
    for (int64_t i = threadIdx.x; i < per_channel; i += 32) m = merge(m, partials[ch * per_channel + i]);
    m = warp_merge(m);
    if (threadIdx.x == 0) {
      const C var = m.m2 / C(z.count());
      mean[ch] = m.mean;
      rstd[ch] = norm_rstd<C>(var, eps);
      if (run_mean) {
        run_mean[ch] = bn_running<C>(run_mean[ch], m.mean, factor);
        run_var[ch] = bn_running<C>(run_var[ch], bn_unbiased<C>(var, z.count()), factor);
      }
    }
  }
}

// Σg and Σ g·(x - mean) of a tile.
template <typename C> struct Sums {
  C g, gc;
};

template <typename T, typename C = compute_t<T>> __global__ void backward_partial_kernel(const T* g, const T* x, const C* mean, Sums<C>* partials,
                                                                                         BatchNormSizes z, Tiles t) {
  __shared__ Sums<C> shared[kMaxTileThreads / 32];
  const auto add = [](const Sums<C>& a, const Sums<C>& b) { return Sums<C>{a.g + b.g, a.gc + b.gc}; };
  for (int64_t b = blockIdx.x; b < t.total; b += gridDim.x) {
    const TileAt tile(b, z, t);
    const C mu = mean[tile.partial / t.per_channel];
    Sums<C> s{C(0), C(0)};
    for (int64_t i = tile.begin + threadIdx.x; i < tile.end; i += blockDim.x) {
      const C gi = C(load(g + i));
      s.g += gi;
      s.gc += gi * (C(load(x + i)) - mu);
    }
    s = block_merge(s, shared, [](const Sums<C>& v) { return Sums<C>{warp_sum(v.g), warp_sum(v.gc)}; }, add);
    if (threadIdx.x == 0) partials[tile.partial] = s;
  }
}

template <typename C>
__global__ void backward_finish_kernel(const Sums<C>* partials, BatchNormSizes z, int64_t per_channel, const C* rstd, const C* w, C* grad_w, C* grad_b,
                                       C* coef) {
  for (int64_t ch = blockIdx.x; ch < z.c; ch += gridDim.x) {
    Sums<C> s{C(0), C(0)};
    for (int64_t i = threadIdx.x; i < per_channel; i += 32) {
      s.g += partials[ch * per_channel + i].g;
      s.gc += partials[ch * per_channel + i].gc;
    }
    s = Sums<C>{warp_sum(s.g), warp_sum(s.gc)};
    if (threadIdx.x == 0) bn_backward_sums<C>(s.g, s.gc, rstd[ch], w ? w[ch] : C(1), z.count(), grad_w + ch, grad_b + ch, coef + 2 * ch);
  }
}

// The channel of element e of x [N, C, S]: (e / S) % C, by multiplications where the indices fit 31 bits.
struct ChannelOf {
  IntDivider by_s, by_c;
  int64_t s, c;
  bool small;
  explicit ChannelOf(const BatchNormSizes& z, int64_t numel) : s(z.s), c(z.c), small(numel < (int64_t(1) << 31)) {
    if (small) {
      by_s = IntDivider((uint32_t)std::max<int64_t>(1, z.s));
      by_c = IntDivider((uint32_t)std::max<int64_t>(1, z.c));
    }
  }
  __device__ int64_t operator()(int64_t e) const {
    if (!small) return (e / s) % c;
    const uint32_t seg = by_s.div((uint32_t)e);
    return seg - by_c.div(seg) * (uint32_t)c;
  }
};

template <typename T, typename C = compute_t<T>>
__global__ void apply_kernel(const T* x, const C* mean, const C* rstd, const C* w, const C* b, T* y, int64_t numel, ChannelOf channel_of) {
  KILN_GRID_LOOP(e, numel) {
    const int64_t ch = channel_of(e);
    store(y + e, norm_output<C>(C(load(x + e)), mean[ch], rstd[ch], w ? w[ch] : C(1), b ? b[ch] : C(0)));
  }
}

template <typename T, typename C = compute_t<T>>
__global__ void backward_input_kernel(const T* g, const T* x, const C* mean, const C* rstd, const C* coef, const C* w, T* gx, int64_t numel,
                                      ChannelOf channel_of) {
  KILN_GRID_LOOP(e, numel) {
    const int64_t ch = channel_of(e);
    store(gx + e, norm_grad_input<C>(C(load(g + e)), C(load(x + e)), mean[ch], rstd[ch], w ? w[ch] : C(1), coef[2 * ch], coef[2 * ch + 1]));
  }
}

unsigned grid_of(int64_t blocks) { return (unsigned)std::max<int64_t>(1, std::min<int64_t>(blocks, 1 << 20)); }

struct Cuda {
  template <typename T> static void stats(KernelCall& c, const BatchNormSizes& z, bool running) {
    using P = compute_t<T>;
    const Tiles t(z);
    cuda::DeviceBuffer partials(c.device, sizeof(Moments<P>) * (size_t)t.total);
    const cudaStream_t stream = cuda::stream_of(c);
    auto* part = static_cast<Moments<P>*>(partials.data);
    stats_partial_kernel<T><<<grid_of(t.total), t.threads, 0, stream>>>(c.in(0).ptr<T>(), part, z, t);
    KILN_CUDA_CHECK(cudaGetLastError(), c.name);
    stats_finish_kernel<P><<<grid_of(z.c), 32, 0, stream>>>(part, z, t.per_channel, P(c.attr(0)), P(c.attr(1)), c.out(0).ptr<P>(), c.out(1).ptr<P>(),
                                                            running ? c.out(2).ptr<P>() : nullptr, running ? c.out(3).ptr<P>() : nullptr);
    KILN_CUDA_CHECK(cudaGetLastError(), c.name);
  }

  template <typename T> static void apply(KernelCall& c, const BatchNormSizes& z, const TensorArg* w, const TensorArg* b) {
    using P = compute_t<T>;
    const TensorArg& x = c.in(0);
    apply_kernel<T><<<cuda::blocks_for(x.numel), cuda::kThreads, 0, cuda::stream_of(c)>>>(x.ptr<T>(), c.in(1).ptr<P>(), c.in(2).ptr<P>(), ptr_or_null<P>(w),
                                                                                          ptr_or_null<P>(b), c.out(0).ptr<T>(), x.numel, ChannelOf(z, x.numel));
    KILN_CUDA_CHECK(cudaGetLastError(), c.name);
  }

  template <typename T> static void backward_reduce(KernelCall& c, const BatchNormSizes& z, const TensorArg* w) {
    using P = compute_t<T>;
    const Tiles t(z);
    cuda::DeviceBuffer partials(c.device, sizeof(Sums<P>) * (size_t)t.total);
    const cudaStream_t stream = cuda::stream_of(c);
    auto* part = static_cast<Sums<P>*>(partials.data);
    backward_partial_kernel<T><<<grid_of(t.total), t.threads, 0, stream>>>(c.in(0).ptr<T>(), c.in(1).ptr<T>(), c.in(2).ptr<P>(), part, z, t);
    KILN_CUDA_CHECK(cudaGetLastError(), c.name);
    backward_finish_kernel<P>
        <<<grid_of(z.c), 32, 0, stream>>>(part, z, t.per_channel, c.in(3).ptr<P>(), ptr_or_null<P>(w), c.out(0).ptr<P>(), c.out(1).ptr<P>(), c.out(2).ptr<P>());
    KILN_CUDA_CHECK(cudaGetLastError(), c.name);
  }

  template <typename T> static void backward_input(KernelCall& c, const BatchNormSizes& z, const TensorArg* w) {
    using P = compute_t<T>;
    const TensorArg& x = c.in(1);
    backward_input_kernel<T><<<cuda::blocks_for(x.numel), cuda::kThreads, 0, cuda::stream_of(c)>>>(c.in(0).ptr<T>(), x.ptr<T>(), c.in(2).ptr<P>(),
                                                                                                   c.in(3).ptr<P>(), c.in(4).ptr<P>(), ptr_or_null<P>(w),
                                                                                                   c.out(0).ptr<T>(), x.numel, ChannelOf(z, x.numel));
    KILN_CUDA_CHECK(cudaGetLastError(), c.name);
  }
};

}  // namespace

KILN_KERNEL("batch_norm_stats", batch_norm_stats_entry<Cuda>);
KILN_KERNEL("batch_norm_apply", batch_norm_apply_entry<Cuda>);
KILN_KERNEL("batch_norm_backward_reduce", batch_norm_backward_reduce_entry<Cuda>);
KILN_KERNEL("batch_norm_backward_input", batch_norm_backward_input_entry<Cuda>);

}}  // namespace kiln::nn
