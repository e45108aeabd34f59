// The formulas of Kiln's elementwise ops, each written once for both devices.
//
// This file is an op definition list, not an ordinary header: each device's elementwise
// translation unit (cpu/elementwise.cc, cuda/elementwise.cu) defines the KILN_* macros below to
// register a kernel for every op, then includes it. To add an elementwise op, add its functor
// and one macro line here; its TypeScript declaration goes in packages/tensor/src/ops/.
//
//   KILN_UNARY_FLOAT(name, Fn)    float dtypes (half types compute in float), out dtype = in dtype
//   KILN_UNARY_NUMERIC(name, Fn)  every dtype but bool
//   KILN_UNARY_PRED(name, Fn)     any dtype in, bool out
//   KILN_BINARY_FLOAT / KILN_BINARY_NUMERIC / KILN_BINARY_PRED   likewise with two operands
#include "kiln/math/division.h"
#include "kiln/math/scalar.h"
#include "kiln/math/wrapping.h"

#ifndef KILN_UNARY_FLOAT
#define KILN_UNARY_FLOAT(name, Fn)
#endif
#ifndef KILN_UNARY_NUMERIC
#define KILN_UNARY_NUMERIC(name, Fn)
#endif
#ifndef KILN_UNARY_PRED
#define KILN_UNARY_PRED(name, Fn)
#endif
#ifndef KILN_BINARY_FLOAT
#define KILN_BINARY_FLOAT(name, Fn)
#endif
#ifndef KILN_BINARY_NUMERIC
#define KILN_BINARY_NUMERIC(name, Fn)
#endif
#ifndef KILN_BINARY_PRED
#define KILN_BINARY_PRED(name, Fn)
#endif

namespace kiln { namespace ops {

#define KILN_FN1(Name, expr)                                               \
  struct Name {                                                            \
    template <typename T> KILN_HD T operator()(T x) const { return expr; } \
  };
#define KILN_FN2(Name, expr)                                                    \
  struct Name {                                                                 \
    template <typename T> KILN_HD T operator()(T a, T b) const { return expr; } \
  };
#define KILN_PRED1(Name, expr)                                                \
  struct Name {                                                               \
    template <typename T> KILN_HD bool operator()(T x) const { return expr; } \
  };
#define KILN_PRED2(Name, expr)                                                     \
  struct Name {                                                                    \
    template <typename T> KILN_HD bool operator()(T a, T b) const { return expr; } \
  };

KILN_FN1(Exp, m::exp(x))
KILN_FN1(Log, m::log(x))
KILN_FN1(Log1p, m::log1p(x))
KILN_FN1(Expm1, m::expm1(x))
KILN_FN1(Sqrt, m::sqrt(x))
KILN_FN1(Rsqrt, m::rsqrt(x))
KILN_FN1(Sigmoid, m::sigmoid(x))
KILN_FN1(LogSigmoid, m::log_sigmoid(x))
KILN_FN1(Softplus, m::softplus(x))
// clang-format off: it reads `x * m::` as a declaration
// silu(x) = x * sigmoid(x) (also called swish); m::sigmoid does not overflow for either sign.
KILN_FN1(Silu, x * m::sigmoid(x))
// clang-format on
KILN_FN1(Tanh, m::tanh(x))
KILN_FN1(Sin, m::sin(x))
KILN_FN1(Atan, m::atan(x))
KILN_FN1(Log2, m::log2(x))
KILN_FN1(Cos, m::cos(x))
// Integer add, sub, mul, neg and abs wrap around on overflow (m::add etc.): abs(INT_MIN) and
// -INT_MIN are INT_MIN, as in PyTorch.
KILN_FN1(Neg, m::neg(x))
// abs(-0) is +0 (as PyTorch's std::abs): -0 < 0 is false, so zero is returned as T(0) explicitly.
KILN_FN1(Abs, x < T(0) ? m::neg(x) : (x == T(0) ? T(0) : x))
KILN_FN1(Sign, T((T(0) < x) - (x < T(0))))
KILN_FN1(Floor, m::floor_of(x))
KILN_FN1(Ceil, m::ceil_of(x))
KILN_FN1(Trunc, m::trunc_of(x))
KILN_FN1(Round, m::rint_of(x))
// relu keeps NaN (PyTorch does): NaN > 0 is false but NaN must not become 0.
KILN_FN1(Relu, (x > T(0) || m::isnan(x)) ? x : T(0))
KILN_PRED1(IsNan, m::isnan(x))
KILN_PRED1(IsFinite, m::isfinite(x))
KILN_PRED1(LogicalNot, !(x != T(0)))

KILN_FN2(Add, m::add(a, b))
KILN_FN2(Sub, m::sub(a, b))
KILN_FN2(Mul, m::mul(a, b))
KILN_FN2(Div, a / b)
// fmod, remainder and floor_divide round the quotient three ways: kiln/math/division.h derives them
KILN_FN2(Fmod, m::fmod_any(a, b))
KILN_FN2(Remainder, m::remainder_any(a, b))
KILN_FN2(FloorDivide, m::floor_divide_any(a, b))
KILN_FN2(Pow, m::pow(a, b))
KILN_FN2(Maximum, m::max_nan(a, b))
KILN_FN2(Minimum, m::min_nan(a, b))
// relu's gradient (PyTorch's threshold_backward at 0): the upstream gradient a where relu's output b
// is positive, else 0 (a NaN output gives 0, as where(output > 0, grad, 0) does).
KILN_FN2(ReluBackward, b > T(0) ? a : T(0))
KILN_PRED2(Eq, a == b)
KILN_PRED2(Ne, a != b)
KILN_PRED2(Lt, a < b)
KILN_PRED2(Le, a <= b)
KILN_PRED2(Gt, a > b)
KILN_PRED2(Ge, a >= b)
KILN_PRED2(LogicalAnd, (a != T(0)) && (b != T(0)))
KILN_PRED2(LogicalOr, (a != T(0)) || (b != T(0)))

}}  // namespace kiln::ops

