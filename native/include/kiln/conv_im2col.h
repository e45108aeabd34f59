// conv2d and its two backward passes as im2col / col2im and batched matrix products, processing
// the batch in chunks whose columns fit the call's column budget: the CUDA fallback used where
// cuDNN is missing or declines a problem (cuda/conv.cu), written over the device's primitives so
// that another device without a convolution library can run it too. (The CPU has kernels of its
// own that never form the column matrix: cpu/conv_gemm.h, cpu/conv_direct.h.) A `Dev` provides:
//
//   Dev::Buffer temp(size_t bytes)           scratch memory (.data), released when it goes away
//   im2col(shape, x_chunk, cols, batch_inner) cols of a chunk: [n, C kh kw, L], or [C kh kw, n, L]
//   col2im(shape, cols, image_chunk)         the adjoint: [n, C kh kw, L] summed into the image
//   gemm(problem, a, b, c, accumulate)       c = a · b (c += a · b), batched (math/matmul.h)
//   copy(src, dst)                           strided copy between two views of one dtype
//   zero(t)                                  fills a contiguous tensor with zeros
//   add_bias(out, bias, outer, channels, inner)   math/bias.h on a contiguous tensor
//
// With L = OH OW and K = C/groups kh kw, per image n and group g (shapes of the matrices):
//   forward          y[n, g]   (O/g x L) = W[g] (O/g x K) · cols[n, g] (K x L)
//   backward input   gcols[n, g] (K x L) = W[g]ᵀ (K x O/g) · gy[n, g] (O/g x L),  gx = col2im(gcols)
//   backward weight  gW[g]     (O/g x K) = Σ_n gy[n, g] (O/g x L) · cols[n, g]ᵀ (L x K)
// The weight gradient sums over the images of a chunk inside one product: gy is copied to
// [O, n, L] and the columns are made [C kh kw, n, L] (im2col's batch-inner layout), so that the
// sum over n and l is one reduction of length n L; chunks after the first accumulate into gW.
#pragma once
#include <cstring>
#include <initializer_list>
#include "kiln/kernel.h"
#include "kiln/math/conv.h"

