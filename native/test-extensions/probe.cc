// The probe extension's CPU kernels: one of each thing an extension kernel can do, for the tests of
// the extension API (packages/tensor/test/extensions.test.ts).
//   ext_probe_scale(input; out; s)        out = input * s, any float dtype, strided input
//   ext_probe_fail(input; kind)           fails with the error kind numbered `kind`, input as the argument
//   ext_probe_throw(; what)               throws: 0 a std::runtime_error, 1 std::bad_alloc, 2 an int
//   ext_probe_workspace(; out; n)         sums a workspace of n doubles it filled with 1 into out[0]
//   ext_probe_parallel(; out; bad)        out[i] = i from Kiln's thread pool; throws in the piece
//                                         holding index `bad` when bad >= 0
#include <stdexcept>
#include <string>
#include "kiln/extension.h"
#include "probe_math.h"

using kiln::ext::KernelCall;
using kiln::ext::TensorArg;

namespace {

// Element offset of the i-th element (row-major over the shape) of a strided view.
int64_t offset_of(const TensorArg& t, int64_t i) {
  int64_t off = 0;
  for (int d = t.ndim() - 1; d >= 0; --d) {
    off += (i % t.size(d)) * t.stride(d);
    i /= t.size(d);
  }
  return off;
}

void scale(KernelCall& c) {
  const TensorArg x = c.in(0), y = c.out(0);
  KILN_CHECK(x.numel() == y.numel() && y.is_contiguous(), Shape, c.name, "expected a contiguous output of the input's size");
  KILN_CHECK(x.dtype() == y.dtype(), DType, c.name, "input and output dtypes differ");
  const double s = c.attr(0);
  KILN_DISPATCH_FLOATING(x.dtype(), c.name, {
    const scalar_t* xp = x.ptr<scalar_t>();
    scalar_t* yp = y.ptr<scalar_t>();
    c.parallel_for(x.numel(), 4096, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) probe::scale(xp + offset_of(x, i), yp + i, s);
    });
  });
}
KILN_CPU_KERNEL_ARGS("ext_probe_scale", scale, "input");

void fail_kind(KernelCall& c) {
  const int kind = (int)c.int_attr(0);
  if (kind < 0 || kind > (int)kiln::ErrorKind::Internal) KILN_CHECK(false, Value, c.name, "kind out of range");
  // the argument is a fact (the error's `argument` in JS), the words are the probe's own
  kiln::fail(static_cast<kiln::ErrorKind>(kind), kiln::ErrorFacts{c.name, "input", "", ""},
             "argument 'input' failed the probe's check (kind " + std::to_string(kind) + ")");
}
KILN_CPU_KERNEL("ext_probe_fail", fail_kind);

void throw_something(KernelCall& c) {
  switch (c.int_attr(0)) {
    case 0: throw std::runtime_error("the probe threw");
    case 1: throw std::bad_alloc();
    default: throw 42;
  }
}
KILN_CPU_KERNEL("ext_probe_throw", throw_something);

void workspace_sum(KernelCall& c) {
  const TensorArg out = c.out(0);
  KILN_CHECK(out.dtype() == kiln::DType::Float64 && out.numel() == 1, DType, c.name, "expected one float64 output element");
  const int64_t n = c.int_attr(0);
  auto w = c.workspace<double>(n);
  double* p = w.get();
  for (int64_t i = 0; i < n; ++i) p[i] = 1.0;
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += p[i];
  *out.ptr<double>() = sum;
}
KILN_CPU_KERNEL("ext_probe_workspace", workspace_sum);

void parallel_iota(KernelCall& c) {
  const TensorArg out = c.out(0);
  KILN_CHECK(out.dtype() == kiln::DType::Float64 && out.is_contiguous(), DType, c.name, "expected a contiguous float64 output");
  const int64_t bad = c.int_attr(0);
  double* p = out.ptr<double>();
  c.parallel_for(out.numel(), 1024, [&](int64_t b, int64_t e) {
    if (bad >= b && bad < e) KILN_CHECK(false, Value, c.name, "index " + std::to_string(bad) + " failed in a piece on Kiln's threads");
    for (int64_t i = b; i < e; ++i) p[i] = (double)i;
  });
}
KILN_CPU_KERNEL("ext_probe_parallel", parallel_iota);

}  // namespace