KILN_UNARY_FLOAT("exp", kiln::ops::Exp)
KILN_UNARY_FLOAT("log", kiln::ops::Log)
KILN_UNARY_FLOAT("log1p", kiln::ops::Log1p)
KILN_UNARY_FLOAT("expm1", kiln::ops::Expm1)
KILN_UNARY_FLOAT("sqrt", kiln::ops::Sqrt)
KILN_UNARY_FLOAT("rsqrt", kiln::ops::Rsqrt)
KILN_UNARY_FLOAT("sigmoid", kiln::ops::Sigmoid)
KILN_UNARY_FLOAT("logsigmoid", kiln::ops::LogSigmoid)
KILN_UNARY_FLOAT("softplus", kiln::ops::Softplus)
KILN_UNARY_FLOAT("silu", kiln::ops::Silu)
KILN_UNARY_FLOAT("tanh", kiln::ops::Tanh)
KILN_UNARY_FLOAT("sin", kiln::ops::Sin)
KILN_UNARY_FLOAT("atan", kiln::ops::Atan)
KILN_UNARY_FLOAT("log2", kiln::ops::Log2)
KILN_UNARY_FLOAT("cos", kiln::ops::Cos)
KILN_UNARY_NUMERIC("neg", kiln::ops::Neg)
KILN_UNARY_NUMERIC("abs", kiln::ops::Abs)
KILN_UNARY_NUMERIC("sign", kiln::ops::Sign)
KILN_UNARY_NUMERIC("floor", kiln::ops::Floor)
KILN_UNARY_NUMERIC("ceil", kiln::ops::Ceil)
KILN_UNARY_NUMERIC("trunc", kiln::ops::Trunc)
KILN_UNARY_NUMERIC("round", kiln::ops::Round)
KILN_UNARY_NUMERIC("relu", kiln::ops::Relu)
KILN_UNARY_PRED("isnan", kiln::ops::IsNan)
KILN_UNARY_PRED("isfinite", kiln::ops::IsFinite)
KILN_UNARY_PRED("logical_not", kiln::ops::LogicalNot)

KILN_BINARY_NUMERIC("add", kiln::ops::Add)
KILN_BINARY_NUMERIC("sub", kiln::ops::Sub)
KILN_BINARY_NUMERIC("mul", kiln::ops::Mul)
KILN_BINARY_FLOAT("div", kiln::ops::Div)
KILN_BINARY_FLOAT("pow", kiln::ops::Pow)
KILN_BINARY_NUMERIC("fmod", kiln::ops::Fmod)
KILN_BINARY_NUMERIC("remainder", kiln::ops::Remainder)
KILN_BINARY_NUMERIC("floor_divide", kiln::ops::FloorDivide)
KILN_BINARY_NUMERIC("maximum", kiln::ops::Maximum)
KILN_BINARY_NUMERIC("minimum", kiln::ops::Minimum)
KILN_BINARY_NUMERIC("relu_backward", kiln::ops::ReluBackward)
KILN_BINARY_PRED("eq", kiln::ops::Eq)
KILN_BINARY_PRED("ne", kiln::ops::Ne)
KILN_BINARY_PRED("lt", kiln::ops::Lt)
KILN_BINARY_PRED("le", kiln::ops::Le)
KILN_BINARY_PRED("gt", kiln::ops::Gt)
KILN_BINARY_PRED("ge", kiln::ops::Ge)
KILN_BINARY_PRED("logical_and", kiln::ops::LogicalAnd)
KILN_BINARY_PRED("logical_or", kiln::ops::LogicalOr)
