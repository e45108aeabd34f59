// The CPU's loop over the elements of one contiguous output, for the one-element functors of the
// math headers (math/nn.h, math/bias.h): [0, n) split across threads in chunks of at least
// kGrain / F::kCost elements.
#pragma once
#include "kiln/kernel.h"
#include "parallel.h"

namespace kiln { namespace cpu {

template <typename I, typename F>
void for_each_element(const KernelCall&, int64_t n, const F& f) {
  parallel_for(n, kGrain / F::kCost, [&](int64_t b, int64_t e) {
    const F local = f;   // this thread's copy: the geometry stays in registers, not behind a pointer
    for (I i = b; i < e; ++i) local(i);
  });
}

}}  // namespace kiln::cpu

#include "element_rows.h"   // row-wise overloads for some functors
