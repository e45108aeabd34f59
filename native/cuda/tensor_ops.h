// Small whole-tensor operations the CUDA device's composite kernels (the convolutions, linear) run
// on their operands and scratch buffers, on the call's stream: a strided copy, zeros, a
// per-channel bias (math/bias.h). Host functions, callable from .cc files (tensor_ops.cu).
#pragma once
#include "kiln/kernel.h"

namespace kiln { namespace cuda {

// dst <- src, two views of one shape and dtype with any strides.
void copy_strided(const KernelCall& c, const TensorArg& src, const TensorArg& dst);
// t <- 0 (t contiguous).
void fill_zero(const KernelCall& c, const TensorArg& t);
// out[i] += bias[(i / inner) % channels] over a contiguous `out` of outer x channels x inner elements.
void add_channel_bias(const KernelCall& c, const TensorArg& out, const TensorArg& bias, int64_t outer, int64_t channels, int64_t inner);

}}  // namespace kiln::cuda
