// The host side shared by the CPU and CUDA kernels: each kernel's arguments read from its call and
// checked, so that a call made around TypeScript's checks (launchKernel by hand) is a typed error,
// never a read outside a tensor. TypeScript (src/deform-im2col.ts) checks the same first, in the
// user's terms.
//
// Attributes of every kernel: [kh, kw, sh, sw, ph, pw, dh, dw, offset groups].
#pragma once
#include <string>
#include <utility>
#include "deform_conv.h"
#include "kiln/extension.h"

namespace dcn {

using kiln::ext::KernelCall;
using kiln::ext::TensorArg;

inline std::string shape_of(const TensorArg& t) {
  std::string s = "[";
  for (int d = 0; d < t.ndim(); ++d) s += (d ? ", " : "") + std::to_string(t.size(d));
  return s + "]";
}

inline void check_shape(const KernelCall& c, const char* arg, const TensorArg& t, const int64_t (&expected)[4]) {
  bool ok = t.ndim() == 4;
  for (int d = 0; ok && d < 4; ++d) ok = t.size(d) == expected[d];
  if (!ok) {
    std::string want =
        "[" + std::to_string(expected[0]) + ", " + std::to_string(expected[1]) + ", " + std::to_string(expected[2]) + ", " + std::to_string(expected[3]) + "]";
    kiln::fail_arg(kiln::ErrorKind::Shape, c.name, arg, "shape " + want, shape_of(t));
  }
}

inline void check_dtype(const KernelCall& c, const char* arg, const TensorArg& t, kiln::DType dtype) {
  if (t.dtype() != dtype) kiln::fail_arg(kiln::ErrorKind::DType, c.name, arg, kiln::dtype_name(dtype), kiln::dtype_name(t.dtype()));
}

// The geometry from the attributes, the input's shape and the offset's spatial size, all checked.
inline Geometry geometry_of(const KernelCall& c, const int64_t (&input_shape)[4], const TensorArg& offset) {
  Geometry g{};
  g.batch = input_shape[0];
  g.channels = input_shape[1];
  g.height = input_shape[2];
  g.width = input_shape[3];
  g.kh = c.int_attr(0), g.kw = c.int_attr(1), g.sh = c.int_attr(2), g.sw = c.int_attr(3);
  g.ph = c.int_attr(4), g.pw = c.int_attr(5), g.dh = c.int_attr(6), g.dw = c.int_attr(7), g.groups = c.int_attr(8);
  KILN_CHECK(g.kh >= 1 && g.kw >= 1 && g.sh >= 1 && g.sw >= 1 && g.dh >= 1 && g.dw >= 1 && g.ph >= 0 && g.pw >= 0, Value, c.name,
             "kernel size, stride and dilation must be at least 1 and padding at least 0");
  KILN_CHECK(g.groups >= 1 && g.channels % g.groups == 0, Shape, c.name,
             "the offset groups (" + std::to_string(g.groups) + ") must divide the input's channels (" + std::to_string(g.channels) + ")");
  KILN_CHECK_ARG(offset.ndim() == 4, Shape, c.name, "offset", "4 dimensions", shape_of(offset));
  g.out_h = offset.size(2);
  g.out_w = offset.size(3);
  const int64_t oh = (g.height + 2 * g.ph - g.dh * (g.kh - 1) - 1) / g.sh + 1, ow = (g.width + 2 * g.pw - g.dw * (g.kw - 1) - 1) / g.sw + 1;
  KILN_CHECK_ARG(g.out_h == oh && g.out_w == ow, Shape, c.name, "offset", "the output size " + std::to_string(oh) + "x" + std::to_string(ow) + " of the window",
                 shape_of(offset));
  const int64_t offset_shape[4] = {g.batch, 2 * g.groups * g.taps(), g.out_h, g.out_w};
  check_shape(c, "offset", offset, offset_shape);
  return g;
}

template <typename T> View4<T> view4(const TensorArg& t) { return {t.ptr<T>(), t.stride(0), t.stride(1), t.stride(2), t.stride(3)}; }
template <typename T> View3<T> view3(const TensorArg& t) { return {t.ptr<T>(), t.stride(0), t.stride(1), t.stride(2)}; }

// The inputs and outputs of each kernel, checked: dtypes equal (float32 or float64) and shapes
// consistent with the geometry.
struct Im2colArgs {
  Geometry g;
  TensorArg input, offset, mask, columns;
};

inline Im2colArgs im2col_args(const KernelCall& c) {
  Im2colArgs a{{}, c.in(0), c.in(1), c.in(2), c.out(0)};
  KILN_CHECK_ARG(a.input.ndim() == 4, Shape, c.name, "input", "4 dimensions [N, C, H, W]", shape_of(a.input));
  const int64_t shape[4] = {a.input.size(0), a.input.size(1), a.input.size(2), a.input.size(3)};
  a.g = geometry_of(c, shape, a.offset);
  const int64_t mask_shape[4] = {a.g.batch, a.g.groups * a.g.taps(), a.g.out_h, a.g.out_w};
  check_shape(c, "mask", a.mask, mask_shape);
  const kiln::DType t = a.input.dtype();
  KILN_CHECK_ARG(t == kiln::DType::Float32 || t == kiln::DType::Float64, DType, c.name, "input", "float32 or float64", kiln::dtype_name(t));
  check_dtype(c, "offset", a.offset, t);
  check_dtype(c, "mask", a.mask, t);
  check_dtype(c, "columns", a.columns, t);
  KILN_CHECK(a.columns.ndim() == 3 && a.columns.size(0) == a.g.batch && a.columns.size(1) == a.g.channels * a.g.taps() && a.columns.size(2) == a.g.positions(),
             Shape, c.name, "output 'columns' expected [N, C kh kw, OH OW], got " + shape_of(a.columns));
  return a;
}

struct BackwardInputArgs {
  Geometry g;
  TensorArg grad_columns, offset, mask, grad_input;
};

inline void check_grad_columns(const KernelCall& c, const Geometry& g, const TensorArg& grad_columns) {
  KILN_CHECK_ARG(
      grad_columns.ndim() == 3 && grad_columns.size(0) == g.batch && grad_columns.size(1) == g.channels * g.taps() && grad_columns.size(2) == g.positions(),
      Shape, c.name, "grad_columns", "[N, C kh kw, OH OW]", shape_of(grad_columns));
}

inline BackwardInputArgs backward_input_args(const KernelCall& c) {
  BackwardInputArgs a{{}, c.in(0), c.in(1), c.in(2), c.out(0)};
  KILN_CHECK(a.grad_input.ndim() == 4 && a.grad_input.is_contiguous(), Shape, c.name,
             "output 'grad_input' expected a contiguous [N, C, H, W] tensor, got " + shape_of(a.grad_input));
  const int64_t shape[4] = {a.grad_input.size(0), a.grad_input.size(1), a.grad_input.size(2), a.grad_input.size(3)};
  a.g = geometry_of(c, shape, a.offset);
  const int64_t mask_shape[4] = {a.g.batch, a.g.groups * a.g.taps(), a.g.out_h, a.g.out_w};
  check_shape(c, "mask", a.mask, mask_shape);
  check_grad_columns(c, a.g, a.grad_columns);
  const kiln::DType t = a.grad_input.dtype();
  KILN_CHECK(t == kiln::DType::Float32 || t == kiln::DType::Float64, DType, c.name,
             std::string("output 'grad_input' expected float32 or float64, got ") + kiln::dtype_name(t));
  check_dtype(c, "grad_columns", a.grad_columns, t);
  check_dtype(c, "offset", a.offset, t);
  check_dtype(c, "mask", a.mask, t);
  return a;
}

struct BackwardOffsetMaskArgs {
  Geometry g;
  TensorArg grad_columns, input, offset, mask, grad_offset, grad_mask;
};

inline BackwardOffsetMaskArgs backward_offset_mask_args(const KernelCall& c) {
  BackwardOffsetMaskArgs a{{}, c.in(0), c.in(1), c.in(2), c.in(3), c.out(0), c.out(1)};
  KILN_CHECK_ARG(a.input.ndim() == 4, Shape, c.name, "input", "4 dimensions [N, C, H, W]", shape_of(a.input));
  const int64_t shape[4] = {a.input.size(0), a.input.size(1), a.input.size(2), a.input.size(3)};
  a.g = geometry_of(c, shape, a.offset);
  const int64_t mask_shape[4] = {a.g.batch, a.g.groups * a.g.taps(), a.g.out_h, a.g.out_w};
  check_shape(c, "mask", a.mask, mask_shape);
  check_shape(c, "grad_mask", a.grad_mask, mask_shape);
  const int64_t offset_shape[4] = {a.g.batch, 2 * a.g.groups * a.g.taps(), a.g.out_h, a.g.out_w};
  check_shape(c, "grad_offset", a.grad_offset, offset_shape);
  check_grad_columns(c, a.g, a.grad_columns);
  const kiln::DType t = a.input.dtype();
  KILN_CHECK_ARG(t == kiln::DType::Float32 || t == kiln::DType::Float64, DType, c.name, "input", "float32 or float64", kiln::dtype_name(t));
  for (const auto& [name, arg] : {std::pair<const char*, const TensorArg*>{"grad_columns", &a.grad_columns},
                                  {"offset", &a.offset},
                                  {"mask", &a.mask},
                                  {"grad_offset", &a.grad_offset},
                                  {"grad_mask", &a.grad_mask}})
    check_dtype(c, name, *arg, t);
  return a;
}

// Calls f(T{}) with T the C++ type of a float32 or float64 dtype (checked above).
template <typename F> void dispatch_float(kiln::DType t, const F& f) {
  if (t == kiln::DType::Float32) f(float{});
  else f(double{});
}

}  // namespace dcn
