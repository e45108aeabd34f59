// CUDA random kernels: random_uniform, random_normal, random_int, one thread per Philox call. The
// generator and the distributions are those of the CPU kernels (include/kiln/math/philox.h): a
// seed gives the same values on both devices. Attributes as in cpu/random.cc.
#include "runtime.h"
#include "kiln/math/philox.h"

namespace kiln { namespace cuda { namespace {

using namespace kiln::rng;

template <typename T, typename Sampler>
__global__ void random_kernel(Sampler s, RandomKey key, T* out, int64_t n, int64_t calls) {
  for (int64_t call = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; call < calls; call += (int64_t)gridDim.x * blockDim.x)
    fill_random_call<T>(s, key, call, out, n);
}

template <typename T, typename Sampler>
void fill_random(KernelCall& c, const Sampler& s) {
  TensorArg& o = c.out(0);
  KILN_CHECK(o.is_contiguous(), Internal, c.name, "expected a contiguous output");
  if (o.numel == 0) return;
  const int64_t calls = random_calls<Sampler>(o.numel);
  random_kernel<T, Sampler><<<blocks_for(calls), kThreads, 0, stream_of(c)>>>(s, random_key(c), o.ptr<T>(), o.numel, calls);
  KILN_CUDA_CHECK(cudaGetLastError(), c.name);
}

#include "kiln/random_entry_points.inc"

}  // namespace
}}  // namespace kiln::cuda
