// CPU kernels for softmax, log_softmax and their backward passes (formulas and contract:
// include/kiln/math/softmax.h). Each row is read twice: once to reduce it (the log-sum-exp state,
// or the sum of the backward terms), once to write the result. Rows are spread over the threads;
// when the softmax dim is not the innermost one but neighbouring rows are neighbours in memory
// (softmax over the channels of NCHW), kCols rows are processed together so memory is read in order.
#include <algorithm>
#include <string>
#include "kiln/math/softmax.h"
#include "kiln/reduce_layout.h"
#include "parallel.h"

namespace kiln { namespace cpu { namespace {

constexpr int kCols = 16;

// Calls f(off, ncols) for every group of rows: one row (W = 1), or up to W neighbouring rows whose
// first row is at offsets `off` (columns mode: the next rows are at +1, +2, ... in every operand).
template <int NT, int W, typename F>
void for_each_group(const RowLayout<NT>& R, const F& f) {
  const OffsetCalc<NT, int64_t> oc(R.outer);
  const int64_t inner = W > 1 ? R.outer_inner_size() : 1;
  const int64_t per_row = (inner + W - 1) / W;
  const int64_t groups = W > 1 ? (R.rows() / inner) * per_row : R.rows();
  parallel_for(groups, std::max<int64_t>(1, kGrain / (R.D * W)), [&](int64_t b, int64_t e) {
    for (int64_t g = b; g < e; ++g) {
      int64_t first = g, ncols = 1;
      if (W > 1) {
        int64_t k = g % per_row;
        first = (g / per_row) * inner + k * W;
        ncols = std::min<int64_t>(W, inner - k * W);
      }
      int64_t off[NT];
      oc.get(first, off);
      f(off, (int)ncols);
    }
  });
}

template <typename S, typename Fn, int W>
void forward_rows(const RowLayout<2>& R, S* y0, const S* x0) {
  using T = sm::M<S>;
  const int64_t D = R.D, sy = R.d_stride[0], sx = R.d_stride[1];
  for_each_group<2, W>(R, [&](const int64_t* off, int ncols) {
    S* y = y0 + off[0];
    const S* x = x0 + off[1];
    sm::RowState<S> st[W];
    for (int c = 0; c < ncols; ++c) st[c] = red::lse_identity<T, sm::A<S>>();
    for (int64_t j = 0; j < D; ++j)
      for (int c = 0; c < ncols; ++c) st[c] = red::lse_step(st[c], T(load(x + j * sx + c)));
    sm::Norm<T> n[W];
    for (int c = 0; c < ncols; ++c) n[c] = sm::norm_of<S>(st[c]);
    for (int64_t j = 0; j < D; ++j)
      for (int c = 0; c < ncols; ++c) store(y + j * sy + c, Fn::value(T(load(x + j * sx + c)), n[c]));
  });
}

template <typename S, typename Fn, int W>
void backward_rows(const RowLayout<3>& R, S* dx0, const S* g0, const S* y0) {
  using T = sm::M<S>;
  using A = sm::A<S>;
  const int64_t D = R.D, sd = R.d_stride[0], sg = R.d_stride[1], sy = R.d_stride[2];
  for_each_group<3, W>(R, [&](const int64_t* off, int ncols) {
    S* dx = dx0 + off[0];
    const S* g = g0 + off[1];
    const S* y = y0 + off[2];
    A total[W];
    for (int c = 0; c < ncols; ++c) total[c] = A(0);
    for (int64_t j = 0; j < D; ++j)
      for (int c = 0; c < ncols; ++c) total[c] += A(Fn::term(T(load(g + j * sg + c)), T(load(y + j * sy + c))));
    for (int64_t j = 0; j < D; ++j)
      for (int c = 0; c < ncols; ++c) store(dx + j * sd + c, Fn::grad(T(load(g + j * sg + c)), T(load(y + j * sy + c)), T(total[c])));
  });
}

void check_dtypes(KernelCall& c) {
  for (int i = 0; i < c.n_inputs; ++i)
    KILN_CHECK(c.in(i).dtype == c.out(0).dtype, DType, c.name,
               std::string("operands must have one dtype, got ") + dtype_name(c.in(i).dtype) + " and " + dtype_name(c.out(0).dtype));
}

template <typename Fn> void forward(KernelCall& c) {
  check_dtypes(c);
  const TensorArg* ops[2] = {&c.out(0), &c.in(0)};
  RowLayout<2> R = make_row_layout<2>(ops);
  if (R.rows() == 0 || R.D == 0) return;
  KILN_DISPATCH_FLOATING(c.in(0).dtype, c.name, {
    scalar_t* y = c.out(0).ptr<scalar_t>();
    const scalar_t* x = c.in(0).ptr<scalar_t>();
    if (R.columns()) forward_rows<scalar_t, Fn, kCols>(R, y, x);
    else forward_rows<scalar_t, Fn, 1>(R, y, x);
  });
}

template <typename Fn> void backward(KernelCall& c) {
  check_dtypes(c);
  const TensorArg* ops[3] = {&c.out(0), &c.in(0), &c.in(1)};
  RowLayout<3> R = make_row_layout<3>(ops);
  if (R.rows() == 0 || R.D == 0) return;
  KILN_DISPATCH_FLOATING(c.in(0).dtype, c.name, {
    scalar_t* dx = c.out(0).ptr<scalar_t>();
    const scalar_t* g = c.in(0).ptr<scalar_t>();
    const scalar_t* y = c.in(1).ptr<scalar_t>();
    if (R.columns()) backward_rows<scalar_t, Fn, kCols>(R, dx, g, y);
    else backward_rows<scalar_t, Fn, 1>(R, dx, g, y);
  });
}

#define KILN_REGISTER_SOFTMAX(name, Fn, kind) KILN_KERNEL(name, kind<Fn>);
KILN_SOFTMAX_KERNELS(KILN_REGISTER_SOFTMAX)

}  // namespace
}}  // namespace kiln::cpu
