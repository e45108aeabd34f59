// CUDA kernels of the sigmoid focal loss: the same four kernels as cpu/focal_loss.cc, calling the
// same math (include/kiln/math/focal_loss.h) through the same element evaluation
// (include/kiln/focal_loss_args.h).
//
// The loss is memory-bound: forward reads the logits (and targets) once and, when the input needs
// a gradient, writes the gradient in the same pass (scaled by 1/divisor, as if the upstream
// gradient were 1: backward then returns it untouched for `loss.backward()`). The mean/sum is
// reduced in the same kernel: each block writes one float64 partial sum, and a one-block kernel
// adds the partials in a fixed order (deterministic, no float atomics).
#include <atomic>
#include <algorithm>
#include <type_traits>
#include "kiln/focal_loss_args.h"
#include "kiln/int_divider.h"
#include "runtime.h"

namespace kiln { namespace cuda { namespace {
using namespace kiln::focal;

constexpr int kBlock = 256;

__device__ void report(const TargetCheck& chk, int kernel_id, DeviceErrorSlot* slot, const Args& a) {
  // the range is for target_error_wording, which words it as the CPU kernels do
  if (a.kind == kFloat) report_value_error(slot, kernel_id, 1, chk.value, 0.0, 1.0, kFloat);
  else report_index_error(slot, kernel_id, 1, (long long)chk.value, -1, a.C, a.kind);
}

// Sum of `v` over the block, valid in thread 0.
__device__ double block_sum(double v) {
  __shared__ double warp_sums[kBlock / 32];
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();
  v = 0;
  if (warp == 0) {
    v = lane < kBlock / 32 ? warp_sums[lane] : 0.0;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  }
  return v;
}

struct Outputs {
  char* loss = nullptr;      // elementwise loss [N, C], or null when reducing
  int64_t loss_s0 = 0, loss_s1 = 0;
  double* partials = nullptr;
  char* grad = nullptr;      // gradient [N, C], or null
  int64_t grad_s0 = 0, grad_s1 = 0;
};

// Partials: partition p of P covers flat elements [total*p/P, total*(p+1)/P) and its block writes
// partials[p]. The grid holds only as many blocks as fit on the GPU at once (no half-empty second
// wave); each block loops over partitions p = blockIdx.x, blockIdx.x + gridDim.x, ...
// IndexT is int32_t when N*C < 2^31 (fast row/column split with IntDivider), int64_t otherwise.
template <typename T, typename TT, typename IndexT>
__global__ void __launch_bounds__(kBlock) forward_generic(Args a, Outputs o, int64_t P, IntDivider div, int kernel_id, DeviceErrorSlot* slot) {
  using C = compute_t<T>;
  const Coefficients<C> k(a);
  const int64_t total = a.N * a.C;
  const C scale = (C)(o.grad ? grad_scale(a) : 1.0);
  TargetCheck chk;
  for (int64_t p = blockIdx.x; p < P; p += gridDim.x) {
    const IndexT begin = (IndexT)(total * p / P), end = (IndexT)(total * (p + 1) / P);
    double acc = 0;
    for (IndexT i = begin + threadIdx.x; i < end; i += kBlock) {
      IndexT n, c;
      if constexpr (sizeof(IndexT) == 4) {
        n = (IndexT)div.div((uint32_t)i);
        c = i - n * (IndexT)a.C;
      } else {
        n = i / a.C;
        c = i - n * a.C;
      }
      LossGrad<C> r = evaluate<T, TT>(a, k, n, c, chk);
      if (o.partials) acc += (double)r.loss;
      else store(reinterpret_cast<T*>(o.loss) + n * o.loss_s0 + c * o.loss_s1, r.loss);
      if (o.grad) store(reinterpret_cast<T*>(o.grad) + n * o.grad_s0 + c * o.grad_s1, r.grad * scale);
    }
    if (o.partials) {
      double sum = block_sum(acc);
      if (threadIdx.x == 0) o.partials[p] = sum;
    }
  }
  if (chk.bad) report(chk, kernel_id, slot, a);
}

// Vectorised path for contiguous logits and gradient with C % 4 == 0 and aligned rows: each
// thread handles chunks of 4 consecutive elements of one row (one 16-byte load for float32, 8
// bytes for the half types), two chunks per iteration with both loads issued before any math,
// through the read-only cache path (more bytes in flight per thread). The row's target is read
// once per chunk. Chunk indices are 32-bit: up to 2^33 elements.
template <typename T> struct alignas(4 * sizeof(T)) AlignedVec4 {
  T v[4];
};

template <typename T>
__device__ __forceinline__ AlignedVec4<T> load_vec4(const AlignedVec4<T>* p) {
  static_assert(sizeof(T) == 4 || sizeof(T) == 2, "vector path for 2- and 4-byte types");
  AlignedVec4<T> r;
  if constexpr (sizeof(T) == 4) *reinterpret_cast<int4*>(&r) = __ldg(reinterpret_cast<const int4*>(p));
  else *reinterpret_cast<uint2*>(&r) = __ldg(reinterpret_cast<const uint2*>(p));
  return r;
}

// Loss sum of chunk j (elements 4j..4j+3); writes the chunk's gradient when g4 is set.
// div_c4 divides by C / 4, so row n = j / (C / 4) without forming 4j (which may pass 2^32).
// kPlain (index targets, no weight tensors: the common case) calls the formula directly with the
// row's target checked once per chunk; otherwise each element goes through evaluate_in_row.
template <typename T, typename TT, typename PowG, bool kPlain>
__device__ __forceinline__ compute_t<T> chunk4(const Args& a, const Coefficients<compute_t<T>>& k, uint32_t j, const AlignedVec4<T>& xv, AlignedVec4<T>* g4,
                                               compute_t<T> scale, const IntDivider& div_c4, TargetCheck& chk) {
  using C = compute_t<T>;
  uint32_t n = div_c4.div(j);
  int c0 = (int)(4u * (j - n * div_c4.divisor));
  RowTarget row = row_target<TT>(a, n);
  AlignedVec4<T> gv;
  C sum4 = 0;
  if constexpr (kPlain) {
    if (row.invalid) {
      chk.bad = true;
      chk.value = (double)row.raw;
    }
    // an ignored (or invalid) row contributes nothing: weight 0 keeps the loop branch-free
    const C keep = (row.ignored || row.invalid) ? C(0) : C(1);
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      LossGrad<C> r = binary<C>(load(&xv.v[q]), row.cls == c0 + q, k.gamma, k.alpha_t, PowG());
      sum4 += keep * r.loss;
      store(&gv.v[q], keep * r.grad * scale);
    }
  } else {
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      LossGrad<C> r = evaluate_in_row<T, TT, C, PowG>(a, k, row, n, c0 + q, load(&xv.v[q]), chk);
      sum4 += r.loss;
      store(&gv.v[q], r.grad * scale);
    }
  }
  if (g4) g4[j] = gv;
  return sum4;
}

template <typename T, typename TT, typename PowG, bool kPlain>
__global__ void __launch_bounds__(kBlock) forward_vec4(Args a, Outputs o, int64_t P, IntDivider div_c4, int kernel_id, DeviceErrorSlot* slot) {
  using C = compute_t<T>;
  const Coefficients<C> k(a);
  const int64_t total4 = a.N * a.C / 4;
  const C scale = (C)(o.grad ? grad_scale(a) : 1.0);
  const AlignedVec4<T>* x4 = reinterpret_cast<const AlignedVec4<T>*>(a.x.data);
  AlignedVec4<T>* g4 = reinterpret_cast<AlignedVec4<T>*>(o.grad);
  TargetCheck chk;
  for (int64_t p = blockIdx.x; p < P; p += gridDim.x) {
    const uint32_t begin = (uint32_t)(total4 * p / P), end = (uint32_t)(total4 * (p + 1) / P);
    double acc = 0;
    uint32_t j = begin + threadIdx.x;
    for (; j + kBlock < end; j += 2 * kBlock) {
      AlignedVec4<T> xa = load_vec4(x4 + j), xb = load_vec4(x4 + j + kBlock);
      C pair = chunk4<T, TT, PowG, kPlain>(a, k, j, xa, g4, scale, div_c4, chk);
      pair += chunk4<T, TT, PowG, kPlain>(a, k, j + kBlock, xb, g4, scale, div_c4, chk);
      acc += (double)pair;
    }
    if (j < end) acc += (double)chunk4<T, TT, PowG, kPlain>(a, k, j, load_vec4(x4 + j), g4, scale, div_c4, chk);
    double sum = block_sum(acc);
    if (threadIdx.x == 0) o.partials[p] = sum;
  }
  if (chk.bad) report(chk, kernel_id, slot, a);
}

// Blocks of `kernel` that fit on the current GPU at once (cached per kernel; atomic, as worker
// threads may launch it at the same time).
template <typename K>
unsigned resident_blocks(K kernel) {
  static std::atomic<unsigned> cached{0};
  if (cached.load(std::memory_order_relaxed) == 0) {
    int device = 0, sms = 0, per_sm = 0;
    KILN_CUDA_CHECK(cudaGetDevice(&device), "sigmoid_focal_loss");
    KILN_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device), "sigmoid_focal_loss");
    KILN_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kBlock, 0), "sigmoid_focal_loss");
    cached.store((unsigned)std::max(1, sms * per_sm), std::memory_order_relaxed);
  }
  return cached.load(std::memory_order_relaxed);
}

