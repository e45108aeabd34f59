// CUDA kernels of the fused optimizer updates (the math: include/kiln/math/optimizer_step.h, the
// same as cpu/optimizer_step.cc; the layout: include/kiln/optimizer_args.h).
//
// Multi-tensor: one launch updates every parameter of the launch record (PyTorch's multi_tensor_apply
// in spirit). The parameters' elements are numbered one after another ([0, n_0), [n_0, n_0 + n_1),
// ...) and one grid walks that concatenation (for_each_element).
// The pointers and per-parameter scalars travel in the kernel's parameter block (about 1 KiB of
// the 4 KiB a launch may pass).
#include "kiln/optimizer_args.h"
#include "runtime.h"

namespace kiln { namespace cuda {
namespace {
using namespace kiln::optim;

// Device-side view of a ParamList with the per-parameter scalars.
template <typename T> struct Params {
  int count;
  T* out[kMaxTensors][kMaxState];
  const T* grad[kMaxTensors];
  int64_t end[kMaxTensors];             // exclusive end of parameter i in the concatenation
  compute_t<T> scalar[kMaxTensors][2];  // Adam: step size, sqrt(1 - beta2^t); SGD: first-step flag
};

template <typename T> Params<T> device_params(const ParamList& L) {
  Params<T> P{};
  P.count = L.count;
  int64_t at = 0;
  for (int i = 0; i < L.count; ++i) {
    for (int s = 0; s < kMaxState; ++s) P.out[i][s] = (T*)L.out[i][s];
    P.grad[i] = (const T*)L.grad[i];
    at += L.numel[i];
    P.end[i] = at;
  }
  return P;
}

// Calls f(k, j) for every element j of every parameter k of the launch: a grid-stride loop over the
// concatenation; a thread's index only grows, so its parameter is found by moving forward.
template <typename T, typename F>
__device__ void for_each_element(const Params<T>& P, F f) {
  const int64_t total = P.end[P.count - 1];
  int k = 0;
  for (int64_t idx = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; idx < total; idx += (int64_t)gridDim.x * blockDim.x) {
    while (idx >= P.end[k]) ++k;
    f(k, idx - (k > 0 ? P.end[k - 1] : 0));
  }
}

template <typename T>
__global__ void adam_kernel(Params<T> P, ops::AdamScalars<compute_t<T>> s) {
  using C = compute_t<T>;
  for_each_element(P, [&](int k, int64_t j) {
    T* p = P.out[k][0] + j;
    T* mom = P.out[k][1] + j;
    T* v = P.out[k][2] + j;
    T* vmax = s.amsgrad ? P.out[k][3] + j : nullptr;
    C pj = load(p), mj = load(mom), vj = load(v), xj = vmax ? load(vmax) : C(0);
    ops::adam_element(s, P.scalar[k][0], P.scalar[k][1], pj, load(P.grad[k] + j), mj, vj, xj);
    store(p, pj);
    store(mom, mj);
    store(v, vj);
    if (vmax) store(vmax, xj);
  });
}

template <typename T>
__global__ void sgd_kernel(Params<T> P, ops::SgdScalars<compute_t<T>> s) {
  using C = compute_t<T>;
  for_each_element(P, [&](int k, int64_t j) {
    const bool first = P.scalar[k][0] != C(0);
    T* p = P.out[k][0] + j;
    T* buf = s.has_momentum ? P.out[k][1] + j : nullptr;
    C pj = load(p), bj = buf && !first ? load(buf) : C(0);
    ops::sgd_element(s, first, pj, load(P.grad[k] + j), bj);
    store(p, pj);
    if (buf) store(buf, bj);
  });
}

// Launches `kernel` over the concatenation of the launch's parameters (nothing when it is empty).
template <typename T, typename K, typename S>
void launch_params(KernelCall& c, const Params<T>& P, K kernel, const S& scalars) {
  if (P.count == 0 || P.end[P.count - 1] == 0) return;
  kernel<<<blocks_for(P.end[P.count - 1], 4), kThreads, 0, stream_of(c)>>>(P, scalars);
  KILN_CUDA_CHECK(cudaGetLastError(), c.name);
}

// This device's launches: the per-parameter scalars into the kernel's parameter block, then one grid.
struct Cuda {
  template <typename T> static void adam(KernelCall& c, const ParamList& L) {
    using C = compute_t<T>;
    Params<T> P = device_params<T>(L);
    for (int i = 0; i < L.count; ++i) {
      P.scalar[i][0] = (C)c.attr(kAdamParamAttrs + 2 * i);
      P.scalar[i][1] = (C)c.attr(kAdamParamAttrs + 2 * i + 1);
    }
    launch_params(c, P, adam_kernel<T>, adam_scalars<C>(c));
  }
  template <typename T> static void sgd(KernelCall& c, const ParamList& L) {
    using C = compute_t<T>;
    Params<T> P = device_params<T>(L);
    for (int i = 0; i < L.count; ++i) P.scalar[i][0] = c.attr(kSgdParamAttrs + i) != 0 ? C(1) : C(0);
    launch_params(c, P, sgd_kernel<T>, sgd_scalars<C>(c));
  }
};

}  // namespace

KILN_KERNEL("adam_update", optim::adam_update<Cuda>);
KILN_KERNEL("sgd_update", optim::sgd_update<Cuda>);

}}  // namespace kiln::cuda
