// CUDA kernel of GradScaler's unscale (the formula and layout: non_finite_check.h): one grid over
// the concatenation of the launch's gradients, as the fused optimizers' multi-tensor launches. A
// thread that met a non-finite element writes 1 into found_inf (the same value from every such
// thread, so no atomics); nothing is read back here: the host reads the flag once per step.
#include "cuda/runtime.h"
#include "non_finite_check.h"

namespace kiln { namespace amp {
namespace {

template <typename T> struct Grads {
  int count;
  T* grad[kMaxTensors];
  int64_t end[kMaxTensors];   // exclusive end of gradient i in the concatenation
};

template <typename T>
__global__ void unscale_kernel(Grads<T> G, compute_t<T> inv_scale, float* found_inf) {
  const int64_t total = G.end[G.count - 1];
  bool bad = false;
  int k = 0;
  for (int64_t idx = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; idx < total; idx += (int64_t)gridDim.x * blockDim.x) {
    while (idx >= G.end[k]) ++k;   // a thread's index only grows: its gradient is found moving forward
    T* p = G.grad[k] + (idx - (k > 0 ? G.end[k - 1] : 0));
    store(p, unscale_element(load(p), inv_scale, bad));
  }
  if (bad) *found_inf = 1.0f;
}

struct Cuda {
  template <typename T> static void unscale(KernelCall& c, const GradList& L) {
    Grads<T> G{};
    G.count = L.count;
    int64_t at = 0;
    for (int i = 0; i < L.count; ++i) {
      G.grad[i] = (T*)L.grad[i];
      at += L.numel[i];
      G.end[i] = at;
    }
    if (at == 0) return;
    unscale_kernel<T><<<cuda::blocks_for(at, 4), cuda::kThreads, 0, cuda::stream_of(c)>>>(G, (compute_t<T>)c.attr(0), L.found_inf);
    KILN_CUDA_CHECK(cudaGetLastError(), c.name);
  }
};

}  // namespace

KILN_KERNEL("amp_non_finite_check_and_unscale", non_finite_check_and_unscale<Cuda>);

}}  // namespace kiln::amp
