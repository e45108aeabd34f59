// Small whole-tensor operations the CPU's composite kernels (cpu/conv.cc, cpu/matmul.cc's linear)
// run on their operands and scratch buffers: a strided copy, zeros, a per-channel bias.
#pragma once
#include <cstring>
#include "elementwise.h"
#include "for_each_element.h"
#include "kiln/math/bias.h"

namespace kiln { namespace cpu {

// dst <- src, two views of one shape and dtype with any strides.
inline void copy_strided(const TensorArg& src, const TensorArg& dst) {
  const TensorArg* ops[2] = {&dst, &src};
  Layout<2> L = make_layout<2>(ops);
  auto run = [&](auto element) {
    using E = decltype(element);
    parallel_for(L.numel, kGrain, [&](int64_t b, int64_t e) { strided_range<2>(L, b, e, [&](char** p) { *(E*)p[0] = *(const E*)p[1]; }); });
  };
  switch (dtype_size(dst.dtype)) {
    case 1: run(uint8_t()); break;
    case 2: run(uint16_t()); break;
    case 4: run(uint32_t()); break;
    default: run(uint64_t()); break;
  }
}

// t <- 0 (t contiguous).
inline void fill_zero(const TensorArg& t) { std::memset(t.data, 0, (size_t)t.numel * dtype_size(t.dtype)); }

// out[i] += bias[(i / inner) % channels] over a contiguous `out` of outer x channels x inner elements.
inline void add_channel_bias(const KernelCall& c, const TensorArg& out, const TensorArg& bias, int64_t outer, int64_t channels, int64_t inner) {
  KILN_DISPATCH_FLOATING(out.dtype, c.name, {
    nn::AddChannelBiasElement<scalar_t, int64_t> f{out.ptr<scalar_t>(), bias.ptr<scalar_t>(), inner, channels, bias.strides[0]};
    for_each_element<int64_t>(c, outer * channels * inner, f);
  });
}

}}  // namespace kiln::cpu