namespace kiln { namespace conv {

// A view of `data` with the given shape and strides (in elements).
inline TensorArg view(const void* data, DType dtype, std::initializer_list<int64_t> shape, std::initializer_list<int64_t> strides) {
  TensorArg t;
  t.data = static_cast<char*>(const_cast<void*>(data));
  t.dtype = dtype;
  t.ndim = (int)shape.size();
  t.numel = 1;
  int d = 0;
  for (int64_t s : shape) {
    t.shape[d++] = s;
    t.numel *= s;
  }
  d = 0;
  for (int64_t s : strides) t.strides[d++] = s;
  return t;
}

// Images [n0, n0 + n) of a tensor whose dim 0 is the batch.
inline TensorArg batch_slice(const TensorArg& t, int64_t n0, int64_t n) {
  TensorArg r = t;
  r.data = t.data + n0 * t.strides[0] * dtype_size(t.dtype);
  r.shape[0] = n;
  r.numel = t.numel / (t.shape[0] > 0 ? t.shape[0] : 1) * n;
  return r;
}

// The stride of dims [first, ndim) of t flattened into one (the innermost stride), or -1 when they
// do not flatten; size-1 dims do not count.
inline int64_t flat_stride(const TensorArg& t, int first) {
  int64_t stride = -1, span = 1;
  for (int d = t.ndim - 1; d >= first; --d) {
    if (t.shape[d] == 1) continue;
    if (stride < 0) stride = t.strides[d];
    else if (t.strides[d] != stride * span) return -1;
    span *= t.shape[d];
  }
  return stride < 0 ? 1 : stride;
}

// t itself when dims [first, ndim) flatten, else a contiguous copy of it in `hold`.
template <typename Dev>
TensorArg flattenable(Dev& dev, const TensorArg& t, int first, typename Dev::Buffer& hold) {
  if (flat_stride(t, first) >= 0) return t;
  hold = dev.temp((size_t)t.numel * dtype_size(t.dtype));
  TensorArg c = view(hold.data, t.dtype, {t.shape[0], t.shape[1], t.shape[2], t.shape[3]},
                     {t.shape[1] * t.shape[2] * t.shape[3], t.shape[2] * t.shape[3], t.shape[3], 1});
  dev.copy(t, c);
  return c;
}

// y = conv2d(x, w) + bias (bias may be null).
template <typename Dev>
void conv2d_im2col(Dev& dev, const char* op, const Conv2dShape& s, const TensorArg& x, const TensorArg& w0, const TensorArg* bias, TensorArg& y) {
  if (y.numel == 0) return;
  if (s.K() == 0) {
    dev.zero(y);
  } else {
    typename Dev::Buffer hold_w, cols;
    const TensorArg w = flattenable(dev, w0, 1, hold_w);
    const DType dt = x.dtype;
    const int64_t og = s.og(), K = s.K(), L = s.L(), rows = s.C * s.kh * s.kw, nb = s.chunk() < s.N ? s.chunk() : s.N;
    const int64_t wk = flat_stride(w, 1), wo = w.strides[0];
    cols = dev.temp((size_t)(nb * rows * L) * dtype_size(dt));
    for (int64_t n0 = 0; n0 < s.N; n0 += nb) {
      const int64_t n = s.N - n0 < nb ? s.N - n0 : nb;
      dev.im2col(s, batch_slice(x, n0, n), cols.data, false);
      const TensorArg a = view(w.data, dt, {n, s.groups, og, K}, {0, og * wo, wo, wk});
      const TensorArg b = view(cols.data, dt, {n, s.groups, K, L}, {rows * L, K * L, L, 1});
      const TensorArg c = view(batch_slice(y, n0, n).data, dt, {n, s.groups, og, L}, {s.O * L, og * L, L, 1});
      dev.gemm(mm::make_problem(a, b, c, op), a.data, b.data, c.data, false);
    }
  }
  if (bias) dev.add_bias(y, *bias, s.N, s.O, s.L());
}

// gx = the gradient of conv2d with respect to its input, from gy and w.
template <typename Dev>
void conv2d_backward_input_im2col(Dev& dev, const char* op, const Conv2dShape& s, const TensorArg& gy0, const TensorArg& w0, TensorArg& gx) {
  if (gx.numel == 0) return;
  if (s.og() == 0) {
    dev.zero(gx);
    return;
  }
  typename Dev::Buffer hold_w, hold_gy, gcols;
  const TensorArg w = flattenable(dev, w0, 1, hold_w);
  const TensorArg gy = flattenable(dev, gy0, 2, hold_gy);
  const DType dt = gx.dtype;
  const int64_t og = s.og(), K = s.K(), L = s.L(), rows = s.C * s.kh * s.kw, nb = s.chunk() < s.N ? s.chunk() : s.N;
  const int64_t wk = flat_stride(w, 1), wo = w.strides[0], gl = flat_stride(gy, 2);
  gcols = dev.temp((size_t)(nb * rows * L) * dtype_size(dt));
  for (int64_t n0 = 0; n0 < s.N; n0 += nb) {
    const int64_t n = s.N - n0 < nb ? s.N - n0 : nb;
    const TensorArg g = batch_slice(gy, n0, n);
    const TensorArg a = view(w.data, dt, {n, s.groups, K, og}, {0, og * wo, wk, wo});
    const TensorArg b = view(g.data, dt, {n, s.groups, og, L}, {g.strides[0], og * g.strides[1], g.strides[1], gl});
    const TensorArg c = view(gcols.data, dt, {n, s.groups, K, L}, {rows * L, K * L, L, 1});
    dev.gemm(mm::make_problem(a, b, c, op), a.data, b.data, c.data, false);
    TensorArg image = batch_slice(gx, n0, n);
    dev.col2im(s, gcols.data, image);
  }
}

// gw = the gradient of conv2d with respect to its weight, from gy and x.
template <typename Dev>
void conv2d_backward_weight_im2col(Dev& dev, const char* op, const Conv2dShape& s, const TensorArg& gy, const TensorArg& x, TensorArg& gw) {
  if (gw.numel == 0) return;
  if (s.N == 0) {
    dev.zero(gw);
    return;
  }
  typename Dev::Buffer cols, gyt;
  const DType dt = gw.dtype;
  const int64_t og = s.og(), K = s.K(), L = s.L(), rows = s.C * s.kh * s.kw, nb = s.chunk() < s.N ? s.chunk() : s.N;
  cols = dev.temp((size_t)(nb * rows * L) * dtype_size(dt));
  gyt = dev.temp((size_t)(nb * s.O * L) * dtype_size(dt));
  for (int64_t n0 = 0; n0 < s.N; n0 += nb) {
    const int64_t n = s.N - n0 < nb ? s.N - n0 : nb, nl = n * L;
    dev.im2col(s, batch_slice(x, n0, n), cols.data, true);                      // [C kh kw, n, L]
    const TensorArg g = batch_slice(gy, n0, n);
    dev.copy(g, view(gyt.data, dt, {n, s.O, s.OH, s.OW}, {L, nl, s.OW, 1}));   // [O, n, L]
    const TensorArg a = view(gyt.data, dt, {s.groups, og, nl}, {og * nl, nl, 1});
    const TensorArg b = view(cols.data, dt, {s.groups, nl, K}, {K * nl, 1, nl});
    const TensorArg c = view(gw.data, dt, {s.groups, og, K}, {og * K, K, 1});
    dev.gemm(mm::make_problem(a, b, c, op), a.data, b.data, c.data, n0 > 0);
  }
}

// The pass `pass` of a checked call with a non-empty output (inputs and outputs as in math/conv.h).
template <typename Dev>
void run_im2col(Dev& dev, ConvPass pass, KernelCall& c, const Conv2dShape& s) {
  switch (pass) {
    case ConvPass::Forward: conv2d_im2col(dev, c.name, s, c.in(0), c.in(1), c.n_inputs == 3 ? &c.in(2) : nullptr, c.out(0)); return;
    case ConvPass::BackwardInput: conv2d_backward_input_im2col(dev, c.name, s, c.in(0), c.in(1), c.out(0)); return;
    case ConvPass::BackwardWeight: conv2d_backward_weight_im2col(dev, c.name, s, c.in(0), c.in(1), c.out(0)); return;
  }
}

}}  // namespace kiln::conv
