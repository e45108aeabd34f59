// CPU random kernels: random_uniform, random_normal, random_int fill a contiguous output from the
// Philox4x32-10 stream of (seed, offset). The generator and the distributions are shared with the
// CUDA kernels (include/kiln/math/philox.h), so a seed gives the same values on both devices.
//
// Attributes: [seed_lo, seed_hi, offset, a, b] with (a, b) = (low, high) for random_uniform and
// random_int, (mean, std) for random_normal.
#include "parallel.h"
#include "kiln/math/philox.h"

namespace kiln { namespace cpu { namespace {

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

#include "kiln/random_entry_points.inc"

}  // namespace
}}  // namespace kiln::cpu
