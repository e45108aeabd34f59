// The geometry of conv2d and of its two backward passes, read from a kernel call and checked once
// for both devices (cpu/conv.cc, cuda/conv.cu). Every conv kernel sees the same three tensors in
// different roles:
//
//   kernel                    inputs                          output
//   conv2d                    input x, weight w, [bias b]     y  [N, O, OH, OW]
//   conv2d_backward_input     grad_output gy, weight w        gx [N, C, H, W]
//   conv2d_backward_weight    grad_output gy, input x         gw [O, C/groups, kh, kw]
//
// attributes [stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups, precision, column_budget]:
// precision is the float32 matmul precision (matmul.h's precision_attr), column_budget the most
// im2col column elements the im2col path may hold at once (it processes the batch in chunks).
// Inputs may have any strides; outputs are contiguous (TypeScript allocates them).
#pragma once
#include <cstdint>
#include <string>
#include "kiln/kernel.h"
#include "kiln/math/matmul.h"
#include "kiln/math/nn.h"

namespace kiln { namespace conv {

// The three passes, for code that handles them alike.
enum class ConvPass { Forward, BackwardInput, BackwardWeight };

struct Conv2dShape {
  int64_t N, C, H, W;          // input
  int64_t O, kh, kw;           // weight [O, C / groups, kh, kw]
  int64_t OH, OW;              // output
  int64_t sh, sw, ph, pw, dh, dw, groups;
  int precision;
  int64_t column_budget;

  int64_t cg() const { return C / groups; }            // input channels of a group
  int64_t og() const { return O / groups; }            // output channels of a group
  int64_t K() const { return cg() * kh * kw; }         // the reduction length of one group's product
  int64_t L() const { return OH * OW; }                // output positions of one image
  int64_t cols_per_image() const { return C * kh * kw * L(); }
  // Images per chunk of the im2col path: as many as keep the columns within the budget (at least 1).
  int64_t chunk() const {
    int64_t per = cols_per_image() > 0 ? cols_per_image() : 1;
    int64_t n = column_budget / per;
    return n < 1 ? 1 : n;
  }
};

inline std::string dims_str(const TensorArg& t) { return mm::dims_of(t); }

// Reads the attributes and checks x, w and y (in the roles of the table above) against each other.
inline Conv2dShape conv2d_shape(const KernelCall& c, const TensorArg& x, const TensorArg& w, const TensorArg& y) {
  KILN_CHECK(c.n_attrs >= 9, Internal, c.name, "expected 9 attributes [sh, sw, ph, pw, dh, dw, groups, precision, column_budget]");
  KILN_CHECK(x.ndim == 4 && w.ndim == 4 && y.ndim == 4, Shape, c.name,
             "input, weight and output must be 4-D, got " + dims_str(x) + ", " + dims_str(w) + ", " + dims_str(y));
  KILN_CHECK(w.dtype == x.dtype && y.dtype == x.dtype, DType, c.name,
             std::string("input, weight and output must have one dtype, got ") + dtype_name(x.dtype) + ", " + dtype_name(w.dtype) + ", " + dtype_name(y.dtype));
  Conv2dShape s;
  s.N = x.shape[0];
  s.C = x.shape[1];
  s.H = x.shape[2];
  s.W = x.shape[3];
  s.O = w.shape[0];
  s.kh = w.shape[2];
  s.kw = w.shape[3];
  s.sh = c.int_attr(0);
  s.sw = c.int_attr(1);
  s.ph = c.int_attr(2);
  s.pw = c.int_attr(3);
  s.dh = c.int_attr(4);
  s.dw = c.int_attr(5);
  s.groups = c.int_attr(6);
  s.precision = (int)c.int_attr(7);
  s.column_budget = c.int_attr(8);
  KILN_CHECK(s.sh >= 1 && s.sw >= 1 && s.dh >= 1 && s.dw >= 1 && s.ph >= 0 && s.pw >= 0 && s.groups >= 1 && s.column_budget >= 1, Value, c.name,
             "strides, dilations and groups must be >= 1 and padding >= 0");
  KILN_CHECK(s.kh >= 1 && s.kw >= 1, Shape, c.name, "the kernel must be at least 1x1, got weight " + dims_str(w));
  KILN_CHECK(s.C % s.groups == 0 && s.O % s.groups == 0 && w.shape[1] * s.groups == s.C, Shape, c.name,
             "weight " + dims_str(w) + " does not fit an input of " + std::to_string(s.C) + " channels in " + std::to_string(s.groups) + " groups");
  s.OH = nn::conv_out_size(s.H, s.kh, s.sh, s.ph, s.dh);
  s.OW = nn::conv_out_size(s.W, s.kw, s.sw, s.pw, s.dw);
  KILN_CHECK(y.shape[0] == s.N && y.shape[1] == s.O && y.shape[2] == s.OH && y.shape[3] == s.OW && s.OH >= 1 && s.OW >= 1, Shape, c.name,
             "output " + dims_str(y) + " does not match the convolution of input " + dims_str(x) + " with weight " + dims_str(w));
  return s;
}

// The im2col / col2im window of the convolution, for a chunk of `n` images.
template <typename I>
nn::Window2d<I> window_of(const Conv2dShape& s, int64_t n) {
  nn::Window2d<I> g;
  g.N = (I)n;
  g.C = (I)s.C;
  g.H = (I)s.H;
  g.W = (I)s.W;
  g.kh = (I)s.kh;
  g.kw = (I)s.kw;
  g.sh = (I)s.sh;
  g.sw = (I)s.sw;
  g.ph = (I)s.ph;
  g.pw = (I)s.pw;
  g.dh = (I)s.dh;
  g.dw = (I)s.dw;
  g.OH = (I)s.OH;
  g.OW = (I)s.OW;
  return g;
}

}}  // namespace kiln::conv
