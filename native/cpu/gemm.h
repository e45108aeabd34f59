// The CPU's matrix product routine, shared by the 'bmm' kernel (matmul.cc) and the kernels that are
// matrix products inside (convolutions): C = A · B, or C += A · B with `accumulate`, for a problem
// read by mm::make_problem (any strides, broadcast batch dims). Floating dtypes run the packed,
// register-blocked GEMM of gemm_loops.h (products summed in float for float32 and the half types,
// in double for float64; C rounded once); integers sum in 64-bit two's complement.
#pragma once
#include "kiln/math/matmul.h"

namespace kiln { namespace cpu {

template <typename S>
void gemm(const mm::Problem& P, const S* A, const S* B, S* C, bool accumulate);

}}  // namespace kiln::cpu
