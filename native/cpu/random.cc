// CPU random kernels: random_uniform, random_normal, random_int fill a contiguous output from the
// Philox4x32-10 stream of (seed, offset). The generator and the distributions are shared with the
// CUDA kernels (include/kiln/math/philox.h), so a seed gives the same values on both devices.
//
// Attributes: [seed_lo, seed_hi, offset, a, b] with (a, b) = (low, high) for random_uniform and
// random_int, (mean, std) for random_normal.
#include "parallel.h"
#include "kiln/math/philox.h"

namespace kiln { namespace cpu {
namespace {

using namespace kiln::rng;

template <typename T, typename Sampler>
void fill_random(KernelCall& c, const Sampler& s) {
  TensorArg& o = c.out(0);
  KILN_CHECK(o.is_contiguous(), Internal, c.name, "expected a contiguous output");
  const RandomKey key = random_key(c);
  const int64_t n = o.numel;
  T* out = o.ptr<T>();
  // Each Philox call is independent: any split of the calls across threads gives the same values.
  parallel_for(random_calls<Sampler>(n), kGrain / 8, [&](int64_t b, int64_t e) {
    for (int64_t call = b; call < e; ++call) fill_random_call<T>(s, key, call, out, n);
  });
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
}}  // namespace kiln::cpu
