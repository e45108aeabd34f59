// The CPU kernels of the modulated deformable convolution: loops over the work items of
// deform_conv.h on Kiln's threads (KernelCall::parallel_for).
#include <cstring>
#include "deform_conv_args.h"

namespace dcn { namespace {

// Work items per thread below which a loop runs on one thread (each item costs K bilinear samples).
constexpr int64_t kGrain = 256;

// ANCHOR: im2col (quoted in docs/writing-an-extension.md)
void im2col_cpu(KernelCall& c) {
  const Im2colArgs a = im2col_args(c);
  const Geometry g = a.g;
  dispatch_float(a.input.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const View4<const T> input = view4<const T>(a.input), offset = view4<const T>(a.offset), mask = view4<const T>(a.mask);
    const View3<T> columns = view3<T>(a.columns);
    const int64_t per_image = g.channels * g.positions();
    c.parallel_for(g.batch * per_image, kGrain, [&](int64_t begin, int64_t end) {
      for (int64_t w = begin; w < end; ++w) {
        const int64_t n = w / per_image, rest = w % per_image;
        im2col_item(g, input, offset, mask, columns, n, rest / g.positions(), rest % g.positions());
      }
    });
  });
}
KILN_CPU_KERNEL_ARGS("deform_im2col", im2col_cpu, "input, offset, mask");
// ANCHOR_END: im2col

// The scatter into the input's gradient runs one (image, channel) plane per work item, so no two
// threads add into the same pixel.
void backward_input_cpu(KernelCall& c) {
  const BackwardInputArgs a = backward_input_args(c);
  const Geometry g = a.g;
  dispatch_float(a.grad_input.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const View3<const T> grad_columns = view3<const T>(a.grad_columns);
    const View4<const T> offset = view4<const T>(a.offset), mask = view4<const T>(a.mask);
    const View4<T> grad_input = view4<T>(a.grad_input);
    const int64_t plane = g.height * g.width;
    c.parallel_for(g.batch * g.channels, 1, [&](int64_t begin, int64_t end) {
      for (int64_t p = begin; p < end; ++p) {
        const int64_t n = p / g.channels, ch = p % g.channels;
        std::memset(&grad_input.at(n, ch, 0, 0), 0, sizeof(T) * plane);
        for (int64_t l = 0; l < g.positions(); ++l) backward_input_item(g, grad_columns, offset, mask, grad_input, n, ch, l, [](T* at, T v) { *at += v; });
      }
    });
  });
}
KILN_CPU_KERNEL_ARGS("deform_im2col_backward_input", backward_input_cpu, "grad_columns, offset, mask");

void backward_offset_mask_cpu(KernelCall& c) {
  const BackwardOffsetMaskArgs a = backward_offset_mask_args(c);
  const Geometry g = a.g;
  dispatch_float(a.input.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const View3<const T> grad_columns = view3<const T>(a.grad_columns);
    const View4<const T> input = view4<const T>(a.input), offset = view4<const T>(a.offset), mask = view4<const T>(a.mask);
    const View4<T> grad_offset = view4<T>(a.grad_offset), grad_mask = view4<T>(a.grad_mask);
    const int64_t per_image = g.groups * g.taps() * g.positions();
    c.parallel_for(g.batch * per_image, kGrain, [&](int64_t begin, int64_t end) {
      for (int64_t w = begin; w < end; ++w) {
        const int64_t n = w / per_image, rest = w % per_image, t = rest / g.positions();
        backward_offset_mask_item(g, grad_columns, input, offset, mask, grad_offset, grad_mask, n, t / g.taps(), t % g.taps(), rest % g.positions());
      }
    });
  });
}
KILN_CPU_KERNEL_ARGS("deform_im2col_backward_offset_mask", backward_offset_mask_cpu, "grad_columns, input, offset, mask");

}  // namespace
}  // namespace dcn
