// CUDA kernels of the sigmoid focal loss: the same four kernels as cpu/focal_loss.cc, calling the
// same math (include/kiln/math/focal_loss.h) through the same element evaluation
// (include/kiln/focal_loss_args.h).
//
// The loss is memory-bound: forward reads the logits (and targets) once and, when the input needs
// a gradient, writes the gradient in the same pass (scaled by 1/divisor, as if the upstream
// gradient were 1: backward then returns it untouched for `loss.backward()`). The mean/sum is
// reduced in the same kernel: each block writes one float64 partial sum, and a one-block kernel
// adds the partials in a fixed order (deterministic, no float atomics).
#include "kiln/focal_loss_args.h"
#include "kiln/int_divider.h"
#include "runtime.h"

namespace kiln { namespace cuda {
namespace {
using namespace kiln::focal;

constexpr int kBlock = 256;

__device__ void report(const TargetCheck& chk, int kernel_id, DeviceErrorSlot* slot, const Args& a) {
  if (a.kind == kFloat) report_value_error(slot, kernel_id, 1, chk.value, 0.0, 1.0);
  else report_index_error(slot, kernel_id, 1, (long long)chk.value, -1, a.C);
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

// One block per partial: block p covers flat elements [total*p/P, total*(p+1)/P).
// IndexT is int32_t when N*C < 2^31 (fast row/column split with IntDivider), int64_t otherwise.
template <typename T, typename TT, typename IndexT>
__global__ void __launch_bounds__(kBlock) forward_generic(Args a, Outputs o, int64_t P, IntDivider div, int kernel_id, DeviceErrorSlot* slot) {
  using C = compute_t<T>;
  const int64_t total = a.N * a.C;
  const int64_t p = blockIdx.x;
  const IndexT begin = (IndexT)(total * p / P), end = (IndexT)(total * (p + 1) / P);
  const double scale = o.grad ? grad_scale(a) : 1.0;
  double acc = 0;
  TargetCheck chk;
  for (IndexT i = begin + threadIdx.x; i < end; i += kBlock) {
    IndexT n, c;
    if constexpr (sizeof(IndexT) == 4) { n = (IndexT)div.div((uint32_t)i); c = i - n * (IndexT)a.C; }
    else { n = i / a.C; c = i - n * a.C; }
    LossGrad<C> r = evaluate<T, TT>(a, n, c, chk);
    if (o.partials) acc += (double)r.loss;
    else store(reinterpret_cast<T*>(o.loss) + n * o.loss_s0 + c * o.loss_s1, r.loss);
    if (o.grad) store(reinterpret_cast<T*>(o.grad) + n * o.grad_s0 + c * o.grad_s1, (C)(r.grad * scale));
  }
  if (chk.bad) report(chk, kernel_id, slot, a);
  if (o.partials) {
    double s = block_sum(acc);
    if (threadIdx.x == 0) o.partials[p] = s;
  }
}

// Vectorised path for contiguous logits and gradient with C % 4 == 0 and aligned rows: each
// thread handles 4 consecutive elements of one row (one 16-byte load for float32, 8 bytes for the
// half types), two such chunks per iteration with both loads issued before any math, through the
// read-only cache path (more bytes in flight per thread).
template <typename T> struct alignas(4 * sizeof(T)) AlignedVec4 { T v[4]; };

template <typename T>
__device__ __forceinline__ AlignedVec4<T> load_vec4(const AlignedVec4<T>* p) {
  static_assert(sizeof(T) == 4 || sizeof(T) == 2, "vector path for 2- and 4-byte types");
  AlignedVec4<T> r;
  if constexpr (sizeof(T) == 4) *reinterpret_cast<int4*>(&r) = __ldg(reinterpret_cast<const int4*>(p));
  else *reinterpret_cast<uint2*>(&r) = __ldg(reinterpret_cast<const uint2*>(p));
  return r;
}

template <typename T, typename TT>
__device__ __forceinline__ double chunk4(const Args& a, uint32_t j, const AlignedVec4<T>& xv, AlignedVec4<T>* g4, double scale,
                                         const IntDivider& div, TargetCheck& chk) {
  using C = compute_t<T>;
  uint32_t n = div.div(j * 4u);            // div divides by C
  uint32_t c0 = j * 4u - n * (uint32_t)a.C;
  AlignedVec4<T> gv;
  C sum4 = 0;
#pragma unroll
  for (int k = 0; k < 4; ++k) {
    LossGrad<C> r = evaluate_at<T, TT>(a, n, c0 + k, load(&xv.v[k]), chk);
    sum4 += r.loss;
    store(&gv.v[k], (C)(r.grad * scale));
  }
  if (g4) g4[j] = gv;
  return (double)sum4;
}

template <typename T, typename TT>
__global__ void __launch_bounds__(kBlock) forward_vec4(Args a, Outputs o, int64_t P, IntDivider div, int kernel_id, DeviceErrorSlot* slot) {
  const int64_t total4 = a.N * a.C / 4;
  const int64_t p = blockIdx.x;
  const uint32_t begin = (uint32_t)(total4 * p / P), end = (uint32_t)(total4 * (p + 1) / P);
  const double scale = o.grad ? grad_scale(a) : 1.0;
  const AlignedVec4<T>* x4 = reinterpret_cast<const AlignedVec4<T>*>(a.x.data);
  AlignedVec4<T>* g4 = reinterpret_cast<AlignedVec4<T>*>(o.grad);
  double acc = 0;
  TargetCheck chk;
  uint32_t j = begin + threadIdx.x;
  for (; j + kBlock < end; j += 2 * kBlock) {
    AlignedVec4<T> xa = load_vec4(x4 + j), xb = load_vec4(x4 + j + kBlock);
    acc += chunk4<T, TT>(a, j, xa, g4, scale, div, chk);
    acc += chunk4<T, TT>(a, j + kBlock, xb, g4, scale, div, chk);
  }
  if (j < end) acc += chunk4<T, TT>(a, j, load_vec4(x4 + j), g4, scale, div, chk);
  if (chk.bad) report(chk, kernel_id, slot, a);
  double s = block_sum(acc);
  if (threadIdx.x == 0) o.partials[p] = s;
}

// Launches the vector path; a no-op for 8-byte types (inside a template, `if constexpr` keeps
// forward_vec4<double> from being instantiated).
template <typename T, typename TT>
bool launch_vec4(bool vec, unsigned P, cudaStream_t s, const Args& a, const Outputs& o, const IntDivider& div, int id, DeviceErrorSlot* slot) {
  if constexpr (sizeof(T) <= 4) {
    if (vec) forward_vec4<T, TT><<<P, kBlock, 0, s>>>(a, o, (int64_t)P, div, id, slot);
    return vec;
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
  else { o.loss = out.data; o.loss_s0 = out.strides[0]; o.loss_s1 = out.strides[1]; }
  if (want_grad) { TensorArg& g = call.out(1); o.grad = g.data; o.grad_s0 = g.strides[0]; o.grad_s1 = g.strides[1]; }
  bool fits32 = total < (1LL << 31);
  IntDivider div(fits32 ? (uint32_t)a.C : 1u);
  cudaStream_t s = stream_of(call);
  DeviceErrorSlot* slot = error_slot_of(call);
  KILN_DISPATCH_FOCAL(a, call.name, {
    constexpr size_t vec_bytes = 4 * sizeof(scalar_t);
    constexpr bool vec_type = sizeof(scalar_t) <= 4;
    bool vec = vec_type && reduce && fits32 && a.C % 4 == 0 && a.x.s1 == 1 && a.x.s0 == a.C &&
               (uintptr_t)a.x.data % vec_bytes == 0 &&
               (!o.grad || (o.grad_s1 == 1 && o.grad_s0 == a.C && (uintptr_t)o.grad % vec_bytes == 0));
    if (launch_vec4<scalar_t, target_t>(vec, (unsigned)P, s, a, o, div, call.id, slot)) {
      KILN_CUDA_CHECK(cudaGetLastError(), call.name);
      return;
    }
    if (fits32) forward_generic<scalar_t, target_t, int32_t><<<(unsigned)P, kBlock, 0, s>>>(a, o, P, div, call.id, slot);
    else forward_generic<scalar_t, target_t, int64_t><<<(unsigned)P, kBlock, 0, s>>>(a, o, P, div, call.id, slot);
  });
  KILN_CUDA_CHECK(cudaGetLastError(), call.name);
}
KILN_KERNEL("sigmoid_focal_loss", forward);

template <typename T, typename TT, typename IndexT>
__global__ void backward_kernel(Args a, Strided2D go, char* grad, int64_t g_s0, int64_t g_s1, IntDivider div, int kernel_id, DeviceErrorSlot* slot) {
  using C = compute_t<T>;
  const IndexT total = (IndexT)(a.N * a.C);
  const double scale = grad_scale(a);
  TargetCheck chk;
  for (IndexT i = blockIdx.x * (IndexT)kBlock + threadIdx.x; i < total; i += (IndexT)gridDim.x * kBlock) {
    IndexT n, c;
    if constexpr (sizeof(IndexT) == 4) { n = (IndexT)div.div((uint32_t)i); c = i - n * (IndexT)a.C; }
    else { n = i / a.C; c = i - n * a.C; }
    LossGrad<C> r = evaluate<T, TT>(a, n, c, chk);
    C g = load(reinterpret_cast<const T*>(go.data) + n * go.s0 + c * go.s1);
    store(reinterpret_cast<T*>(grad) + n * g_s0 + c * g_s1, (C)(r.grad * scale) * g);
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
    if (fits32) backward_kernel<scalar_t, target_t, int32_t><<<blocks, kBlock, 0, s>>>(a, go, g.data, g.strides[0], g.strides[1], div, call.id, error_slot_of(call));
    else backward_kernel<scalar_t, target_t, int64_t><<<blocks, kBlock, 0, s>>>(a, go, g.data, g.strides[0], g.strides[1], div, call.id, error_slot_of(call));
  });
  KILN_CUDA_CHECK(cudaGetLastError(), call.name);
}
KILN_KERNEL("sigmoid_focal_loss_backward", backward);

template <typename TT>
__global__ void count_kernel(const TT* t, int64_t stride, int64_t n, unsigned long long* out) {
  unsigned long long local = 0;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    local += t[i * stride] >= 0;
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
