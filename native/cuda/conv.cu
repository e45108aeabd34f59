// CUDA kernels of conv2d and its two backward passes (contract: include/kiln/math/conv.h): through
// cuDNN where it is loaded and enabled (conv_cudnn.cc), else, or for a problem cuDNN declines,
// through im2col / col2im and the CUDA matrix product (gemm.h: cuBLASLt where present, else Kiln's
// kernel), chunked over the batch: include/kiln/conv_im2col.h.
#include "allocator.h"
#include "conv_cudnn.h"
#include "for_each_element.cuh"
#include "gemm.h"
#include "kiln/conv_im2col.h"
#include "runtime.h"
#include "tensor_ops.h"

namespace kiln { namespace cuda { namespace {

// The primitives conv_im2col.h asks for, on the GPU (scratch memory from the caching allocator).
template <typename S>
struct ConvDevice {
  KernelCall& c;
  int precision;
  using Buffer = DeviceBuffer;
  Buffer temp(size_t bytes) { return DeviceBuffer(c.device, bytes); }

  // Calls f with int32_t when the n elements written and x's offsets fit in 31 bits, else int64_t.
  template <typename F>
  void with_index(const TensorArg& x, int64_t n, const F& f) {
    const TensorArg* ops[1] = {&x};
    if (nn::index_fits_int32(ops, 1, n)) f(int32_t());
    else f(int64_t());
  }
  void im2col(const conv::Conv2dShape& s, const TensorArg& x, void* cols, bool batch_inner) {
    const int64_t n = x.shape[0] * s.cols_per_image();
    with_index(x, n, [&](auto index_type) {
      using I = decltype(index_type);
      const auto g = conv::window_of<I>(s, x.shape[0]);
      const auto xs = nn::strides_of<I, 4>(x);
      if (batch_inner) for_each_element<I>(c, n, nn::Im2colBatchInnerElement<S, I>{g, xs, x.ptr<S>(), (S*)cols});
      else for_each_element<I>(c, n, nn::Im2colElement<S, I>{g, xs, x.ptr<S>(), (S*)cols});
    });
  }
  void col2im(const conv::Conv2dShape& s, const void* cols, TensorArg& image) {
    const int64_t rows = s.C * s.kh * s.kw, L = s.L();
    with_index(image, image.shape[0] * rows * L, [&](auto index_type) {
      using I = decltype(index_type);
      const auto g = conv::window_of<I>(s, image.shape[0]);
      const nn::Strides<I, 3> cs{{(I)(rows * L), (I)L, 1}};
      for_each_element<I>(c, image.numel, nn::Col2imElement<S, I>{g, cs, (const S*)cols, image.ptr<S>()});
    });
  }
  void gemm(const mm::Problem& p, const void* a, const void* b, void* out, bool accumulate) {
    GemmCall g;
    g.call = &c;
    g.dtype = c.in(0).dtype;
    g.p = p;
    g.a = a;
    g.b = b;
    g.c = out;
    g.accumulate = accumulate;
    g.precision = precision;
    cuda::gemm(g);
  }
  void copy(const TensorArg& src, const TensorArg& dst) { copy_strided(c, src, dst); }
  void zero(const TensorArg& t) { fill_zero(c, t); }
  void add_bias(const TensorArg& out, const TensorArg& bias, int64_t outer, int64_t channels, int64_t inner) {
    add_channel_bias(c, out, bias, outer, channels, inner);
  }
};

// cuDNN where it is loaded, enabled and takes the problem; else the im2col path (counted).
bool conv_library(conv::ConvPass pass, KernelCall& c, const conv::Conv2dShape& s) {
  bool done = false;
  switch (pass) {
    case conv::ConvPass::Forward: done = cudnn_conv2d(c, s, c.in(0), c.in(1), c.n_inputs == 3 ? &c.in(2) : nullptr, c.out(0)); break;
    case conv::ConvPass::BackwardInput: done = cudnn_conv2d_backward_input(c, s, c.in(0), c.in(1), c.out(0)); break;
    case conv::ConvPass::BackwardWeight: done = cudnn_conv2d_backward_weight(c, s, c.in(0), c.in(1), c.out(0)); break;
  }
  if (!done) dense_counts().conv_im2col++;
  return done;
}

// The pass through cuDNN, else through conv_im2col.h.
void run_conv(conv::ConvPass pass, KernelCall& c, const conv::Conv2dShape& s) {
  if (conv_library(pass, c, s)) return;
  KILN_DISPATCH_FLOATING(c.in(0).dtype, c.name, {
    ConvDevice<scalar_t> dev{c, s.precision};
    conv::run_im2col(dev, pass, c, s);
  });
}

#include "kiln/conv_entry_points.inc"

}  // namespace
}}  // namespace kiln::cuda
