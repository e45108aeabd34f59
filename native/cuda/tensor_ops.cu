// The CUDA device's small whole-tensor operations (tensor_ops.h).
#include "elementwise.cuh"
#include "for_each_element.cuh"
#include "kiln/math/bias.h"
#include "tensor_ops.h"

namespace kiln { namespace cuda {
namespace {

struct Identity {
  template <typename T> __device__ T operator()(T x) const { return x; }
};

// The raw element of each size: a copy between views of one dtype needs no conversion.
template <int Bytes> struct Raw;
template <> struct Raw<2> {
  using type = uint16_t;
};
template <> struct Raw<4> {
  using type = int32_t;
};
template <> struct Raw<8> {
  using type = int64_t;
};

}  // namespace

void copy_strided(const KernelCall& c, const TensorArg& src, const TensorArg& dst) {
  KernelCall copy;
  copy.name = c.name;
  copy.id = c.id;
  copy.device = c.device;
  copy.stream = c.stream;
  copy.n_inputs = 1;
  copy.n_outputs = 1;
  copy.n_attrs = 0;
  copy.inputs[0] = src;
  copy.outputs[0] = dst;
  switch (dtype_size(dst.dtype)) {
    case 2: unary_launch<Raw<2>::type, Raw<2>::type>(copy, Identity()); break;
    case 4: unary_launch<Raw<4>::type, Raw<4>::type>(copy, Identity()); break;
    case 8: unary_launch<Raw<8>::type, Raw<8>::type>(copy, Identity()); break;
    default: fail(ErrorKind::Internal, c.name, "copy_strided: unsupported element size");
  }
}

void fill_zero(const KernelCall& c, const TensorArg& t) {
  KILN_CUDA_CHECK(cudaMemsetAsync(t.data, 0, (size_t)t.numel * dtype_size(t.dtype), stream_of(c)), c.name);
}

void add_channel_bias(const KernelCall& c, const TensorArg& out, const TensorArg& bias, int64_t outer, int64_t channels, int64_t inner) {
  const int64_t n = outer * channels * inner;
  KILN_DISPATCH_FLOATING(out.dtype, c.name, {
    const int64_t reach = (channels - 1) * (bias.strides[0] < 0 ? -bias.strides[0] : bias.strides[0]);
    if (n < (int64_t(1) << 31) && reach < (int64_t(1) << 31)) {
      nn::AddChannelBiasElement<scalar_t, int32_t> f{out.ptr<scalar_t>(), bias.ptr<scalar_t>(), (int32_t)inner, (int32_t)channels, (int32_t)bias.strides[0]};
      for_each_element<int32_t>(c, n, f);
    } else {
      nn::AddChannelBiasElement<scalar_t, int64_t> f{out.ptr<scalar_t>(), bias.ptr<scalar_t>(), inner, channels, bias.strides[0]};
      for_each_element<int64_t>(c, n, f);
    }
  });
}

}}  // namespace kiln::cuda
