// CPU kernel of GradScaler's unscale (the formula and layout: non_finite_check.h): each gradient
// in turn, split across threads when large; each chunk keeps its own flag and the flag in memory
// is written once, after the loops.
#include <atomic>
#include "cpu/parallel.h"
#include "non_finite_check.h"

namespace kiln { namespace amp {
namespace {

struct Cpu {
  template <typename T> static void unscale(KernelCall& c, const GradList& L) {
    using C = compute_t<T>;
    const C inv_scale = (C)c.attr(0);
    std::atomic<bool> any(false);
    for (int i = 0; i < L.count; ++i) {
      T* g = (T*)L.grad[i];
      cpu::parallel_for(L.numel[i], cpu::kGrain, [&](int64_t b, int64_t e) {
        bool bad = false;
        for (int64_t j = b; j < e; ++j) store(g + j, unscale_element(load(g + j), inv_scale, bad));
        if (bad) any.store(true, std::memory_order_relaxed);
      });
    }
    if (any.load()) *L.found_inf = 1.0f;
  }
};

}  // namespace

KILN_KERNEL("amp_non_finite_check_and_unscale", non_finite_check_and_unscale<Cpu>);

}}  // namespace kiln::amp
