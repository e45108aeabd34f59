// CPU kernels of the neural-network ops: im2col / col2im, max pooling, nearest upsampling. The
// index math and the argument checks are in include/kiln/math/nn.h (shared with cuda/nn.cu);
// these are the loops over output elements, split across threads with parallel_for. Outputs are
// allocated contiguous by TypeScript; inputs may be strided.
#include <algorithm>
#include <atomic>
#include <string>
#include <vector>
#include "kiln/math/nn.h"
#include "parallel.h"

namespace kiln { namespace cpu {
namespace {

using I = int64_t;   // the CPU always indexes in 64 bits

// Calls f(i) (one of nn.h's *Element functors) for every output element i in [0, n), split across
// threads in chunks of at least kGrain / F::kCost elements.
template <typename F>
void for_each_element(int64_t n, const F& f) {
  parallel_for(n, kGrain / F::kCost, [&](int64_t b, int64_t e) {
    const F local = f;   // this thread's copy: the geometry stays in registers, not behind a pointer
    for (I i = b; i < e; ++i) local(i);
  });
}

// im2col: x [N, C, H, W] -> cols [N, C kh kw, OH OW]; attrs [kh, kw, sh, sw, ph, pw, dh, dw].
void im2col_kernel(KernelCall& c) {
  const TensorArg& x = c.in(0);
  TensorArg& o = c.out(0);
  nn::check_contiguous_out(c, o);
  auto g = nn::conv_window<I>(c, x, o);
  auto xs = nn::strides_of<I, 4>(x);
  KILN_DISPATCH_FLOATING(x.dtype, c.name, for_each_element(o.numel, nn::Im2colElement<scalar_t, I>{g, xs, x.ptr<scalar_t>(), o.ptr<scalar_t>()}));
}
KILN_KERNEL("im2col", im2col_kernel);

// col2im: cols [N, C kh kw, OH OW] -> image [N, C, H, W], summing overlapping windows.
void col2im_kernel(KernelCall& c) {
  const TensorArg& cols = c.in(0);
  TensorArg& o = c.out(0);
  nn::check_contiguous_out(c, o);
  auto g = nn::conv_window<I>(c, o, cols);
  auto cs = nn::strides_of<I, 3>(cols);
  KILN_DISPATCH_FLOATING(cols.dtype, c.name, for_each_element(o.numel, nn::Col2imElement<scalar_t, I>{g, cs, cols.ptr<scalar_t>(), o.ptr<scalar_t>()}));
}
KILN_KERNEL("col2im", col2im_kernel);

// max_pool2d: x [N, C, H, W] -> values [N, C, OH, OW], indices (int64, h W + w in the plane);
// attrs [kh, kw, sh, sw, ph, pw, dh, dw, ceil_mode].
void max_pool2d_kernel(KernelCall& c) {
  const TensorArg& x = c.in(0);
  TensorArg& vals = c.out(0);
  TensorArg& idxs = c.out(1);
  auto g = nn::pool_window<I>(c, x, vals, idxs);
  auto xs = nn::strides_of<I, 4>(x);
  KILN_DISPATCH_FLOATING(x.dtype, c.name, for_each_element(vals.numel, nn::MaxPool2dElement<scalar_t, I>{g, xs, x.ptr<scalar_t>(), vals.ptr<scalar_t>(), idxs.ptr<int64_t>()}));
}
KILN_KERNEL("max_pool2d", max_pool2d_kernel);

// max_pool2d_backward: grad_out [N, C, OH, OW], indices (int64, same shape) -> grad_in
// [N, C, H, W], each gradient added at its window's argmax. A thread owns whole planes, so the
// scatter has no conflicts and sums in a fixed order. A position outside the plane is a
// ValueError, raised after the loop (nothing may throw inside the parallel region).
void max_pool2d_backward_kernel(KernelCall& c) {
  const TensorArg& go = c.in(0);
  const TensorArg& ind = c.in(1);
  TensorArg& gi = c.out(0);
  nn::check_max_pool_backward(c, go, ind, gi);
  const int64_t C = go.shape[1], OH = go.shape[2], OW = go.shape[3];
  const int64_t plane = gi.shape[2] * gi.shape[3];
  std::atomic<bool> bad{false};
  int64_t bad_value = 0;
  auto run = [&](auto zero) {
    using T = decltype(zero);   // float or double (check_max_pool_backward allows only those)
    const T* g = go.ptr<T>();
    const int64_t* ix = ind.ptr<int64_t>();
    T* out = gi.ptr<T>();
    int64_t planes = go.shape[0] * C;
    int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(1, plane + OH * OW));
    parallel_for(planes, grain, [&](int64_t b, int64_t e) {
      for (int64_t p = b; p < e; ++p) {
        int64_t n = p / C, ch = p % C;
        T* op = out + p * plane;
        std::fill(op, op + plane, zero);
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
  };
  if (go.dtype == DType::Float32) run(0.0f);
  else run(0.0);
  KILN_CHECK(!bad.load(), Value, c.name,
             "argument 'indices' expected positions in [0, " + std::to_string(plane) + ") of the input plane, got " + std::to_string(bad_value));
}
KILN_KERNEL("max_pool2d_backward", max_pool2d_backward_kernel);

// upsample_nearest2d: x [N, C, H, W] -> [N, C, OH, OW]; attrs [scale_factor_h, scale_factor_w]
// (0: none given, the scale is H / OH).
void upsample_nearest2d_kernel(KernelCall& c) {
  const TensorArg& x = c.in(0);
  TensorArg& o = c.out(0);
  nn::check_contiguous_out(c, o);
  auto g = nn::upsample_window<I>(c, x, o);
  auto xs = nn::strides_of<I, 4>(x);
  KILN_DISPATCH_FLOATING(x.dtype, c.name, for_each_element(o.numel, nn::UpsampleNearest2dElement<scalar_t, I>{g, xs, x.ptr<scalar_t>(), o.ptr<scalar_t>()}));
}
KILN_KERNEL("upsample_nearest2d", upsample_nearest2d_kernel);

// upsample_nearest2d_backward: grad_out [N, C, OH, OW] -> grad_in [N, C, H, W]; attrs as forward.
void upsample_nearest2d_backward_kernel(KernelCall& c) {
  const TensorArg& go = c.in(0);
  TensorArg& gi = c.out(0);
  nn::check_contiguous_out(c, gi);
  auto g = nn::upsample_window<I>(c, gi, go);
  auto gs = nn::strides_of<I, 4>(go);
  KILN_DISPATCH_FLOATING(go.dtype, c.name,
                         for_each_element(gi.numel, nn::UpsampleNearest2dBackwardElement<scalar_t, I>{g, gs, go.ptr<scalar_t>(), gi.ptr<scalar_t>()}));
}
KILN_KERNEL("upsample_nearest2d_backward", upsample_nearest2d_backward_kernel);

}  // namespace
}}  // namespace kiln::cpu
