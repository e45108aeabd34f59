// CPU kernels 'bmm' and 'linear' (contract and compute types: include/kiln/math/matmul.h): the CPU's
// matrix product routine (gemm.h) on the call's operands.
#include "gemm.h"
#include "tensor_ops.h"

namespace kiln { namespace cpu { namespace {

void bmm_kernel(KernelCall& c) {
  mm::Problem P = mm::make_problem(c);
  // every numeric dtype; bool is a DTypeError
  KILN_DISPATCH_NUMERIC(c.in(0).dtype, c.name, gemm<scalar_t>(P, c.in(0).ptr<scalar_t>(), c.in(1).ptr<scalar_t>(), c.out(0).ptr<scalar_t>(), false));
}
KILN_KERNEL("bmm", bmm_kernel);

// linear: the bmm product plus a bias [N] added to every row of the (contiguous) output C.
void linear_kernel(KernelCall& c) {
  KILN_CHECK((c.n_inputs == 2 || c.n_inputs == 3) && c.n_outputs == 1, Internal, c.name, "expected inputs A, B[, bias] and output C");
  TensorArg& C = c.out(0);
  mm::Problem P = mm::make_problem(c.in(0), c.in(1), C, c.name);
  KILN_CHECK(C.is_contiguous(), Internal, c.name, "the output must be contiguous");
  if (c.n_inputs == 3) mm::check_bias(c, c.in(2), P.N, C.dtype);
  KILN_DISPATCH_FLOATING(C.dtype, c.name, gemm<scalar_t>(P, c.in(0).ptr<scalar_t>(), c.in(1).ptr<scalar_t>(), C.ptr<scalar_t>(), false));
  if (c.n_inputs == 3 && C.numel > 0) add_channel_bias(c, C, c.in(2), C.numel / P.N, P.N, 1);
}
KILN_KERNEL("linear", linear_kernel);

}  // namespace
}}  // namespace kiln::cpu
