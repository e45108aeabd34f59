// Registers a CUDA kernel for every op in include/kiln/math/elementwise_ops.h (the same formulas
// as the CPU's cpu/elementwise.cc).
#include <type_traits>
#include "elementwise.cuh"

namespace kiln { namespace cuda {

template <typename Fn> void unary_float(KernelCall& c) { KILN_DISPATCH_FLOATING(c.in(0).dtype, c.name, unary_launch<scalar_t, scalar_t>(c, Fn())); }
template <typename Fn> void unary_numeric(KernelCall& c) { KILN_DISPATCH_NUMERIC(c.in(0).dtype, c.name, unary_launch<scalar_t, scalar_t>(c, Fn())); }
template <typename Fn> void unary_pred(KernelCall& c) { KILN_DISPATCH_ALL(c.in(0).dtype, c.name, unary_launch<bool, scalar_t>(c, Fn())); }
template <typename Fn> void binary_float(KernelCall& c) { KILN_DISPATCH_FLOATING(c.in(0).dtype, c.name, binary_launch<scalar_t, scalar_t>(c, Fn())); }
template <typename Fn> void binary_numeric(KernelCall& c) { KILN_DISPATCH_NUMERIC(c.in(0).dtype, c.name, binary_launch<scalar_t, scalar_t>(c, Fn())); }
template <typename Fn> void binary_pred(KernelCall& c) { KILN_DISPATCH_ALL(c.in(0).dtype, c.name, binary_launch<bool, scalar_t>(c, Fn())); }

}}  // namespace kiln::cuda

#define KILN_UNARY_FLOAT(name, Fn) KILN_KERNEL(name, kiln::cuda::unary_float<Fn>);
#define KILN_UNARY_NUMERIC(name, Fn) KILN_KERNEL(name, kiln::cuda::unary_numeric<Fn>);
#define KILN_UNARY_PRED(name, Fn) KILN_KERNEL(name, kiln::cuda::unary_pred<Fn>);
#define KILN_BINARY_FLOAT(name, Fn) KILN_KERNEL(name, kiln::cuda::binary_float<Fn>);
#define KILN_BINARY_NUMERIC(name, Fn) KILN_KERNEL(name, kiln::cuda::binary_numeric<Fn>);
#define KILN_BINARY_PRED(name, Fn) KILN_KERNEL(name, kiln::cuda::binary_pred<Fn>);
#include "kiln/math/elementwise_ops.h"
