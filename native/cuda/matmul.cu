// CUDA kernels 'bmm' and 'linear' (contract and compute types: include/kiln/math/matmul.h; the
// CPU's are in cpu/matmul.cc): the product runs through gemm.h, on cuBLASLt where it is loaded and
// applies (float types; float32 with TF32 when the matmul precision allows it), else on Kiln's
// tiled kernel. linear adds its bias in cuBLASLt's epilogue, or after the product.
#include "gemm.h"
#include "runtime.h"

namespace kiln { namespace cuda { namespace {

void bmm_kernel(KernelCall& c) {
  GemmCall g;
  g.call = &c;
  g.p = mm::make_problem(c);
  g.dtype = c.in(0).dtype;
  g.a = c.in(0).data;
  g.b = c.in(1).data;
  g.c = c.out(0).data;
  g.precision = mm::precision_attr(c, 0);
  gemm(g);
}
KILN_KERNEL("bmm", bmm_kernel);

// inputs A, B[, bias [N]]; output C contiguous; attribute 0 the matmul precision.
void linear_kernel(KernelCall& c) {
  KILN_CHECK((c.n_inputs == 2 || c.n_inputs == 3) && c.n_outputs == 1, Internal, c.name, "expected inputs A, B[, bias] and output C");
  TensorArg& C = c.out(0);
  GemmCall g;
  g.call = &c;
  g.p = mm::make_problem(c.in(0), c.in(1), C, c.name);
  KILN_CHECK(C.is_contiguous(), Internal, c.name, "the output must be contiguous");
  KILN_CHECK(C.dtype == DType::Float32 || C.dtype == DType::Float64 || C.dtype == DType::Float16 || C.dtype == DType::BFloat16, DType, c.name,
             std::string("expected a floating dtype, got ") + dtype_name(C.dtype));
  if (c.n_inputs == 3) {
    mm::check_bias(c, c.in(2), g.p.N, C.dtype);
    g.bias = &c.in(2);
  }
  g.dtype = C.dtype;
  g.a = c.in(0).data;
  g.b = c.in(1).data;
  g.c = C.data;
  g.precision = mm::precision_attr(c, 0);
  if (C.numel > 0) gemm(g);
}
KILN_KERNEL("linear", linear_kernel);

}  // namespace
}}  // namespace kiln::cuda
