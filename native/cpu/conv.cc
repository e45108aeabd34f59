// CPU kernels of conv2d and its two backward passes (contract: include/kiln/math/conv.h): im2col /
// col2im and the CPU's matrix product, chunked over the batch (include/kiln/conv_im2col.h, the
// same algorithm as the CUDA fallback). These entry points and the Dev primitives below are all
// that ties the kernels to that algorithm: a faster CPU convolution can replace the inside.
#include <utility>
#include "allocator.h"
#include "gemm.h"
#include "kiln/conv_im2col.h"
#include "tensor_ops.h"

namespace kiln { namespace cpu {
namespace {

// The primitives conv_im2col.h asks for, on the CPU (scratch memory from the caching allocator).
template <typename S>
struct ConvDevice {
  const KernelCall& c;
  int precision;   // unused: the CPU computes float32 in float32

  struct Buffer {
    void* data = nullptr;
    size_t rounded = 0;
    Buffer() = default;
    explicit Buffer(size_t bytes) { data = allocate(bytes, &rounded); }
    Buffer(Buffer&& o) noexcept : data(std::exchange(o.data, nullptr)), rounded(o.rounded) {}
    Buffer& operator=(Buffer&& o) noexcept {
      std::swap(data, o.data);
      std::swap(rounded, o.rounded);
      return *this;
    }
    ~Buffer() { if (data) release(data, rounded); }
  };
  Buffer temp(size_t bytes) { return Buffer(bytes); }

  void im2col(const conv::Conv2dShape& s, const TensorArg& x, void* cols, bool batch_inner) {
    const auto g = conv::window_of<int64_t>(s, x.shape[0]);
    const auto xs = nn::strides_of<int64_t, 4>(x);
    const int64_t n = x.shape[0] * s.cols_per_image();
    if (batch_inner) for_each_element<int64_t>(c, n, nn::Im2colBatchInnerElement<S, int64_t>{g, xs, x.ptr<S>(), (S*)cols});
    else for_each_element<int64_t>(c, n, nn::Im2colElement<S, int64_t>{g, xs, x.ptr<S>(), (S*)cols});
  }
  void col2im(const conv::Conv2dShape& s, const void* cols, TensorArg& image) {
    const auto g = conv::window_of<int64_t>(s, image.shape[0]);
    const int64_t rows = s.C * s.kh * s.kw, L = s.L();
    const nn::Strides<int64_t, 3> cs{{rows * L, L, 1}};
    for_each_element<int64_t>(c, image.numel, nn::Col2imElement<S, int64_t>{g, cs, (const S*)cols, image.ptr<S>()});
  }
  void gemm(const mm::Problem& p, const void* a, const void* b, void* out, bool accumulate) {
    cpu::gemm<S>(p, (const S*)a, (const S*)b, (S*)out, accumulate);
  }
  void copy(const TensorArg& src, const TensorArg& dst) { copy_strided(src, dst); }
  void zero(const TensorArg& t) { fill_zero(t); }
  void add_bias(const TensorArg& out, const TensorArg& bias, int64_t outer, int64_t channels, int64_t inner) {
    add_channel_bias(c, out, bias, outer, channels, inner);
  }
};

// The CPU has no convolution library: every pass runs the im2col path.
bool conv_library(conv::ConvPass, KernelCall&, const conv::Conv2dShape&) { return false; }

#include "kiln/conv_entry_points.inc"

}  // namespace
}}  // namespace kiln::cpu
