// Splits [0, n) across the CPU device's threads (OpenMP) when the work is large enough to pay for
// waking them; small tensors run inline so tiny ops stay cheap.
#pragma once
#include <cstdint>
#include <algorithm>
#ifdef _OPENMP
#include <omp.h>
#endif

namespace kiln { namespace cpu {

constexpr int64_t kGrain = 32768;   // elements below which one thread does the work

template <typename F>
void parallel_for(int64_t n, int64_t grain, const F& f) {
  if (n <= 0) return;
#ifdef _OPENMP
  int max_threads = omp_get_max_threads();
  if (n > grain && max_threads > 1) {
    int64_t chunks = std::min<int64_t>(max_threads, (n + grain - 1) / grain);
#pragma omp parallel num_threads((int)chunks)
    {
      int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
      int64_t per = (n + nt - 1) / nt;
      int64_t b = t * per, e = std::min(n, b + per);
      if (b < e) f(b, e);
    }
    return;
  }
#endif
  f(0, n);
}

}}  // namespace kiln::cpu