template <typename K>
void launch_vec4_kernel(K kernel, int64_t P, cudaStream_t s, const Args& a, const Outputs& o, const IntDivider& div_c4, int id, DeviceErrorSlot* slot) {
  unsigned grid = (unsigned)std::min<int64_t>(P, resident_blocks(kernel));
  kernel<<<grid, kBlock, 0, s>>>(a, o, P, div_c4, id, slot);
}

// Launches the vector path; a no-op for 8-byte types (inside a template, `if constexpr` keeps
// forward_vec4<double> from being instantiated).
template <typename T, typename TT>
bool launch_vec4(bool vec, int64_t P, cudaStream_t s, const Args& a, const Outputs& o, int id, DeviceErrorSlot* slot) {
  if constexpr (sizeof(T) <= 4) {
    if (!vec) return false;
    // q^gamma fixed at compile time: the paper's gamma = 2 as q * q, any other through pow
    IntDivider div_c4((uint32_t)(a.C / 4));
    bool plain = std::is_integral<TT>::value && !a.has_weight && !a.has_class_weight;
    if (a.gamma == 2.0 && plain) launch_vec4_kernel(forward_vec4<T, TT, PowGamma2, true>, P, s, a, o, div_c4, id, slot);
    else if (a.gamma == 2.0) launch_vec4_kernel(forward_vec4<T, TT, PowGamma2, false>, P, s, a, o, div_c4, id, slot);
    else if (plain) launch_vec4_kernel(forward_vec4<T, TT, PowGammaRuntime, true>, P, s, a, o, div_c4, id, slot);
    else launch_vec4_kernel(forward_vec4<T, TT, PowGammaRuntime, false>, P, s, a, o, div_c4, id, slot);
    return true;
  } else {
    return false;
  }
}

