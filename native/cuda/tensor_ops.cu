// The CUDA device's small whole-tensor operations (tensor_ops.h).
#include <algorithm>
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

// The bias of rows long enough for packs: row r (of `inner` contiguous elements, channel r %
// channels) reads its bias once, and the threads of the blocks along x add it to the row's packs of
// N with one vector load and store each; blocks along y stride over the rows. Where the per-element
// loop divided each element's index twice to find its channel, this is a memory-bound copy.
template <int N, typename T>
__global__ void add_row_bias_kernel(T* out, const T* bias, int64_t rows, int64_t packs_per_row, int64_t channels, int64_t bias_stride) {
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    const auto b = load(bias + (r % channels) * bias_stride);
    Pack<T, N>* row = reinterpret_cast<Pack<T, N>*>(out) + r * packs_per_row;
    for (int64_t p = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; p < packs_per_row; p += (int64_t)gridDim.x * blockDim.x) {
      Pack<T, N> v = row[p];
#pragma unroll
      for (int k = 0; k < N; ++k) store(&v.v[k], load(&v.v[k]) + b);
      row[p] = v;
    }
  }
}
constexpr int64_t kMinPacksPerRow = 32;   // a warp's worth: shorter rows take the per-element loop

// Adds by rows of packs (add_row_bias_kernel) when every row starts pack-aligned and is long
// enough; false: the caller's per-element loop.
template <typename T>
bool add_row_bias(const KernelCall& c, T* out, const T* bias, int64_t rows, int64_t inner, int64_t channels, int64_t bias_stride) {
  constexpr int N = pack_width<T, T>();
  if (inner % N != 0 || inner / N < kMinPacksPerRow || !pack_aligned<N, T>(out)) return false;
  const int64_t packs = inner / N;
  const dim3 grid((unsigned)((packs + kThreads - 1) / kThreads), (unsigned)std::min<int64_t>(rows, 65535));
  add_row_bias_kernel<N, T><<<grid, kThreads, 0, stream_of(c)>>>(out, bias, rows, packs, channels, bias_stride);
  KILN_CUDA_CHECK(cudaGetLastError(), c.name);
  return true;
}

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
    if (add_row_bias<scalar_t>(c, out.ptr<scalar_t>(), bias.ptr<scalar_t>(), outer * channels, inner, channels, bias.strides[0])) return;
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
