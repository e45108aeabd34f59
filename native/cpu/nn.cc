// CPU kernels of the neural-network ops: im2col / col2im, max pooling, nearest upsampling. The
// index math and the argument checks are in include/kiln/math/nn.h and the entry points in
// include/kiln/nn_entry_points.inc (both shared with cuda/nn.cu); these are the loops over output
// elements, split across threads with parallel_for.
#include <algorithm>
#include <atomic>
#include <string>
#include <vector>
#include "kiln/math/nn.h"
#include "for_each_element.h"
#include "parallel.h"

namespace kiln { namespace cpu { namespace {

// The CPU always indexes in 64 bits.
template <typename F>
void with_index_type(const TensorArg* const* /*ops*/, int /*n*/, const F& f) {
  f(int64_t());
}

// max_pool2d_backward's scatter: grad_in = 0, then each grad_out element added at its window's
// argmax. A thread owns whole planes, so the scatter has no conflicts and sums in a fixed order. A
// position outside the plane is a ValueError, raised after the loop (nothing may throw inside the
// parallel region).
template <typename T, typename I>
void max_pool2d_backward_scatter(KernelCall& c) {
  const TensorArg& go = c.in(0);
  const TensorArg& ind = c.in(1);
  TensorArg& gi = c.out(0);
  const int64_t C = go.shape[1], OH = go.shape[2], OW = go.shape[3];
  const int64_t plane = gi.shape[2] * gi.shape[3];
  std::atomic<bool> bad{false};
  int64_t bad_value = 0;
  const T* g = go.ptr<T>();
  const int64_t* ix = ind.ptr<int64_t>();
  T* out = gi.ptr<T>();
  int64_t planes = go.shape[0] * C;
  int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(1, plane + OH * OW));
  parallel_for(planes, grain, [&](int64_t b, int64_t e) {
    for (int64_t p = b; p < e; ++p) {
      int64_t n = p / C, ch = p % C;
      T* op = out + p * plane;
      std::fill(op, op + plane, T(0));
      const T* gp = g + n * go.strides[0] + ch * go.strides[1];
      const int64_t* ip = ix + n * ind.strides[0] + ch * ind.strides[1];
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          int64_t pos = ip[oh * ind.strides[2] + ow * ind.strides[3]];
          if (pos < 0 || pos >= plane) {
            if (!bad.exchange(true)) bad_value = pos;
            continue;
          }
          op[pos] += gp[oh * go.strides[2] + ow * go.strides[3]];
        }
    }
  });
  KILN_CHECK_ARG(!bad.load(), Value, c.name, "indices", nn::plane_positions_expected(plane), std::to_string(bad_value));
}

#include "kiln/nn_entry_points.inc"

}  // namespace
}}  // namespace kiln::cpu