void forward(KernelCall& call) {
  Args a = decode(call);
  bool reduce = call.attr(6) != 0, want_grad = call.attr(7) != 0;
  int64_t P = call.int_attr(8);
  int64_t total = a.N * a.C;
  if (total == 0) {
    if (reduce) KILN_CUDA_CHECK(cudaMemsetAsync(call.out(0).data, 0, P * sizeof(double), stream_of(call)), call.name);
    return;
  }
  Outputs o;
  TensorArg& out = call.out(0);
  if (reduce) o.partials = out.ptr<double>();
  else {
    o.loss = out.data;
    o.loss_s0 = out.strides[0];
    o.loss_s1 = out.strides[1];
  }
  if (want_grad) {
    TensorArg& g = call.out(1);
    o.grad = g.data;
    o.grad_s0 = g.strides[0];
    o.grad_s1 = g.strides[1];
  }
  bool fits32 = total < (1LL << 31);
  cudaStream_t s = stream_of(call);
  DeviceErrorSlot* slot = error_slot_of(call);
  KILN_DISPATCH_FOCAL(a, call.name, {
    constexpr size_t vec_bytes = 4 * sizeof(scalar_t);
    bool vec = reduce && total / 4 < (1LL << 31) && a.C % 4 == 0 && a.x.s1 == 1 && a.x.s0 == a.C && (uintptr_t)a.x.data % vec_bytes == 0 &&
               (!o.grad || (o.grad_s1 == 1 && o.grad_s0 == a.C && (uintptr_t)o.grad % vec_bytes == 0));
    if (launch_vec4<scalar_t, target_t>(vec, P, s, a, o, call.id, slot)) {
      KILN_CUDA_CHECK(cudaGetLastError(), call.name);
      return;
    }
    IntDivider div(fits32 ? (uint32_t)a.C : 1u);
    if (fits32) {
      unsigned grid = (unsigned)std::min<int64_t>(P, resident_blocks(forward_generic<scalar_t, target_t, int32_t>));
      forward_generic<scalar_t, target_t, int32_t><<<grid, kBlock, 0, s>>>(a, o, P, div, call.id, slot);
    } else {
      unsigned grid = (unsigned)std::min<int64_t>(P, resident_blocks(forward_generic<scalar_t, target_t, int64_t>));
      forward_generic<scalar_t, target_t, int64_t><<<grid, kBlock, 0, s>>>(a, o, P, div, call.id, slot);
    }
  });
  KILN_CUDA_CHECK(cudaGetLastError(), call.name);
}
KILN_KERNEL_WORDED("sigmoid_focal_loss", forward, "input, target, weight, classWeight", target_error_wording);

