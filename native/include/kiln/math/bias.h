// A per-channel bias added to a contiguous tensor, written once for both devices: the bias of
// 'linear' when cuBLASLt's epilogue does not apply (channels = the last dim, inner = 1) and of
// conv2d (channels = dim 1, inner = OH OW). out[i] += bias[channel(i)], channel(i) = (i / inner) %
// channels; half types are added in float and rounded once more.
#pragma once
#include "kiln/dtype.h"
#include "kiln/hd.h"

namespace kiln { namespace nn {

template <typename T, typename I>
struct AddChannelBiasElement {
  static constexpr int kCost = 1;
  T* out;
  const T* bias;
  I inner, channels, bias_stride;
  KILN_HD void operator()(I i) const { store(out + i, load(out + i) + load(bias + ((i / inner) % channels) * bias_stride)); }
};

}}  // namespace kiln::nn
