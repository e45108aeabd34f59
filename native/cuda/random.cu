// CUDA random kernels: random_uniform, random_normal, random_int, one thread per Philox call. The
// generator and the distributions are those of the CPU kernels (include/kiln/math/philox.h): a
// seed gives the same values on both devices. Attributes as in cpu/random.cc.
#include "runtime.h"
#include "kiln/math/philox.h"

namespace kiln { namespace cuda {
namespace {

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

void random_uniform_kernel(KernelCall& c) {
  const double low = c.attr(3), high = c.attr(4);
  KILN_CHECK(low < high, Value, c.name, "expected low < high, got [" + std::to_string(low) + ", " + std::to_string(high) + ")");
  KILN_DISPATCH_FLOATING(c.out(0).dtype, c.name, fill_random<scalar_t>(c, UniformSampler<scalar_t>{low, high}));
}
KILN_KERNEL("random_uniform", random_uniform_kernel);

void random_normal_kernel(KernelCall& c) {
  const double mean = c.attr(3), std = c.attr(4);
  KILN_CHECK(std >= 0, Value, c.name, "argument 'std' expected a value >= 0, got " + std::to_string(std));
  KILN_DISPATCH_FLOATING(c.out(0).dtype, c.name, fill_random<scalar_t>(c, NormalSampler<scalar_t>{mean, std}));
}
KILN_KERNEL("random_normal", random_normal_kernel);

void random_int_kernel(KernelCall& c) {
  const int64_t low = c.int_attr(3), high = c.int_attr(4);
  KILN_CHECK(low < high, Value, c.name, "expected low < high, got [" + std::to_string(low) + ", " + std::to_string(high) + ")");
  const uint64_t range = (uint64_t)high - (uint64_t)low;
  KILN_DISPATCH_ALL(c.out(0).dtype, c.name, fill_random<scalar_t>(c, IntSampler<scalar_t>{low, range}));
}
KILN_KERNEL("random_int", random_int_kernel);

}  // namespace
}}  // namespace kiln::cuda