template <typename T, typename TT, typename IndexT>
__global__ void backward_kernel(Args a, Strided2D go, char* grad, int64_t g_s0, int64_t g_s1, IntDivider div, int kernel_id, DeviceErrorSlot* slot) {
  using C = compute_t<T>;
  const Coefficients<C> k(a);
  const IndexT total = (IndexT)(a.N * a.C);
  const C scale = (C)grad_scale(a);
  TargetCheck chk;
  for (IndexT i = blockIdx.x * (IndexT)kBlock + threadIdx.x; i < total; i += (IndexT)gridDim.x * kBlock) {
    IndexT n, c;
    if constexpr (sizeof(IndexT) == 4) {
      n = (IndexT)div.div((uint32_t)i);
      c = i - n * (IndexT)a.C;
    } else {
      n = i / a.C;
      c = i - n * a.C;
    }
    LossGrad<C> r = evaluate<T, TT>(a, k, n, c, chk);
    C g = load(reinterpret_cast<const T*>(go.data) + n * go.s0 + c * go.s1);
    store(reinterpret_cast<T*>(grad) + n * g_s0 + c * g_s1, r.grad * scale * g);
  }
  if (chk.bad) report(chk, kernel_id, slot, a);
}

void backward(KernelCall& call) {
  Args a = decode(call);
  Strided2D go = strided2d(call.in(call.n_inputs - 1));
  TensorArg& g = call.out(0);
  int64_t total = a.N * a.C;
  if (total == 0) return;
  bool fits32 = total < (1LL << 31);
  IntDivider div(fits32 ? (uint32_t)a.C : 1u);
  unsigned blocks = blocks_for(total, 4);
  cudaStream_t s = stream_of(call);
  KILN_DISPATCH_FOCAL(a, call.name, {
    if (fits32)
      backward_kernel<scalar_t, target_t, int32_t><<<blocks, kBlock, 0, s>>>(a, go, g.data, g.strides[0], g.strides[1], div, call.id, error_slot_of(call));
    else backward_kernel<scalar_t, target_t, int64_t><<<blocks, kBlock, 0, s>>>(a, go, g.data, g.strides[0], g.strides[1], div, call.id, error_slot_of(call));
  });
  KILN_CUDA_CHECK(cudaGetLastError(), call.name);
}
KILN_KERNEL_WORDED("sigmoid_focal_loss_backward", backward, "input, target, weight, classWeight", target_error_wording);

template <typename TT>
__global__ void count_kernel(const TT* t, int64_t stride, int64_t n, unsigned long long* out) {
  unsigned long long local = 0;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) local += t[i * stride] >= 0;
  for (int o = 16; o > 0; o >>= 1) local += __shfl_down_sync(0xffffffffu, local, o);
  if ((threadIdx.x & 31) == 0 && local) atomicAdd(out, local);   // integer atomics: exact in any order
}

void count(KernelCall& call) {
  const TensorArg& t = call.in(0);
  cudaStream_t s = stream_of(call);
  KILN_CUDA_CHECK(cudaMemsetAsync(call.out(0).data, 0, sizeof(int64_t), s), call.name);
  if (t.numel == 0) return;
  KILN_DISPATCH_INDEX(t.dtype, call.name, {
    count_kernel<scalar_t><<<blocks_for(t.numel, 8), kThreads, 0, s>>>(t.ptr<scalar_t>(), t.strides[0], t.numel, call.out(0).ptr<unsigned long long>());
  });
  KILN_CUDA_CHECK(cudaGetLastError(), call.name);
}
KILN_KERNEL("sigmoid_focal_loss_count", count);

template <typename T>
__global__ void finalize_kernel(const double* partials, int64_t stride, int64_t P, Args a, T* out) {
  // One block; each thread sums a fixed strided subset, then a fixed tree: deterministic.
  double acc = 0;
  for (int64_t i = threadIdx.x; i < P; i += kBlock) acc += partials[i * stride];
  double s = block_sum(acc);
  if (threadIdx.x == 0) store(out, s * grad_scale(a));
}

void finalize(KernelCall& call) {
  const TensorArg& partials = call.in(0);
  Args a;
  a.scale = call.attr(0);
  a.C = call.int_attr(1);
  if (a.scale != a.scale) a.count = call.in(1).ptr<const int64_t>();
  KILN_DISPATCH_FLOATING(call.out(0).dtype, call.name, {
    finalize_kernel<scalar_t><<<1, kBlock, 0, stream_of(call)>>>(partials.ptr<double>(), partials.strides[0], partials.numel, a, call.out(0).ptr<scalar_t>());
  });
  KILN_CUDA_CHECK(cudaGetLastError(), call.name);
}
KILN_KERNEL("sigmoid_focal_loss_finalize", finalize);

}  // namespace
}}  // namespace kiln::cuda
