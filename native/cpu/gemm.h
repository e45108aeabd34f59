// The CPU's matrix product routine (cpu/matmul.cc), shared by the 'bmm' and 'linear' kernels and
// the convolution (cpu/conv.cc): C = A · B, or C += A · B with `accumulate`, for a problem read by
// mm::make_problem (any strides, batched). Products are summed in mm::Acc<S> and C is rounded once.
#pragma once
#include "kiln/math/matmul.h"

namespace kiln { namespace cpu {

template <typename S>
void gemm(const mm::Problem& P, const S* A, const S* B, S* C, bool accumulate);

}}  // namespace kiln::cpu
