// CPU kernels of conv2d and its two backward passes (contract: include/kiln/math/conv.h): products
// over operands packed straight from the image through the CPU GEMM's micro-kernels (conv_gemm.h,
// no column matrix is formed), and direct kernels where each group has one input channel and few
// outputs (depthwise: conv_direct.h). The entry points and their checks are shared with CUDA
// (include/kiln/conv_entry_points.inc).
#include <memory>
#include "conv_direct.h"
#include "conv_gemm.h"
#include "kiln/conv_im2col.h"   // conv::view, conv::flat_stride
#include "scratch.h"
#include "tensor_ops.h"

namespace kiln { namespace cpu { namespace {

// t itself when its dims [first, ndim) flatten into one stride, else a contiguous copy of it in
// `hold` (scratch memory from the caching allocator).
TensorArg flattened(const TensorArg& t, int first, std::unique_ptr<Scratch<char>>& hold) {
  if (conv::flat_stride(t, first) >= 0) return t;
  hold = std::make_unique<Scratch<char>>((size_t)t.numel * dtype_size(t.dtype));
  const TensorArg c = conv::view(hold->get(), t.dtype, {t.shape[0], t.shape[1], t.shape[2], t.shape[3]},
                                 {t.shape[1] * t.shape[2] * t.shape[3], t.shape[2] * t.shape[3], t.shape[3], 1});
  copy_strided(t, c);
  return c;
}

template <typename S>
void run_pass(conv::ConvPass pass, KernelCall& c, const conv::Conv2dShape& s) {
  std::unique_ptr<Scratch<char>> hold_w, hold_g;
  switch (pass) {
    case conv::ConvPass::Forward: {
      TensorArg& y = c.out(0);
      if (conv_direct::applies(s)) {
        conv_direct::forward<S>(s, c.in(0), c.in(1), y);
      } else {
        const TensorArg w = flattened(c.in(1), 1, hold_w);
        conv_gemm::forward<S>(s, c.in(0), w, conv::flat_stride(w, 1), y);
      }
      if (c.n_inputs == 3) add_channel_bias(c, y, c.in(2), s.N, s.O, s.L());
      return;
    }
    case conv::ConvPass::BackwardInput: {
      if (conv_direct::applies(s)) {
        conv_direct::backward_input<S>(s, c.in(0), c.in(1), c.out(0));
        return;
      }
      const TensorArg w = flattened(c.in(1), 1, hold_w);
      const TensorArg gy = flattened(c.in(0), 2, hold_g);
      conv_gemm::backward_input<S>(s, gy, conv::flat_stride(gy, 2), w, conv::flat_stride(w, 1), c.out(0));
      return;
    }
    case conv::ConvPass::BackwardWeight:
      if (conv_direct::applies(s)) conv_direct::backward_weight<S>(s, c.in(0), c.in(1), c.out(0));
      else conv_gemm::backward_weight<S>(s, c.in(0), c.in(1), c.out(0));
      return;
  }
}

void run_conv(conv::ConvPass pass, KernelCall& c, const conv::Conv2dShape& s) { KILN_DISPATCH_FLOATING(c.in(0).dtype, c.name, run_pass<scalar_t>(pass, c, s)); }

#include "kiln/conv_entry_points.inc"

}  // namespace
}}  // namespace kiln::cpu
