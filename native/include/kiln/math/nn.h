// The index math of Kiln's neural-network kernels (im2col / col2im, max pooling, nearest
// upsampling), written once for both devices: cpu/nn.cc and cuda/nn.cu only loop over elements
// and call these functions. Every tensor here is NCHW; the functions take one flat element index of
// the tensor being produced, so each output element is computed by exactly one loop iteration or
// GPU thread (gather, no write conflicts, deterministic), except max_pool2d_backward, which
// scatters to argmax positions (see cpu/nn.cc and cuda/nn.cu). The *Element functors at the end
// of the device section compute one whole output element (read, compute, store): the CPU loop and
// the CUDA kernel call them and nothing else.
//
// IndexT is int32_t when every element count and offset involved is below 2^31 (cheaper division
// on the GPU) and int64_t otherwise (index_fits_int32 decides on the host).
#pragma once
#include <cstdint>
#include <string>
#include "kiln/hd.h"
#include "kiln/device_error.h"
#include "kiln/dtype.h"
#include "kiln/kernel.h"
#include "kiln/math/scalar.h"

namespace kiln { namespace nn {

// Output length of a sliding window of `kernel` taps spaced `dilation` apart, moved by `stride`
// over an input of `in` elements padded by `pad` on both sides (PyTorch's conv output size):
//   out = floor((in + 2 pad - dilation (kernel - 1) - 1) / stride) + 1
// The last window must fit: its last tap is at (out - 1) stride + dilation (kernel - 1) <= in + 2 pad - 1.
KILN_HD int64_t conv_out_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad, int64_t dilation) {
  int64_t span = in + 2 * pad - dilation * (kernel - 1) - 1;
  if (span < 0) return 0;
  return span / stride + 1;
}

// Pooling output length (PyTorch's pooling_output_shape). With ceil_mode a last, partial window is
// kept when it starts inside the input or the left padding:
//   out = ceil_or_floor((in + 2 pad - dilation (kernel - 1) - 1) / stride) + 1,
//   minus one in ceil mode when that last window would start at or after in + pad.
KILN_HD int64_t pool_out_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad, int64_t dilation, bool ceil_mode) {
  int64_t span = in + 2 * pad - dilation * (kernel - 1) - 1 + (ceil_mode ? stride - 1 : 0);
  if (span < 0) return 0;
  int64_t out = span / stride + 1;
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  return out;
}

// A 2-D sliding window over an [N, C, H, W] input producing [.., OH, OW] positions.
template <typename I>
struct Window2d {
  I N, C, H, W;
  I kh, kw, sh, sw, ph, pw, dh, dw;
  I OH, OW;
};

// Window geometry from kernel attributes [kh, kw, sh, sw, ph, pw, dh, dw] (the order every nn
// kernel reads them in) and the sizes the kernel was given.
template <typename I>
Window2d<I> make_window(const KernelCall& c, int64_t N, int64_t C, int64_t H, int64_t W, int64_t OH, int64_t OW) {
  Window2d<I> g;
  g.N = (I)N;
  g.C = (I)C;
  g.H = (I)H;
  g.W = (I)W;
  g.kh = (I)c.int_attr(0);
  g.kw = (I)c.int_attr(1);
  g.sh = (I)c.int_attr(2);
  g.sw = (I)c.int_attr(3);
  g.ph = (I)c.int_attr(4);
  g.pw = (I)c.int_attr(5);
  g.dh = (I)c.int_attr(6);
  g.dw = (I)c.int_attr(7);
  g.OH = (I)OH;
  g.OW = (I)OW;
  return g;
}

// The strides of a 4-D (or 3-D) tensor argument in index type I.
template <typename I, int ND>
struct Strides {
  I s[ND];
};
template <typename I, int ND>
Strides<I, ND> strides_of(const TensorArg& t) {
  Strides<I, ND> r;
  for (int d = 0; d < ND; ++d) r.s[d] = (I)t.strides[d];
  return r;
}

// Position (n, c, h, w) of flat element `idx` of a contiguous [N, C, H, W] tensor (N is implied).
// Three divisions by sizes fixed for the whole call, as the loops they replace did.
template <typename I>
struct Nchw {
  I n, c, h, w;
};
template <typename I>
KILN_HD Nchw<I> nchw_of(I idx, I C, I H, I W) {
  Nchw<I> p;
  p.w = idx % W;
  idx /= W;
  p.h = idx % H;
  idx /= H;
  p.c = idx % C;
  p.n = idx / C;
  return p;
}

// True when indices, sizes and element offsets of every operand fit in int32 (host side).
inline bool index_fits_int32(const TensorArg* const* ops, int n, int64_t extra_bound = 0) {
  const int64_t limit = (int64_t(1) << 31) - 1;
  if (extra_bound > limit) return false;
  for (int k = 0; k < n; ++k) {
    const TensorArg& t = *ops[k];
    if (t.numel > limit) return false;
    int64_t reach = 0;
    for (int d = 0; d < t.ndim; ++d) {
      int64_t s = t.strides[d] < 0 ? -t.strides[d] : t.strides[d];
      if (t.shape[d] > 0) reach += (t.shape[d] - 1) * s;
    }
    if (reach > limit) return false;
  }
  return true;
}

// ---- im2col / col2im ---------------------------------------------------------------------
//
// cols[n, (c kh + i) kw + j, oh OW + ow] = x[n, c, oh sh - ph + i dh, ow sw - pw + j dw]
// (zero where that position is in the padding). col2im is its adjoint: each x position sums every
// column entry that im2col copied from it.

// Element offset in x of contiguous cols element `idx`, or -1 when it falls in the padding.
template <typename I>
KILN_HD I im2col_source(const Window2d<I>& g, const Strides<I, 4>& xs, I idx) {
  I ow = idx % g.OW;
  idx /= g.OW;
  I oh = idx % g.OH;
  idx /= g.OH;
  I j = idx % g.kw;
  idx /= g.kw;
  I i = idx % g.kh;
  idx /= g.kh;
  I c = idx % g.C;
  I n = idx / g.C;
  I h = oh * g.sh - g.ph + i * g.dh;
  I w = ow * g.sw - g.pw + j * g.dw;
  if (h < 0 || h >= g.H || w < 0 || w >= g.W) return I(-1);
  return n * xs.s[0] + c * xs.s[1] + h * xs.s[2] + w * xs.s[3];
}

// Value of contiguous x-shaped element `idx` of col2im(cols): the sum of every column entry that
// im2col takes from that position. Position h is read by window row oh through tap i when
// oh sh - ph + i dh == h, i.e. oh = (h + ph - i dh) / sh when that divides exactly (likewise w).
// Accumulates in the compute type (float for the half types).
template <typename T, typename I>
KILN_HD compute_t<T> col2im_value(const Window2d<I>& g, const T* cols, const Strides<I, 3>& cs, I idx) {
  const Nchw<I> p = nchw_of<I>(idx, g.C, g.H, g.W);
  const I c = p.c, h = p.h, w = p.w;
  const T* base = cols + p.n * cs.s[0];
  compute_t<T> acc = compute_t<T>(0);
  for (I i = 0; i < g.kh; ++i) {
    I hn = h + g.ph - i * g.dh;
    if (hn < 0) break;                   // larger taps only move further left
    if (hn % g.sh != 0) continue;
    I oh = hn / g.sh;
    if (oh >= g.OH) continue;
    for (I j = 0; j < g.kw; ++j) {
      I wn = w + g.pw - j * g.dw;
      if (wn < 0) break;
      if (wn % g.sw != 0) continue;
      I ow = wn / g.sw;
      if (ow >= g.OW) continue;
      acc += load(base + ((c * g.kh + i) * g.kw + j) * cs.s[1] + (oh * g.OW + ow) * cs.s[2]);
    }
  }
  return acc;
}

// ---- max pooling -------------------------------------------------------------------------

// The maximum of the window of contiguous output element `idx` ([N, C, OH, OW]) and its position
// h W + w in the input plane (PyTorch's convention for the indices). As PyTorch: starts from -inf
// at the window's first in-bounds position, a NaN wins over numbers (and a later NaN over an
// earlier one), ties keep the first position in row-major order.
template <typename T, typename I>
KILN_HD void max_pool2d_value(const Window2d<I>& g, const T* x, const Strides<I, 4>& xs, I idx, compute_t<T>& best, int64_t& best_pos) {
  using C = compute_t<T>;
  const Nchw<I> o = nchw_of<I>(idx, g.C, g.OH, g.OW);
  I h0 = o.h * g.sh - g.ph, w0 = o.w * g.sw - g.pw;
  // first in-bounds tap (padding never wins: PyTorch skips it rather than reading -inf)
  I hs = h0, ws = w0;
  while (hs < 0) hs += g.dh;
  while (ws < 0) ws += g.dw;
  const T* plane = x + o.n * xs.s[0] + o.c * xs.s[1];
  best = C(-INFINITY);
  best_pos = (int64_t)hs * g.W + ws;
  for (I i = 0; i < g.kh; ++i) {
    I h = h0 + i * g.dh;
    if (h < 0 || h >= g.H) continue;
    for (I j = 0; j < g.kw; ++j) {
      I w = w0 + j * g.dw;
      if (w < 0 || w >= g.W) continue;
      C v = load(plane + h * xs.s[2] + w * xs.s[3]);
      if (v > best || m::isnan(v)) {
        best = v;
        best_pos = (int64_t)h * g.W + w;
      }
    }
  }
}

// ---- nearest upsampling ------------------------------------------------------------------
//
// PyTorch's 'nearest' mode (not 'nearest-exact'): output position d reads input position
//   min(floor(d * scale), in - 1),  scale = 1 / scale_factor when a scale factor was given,
//   in / out otherwise, computed in float32 as PyTorch does (so the same positions are chosen),
// with PyTorch's exact shortcuts for out == in and out == 2 in.

KILN_HD float nearest_scale(int64_t in, int64_t out, double scale_factor) { return scale_factor > 0 ? (float)(1.0 / scale_factor) : (float)in / (float)out; }

template <typename I>
KILN_HD I nearest_source(I d, I in, I out, float scale) {
  if (out == in) return d;
  if (out == 2 * in) return d >> 1;
  I s = (I)m::floor((float)d * scale);
  return s < in - 1 ? s : in - 1;
}

// The first output position d in [0, out] whose source is >= p (out when none): nearest_source is
// non-decreasing in d, so the positions reading input p are [first(p), first(p + 1)). Starts from
// the estimate p / scale and corrects it with the exact forward formula, so backward and forward
// agree to the last rounding.
template <typename I>
KILN_HD I nearest_first_reading(I p, I in, I out, float scale) {
  I d = scale > 0.f ? (I)((float)p / scale) : I(0);
  if (d > out) d = out;
  if (d < 0) d = 0;
  while (d > 0 && nearest_source<I>(d - 1, in, out, scale) >= p) --d;
  while (d < out && nearest_source<I>(d, in, out, scale) < p) ++d;
  return d;
}

// Geometry of an upsampling: input [N, C, H, W] to output [N, C, OH, OW].
template <typename I>
struct Upsample2d {
  I N, C, H, W, OH, OW;
  float scale_h, scale_w;
};

// Element offset in x of contiguous output element `idx`.
template <typename I>
KILN_HD I upsample_nearest2d_source(const Upsample2d<I>& g, const Strides<I, 4>& xs, I idx) {
  const Nchw<I> o = nchw_of<I>(idx, g.C, g.OH, g.OW);
  return o.n * xs.s[0] + o.c * xs.s[1] + nearest_source<I>(o.h, g.H, g.OH, g.scale_h) * xs.s[2] + nearest_source<I>(o.w, g.W, g.OW, g.scale_w) * xs.s[3];
}

// Gradient of contiguous input element `idx` ([N, C, H, W]): the sum of grad_out over the output
// positions that read it.
template <typename T, typename I>
KILN_HD compute_t<T> upsample_nearest2d_backward_value(const Upsample2d<I>& g, const T* gout, const Strides<I, 4>& gs, I idx) {
  const Nchw<I> p = nchw_of<I>(idx, g.C, g.H, g.W);
  I oh0 = nearest_first_reading<I>(p.h, g.H, g.OH, g.scale_h), oh1 = nearest_first_reading<I>(p.h + 1, g.H, g.OH, g.scale_h);
  I ow0 = nearest_first_reading<I>(p.w, g.W, g.OW, g.scale_w), ow1 = nearest_first_reading<I>(p.w + 1, g.W, g.OW, g.scale_w);
  const T* plane = gout + p.n * gs.s[0] + p.c * gs.s[1];
  compute_t<T> acc = compute_t<T>(0);
  for (I oh = oh0; oh < oh1; ++oh)
    for (I ow = ow0; ow < ow1; ++ow) acc += load(plane + oh * gs.s[2] + ow * gs.s[3]);
  return acc;
}

// ---- one output element per call ---------------------------------------------------------
//
// Each functor holds a kernel's geometry and pointers and, called with the flat index i of an
// element of its (contiguous) output, computes and stores that element. The CPU splits [0, numel)
// across threads and calls it in a loop; the CUDA kernel calls it from a grid-stride loop. kCost
// is the rough work of one element relative to a copy: it sizes the CPU's chunks (kGrain / kCost
// elements at least per thread); the GPU ignores it.

// im2col: cols[i] from x (zero in the padding).
template <typename T, typename I>
struct Im2colElement {
  static constexpr int kCost = 1;
  Window2d<I> g;
  Strides<I, 4> xs;
  const T* x;
  T* cols;
  KILN_HD void operator()(I i) const {
    I s = im2col_source<I>(g, xs, i);
    cols[i] = s >= 0 ? x[s] : Store<T>::from(0);
  }
};

// im2col with the batch inside: cols[C kh kw, N, OH OW] (element i of that contiguous layout holds
// the entry im2col puts at [n, row, l]), so that the columns of a chunk of images form one matrix
// per channel group with N OH OW columns (the weight gradient's product, math/conv.h).
template <typename T, typename I>
struct Im2colBatchInnerElement {
  static constexpr int kCost = 1;
  Window2d<I> g;
  Strides<I, 4> xs;
  const T* x;
  T* cols;
  KILN_HD void operator()(I i) const {
    const I L = g.OH * g.OW, rows = g.C * g.kh * g.kw;
    const I l = i % L, t = i / L;
    const I n = t % g.N, row = t / g.N;
    I s = im2col_source<I>(g, xs, (n * rows + row) * L + l);
    cols[i] = s >= 0 ? x[s] : Store<T>::from(0);
  }
};

// col2im: image[i], the sum of the column entries taken from it.
template <typename T, typename I>
struct Col2imElement {
  static constexpr int kCost = 8;   // a window's worth of reads
  Window2d<I> g;
  Strides<I, 3> cs;
  const T* cols;
  T* image;
  KILN_HD void operator()(I i) const { store(image + i, col2im_value<T, I>(g, cols, cs, i)); }
};

// max_pool2d: vals[i] and idxs[i], the maximum of window i and its position in the input plane.
template <typename T, typename I>
struct MaxPool2dElement {
  static constexpr int kCost = 8;
  Window2d<I> g;
  Strides<I, 4> xs;
  const T* x;
  T* vals;
  int64_t* idxs;
  KILN_HD void operator()(I i) const {
    compute_t<T> best;
    int64_t pos;
    max_pool2d_value<T, I>(g, x, xs, i, best, pos);
    store(vals + i, best);
    idxs[i] = pos;
  }
};

// upsample_nearest2d: out[i] = x at its nearest source position.
template <typename T, typename I>
struct UpsampleNearest2dElement {
  static constexpr int kCost = 1;
  Upsample2d<I> g;
  Strides<I, 4> xs;
  const T* x;
  T* out;
  KILN_HD void operator()(I i) const { out[i] = x[upsample_nearest2d_source<I>(g, xs, i)]; }
};

// upsample_nearest2d_backward: gin[i], the sum of grad_out over the positions that read input i.
template <typename T, typename I>
struct UpsampleNearest2dBackwardElement {
  static constexpr int kCost = 8;
  Upsample2d<I> g;
  Strides<I, 4> gs;
  const T* gout;
  T* gin;
  KILN_HD void operator()(I i) const { store(gin + i, upsample_nearest2d_backward_value<T, I>(g, gout, gs, i)); }
};

// ---- host side: each kernel's geometry from its call, checked (shared by both devices) -------

inline std::string shape_str(const TensorArg& t) {
  std::string s = "[";
  for (int d = 0; d < t.ndim; ++d) s += (d ? ", " : "") + std::to_string(t.shape[d]);
  return s + "]";
}

inline void check_ndim(const KernelCall& c, const TensorArg& t, int ndim, const char* what) {
  KILN_CHECK_ARG(t.ndim == ndim, Shape, c.name, what, std::to_string(ndim) + " dimensions", shape_str(t));
}

// TypeScript allocates every output contiguous; the kernels index them by flat position.
inline void check_contiguous_out(const KernelCall& c, const TensorArg& t) { KILN_CHECK(t.is_contiguous(), Internal, c.name, "the output must be contiguous"); }

// im2col / col2im: the image [N, C, H, W], the columns [N, C kh kw, OH OW] and the attributes
// [kh, kw, sh, sw, ph, pw, dh, dw] must agree.
template <typename I>
Window2d<I> conv_window(const KernelCall& c, const TensorArg& image, const TensorArg& cols) {
  check_ndim(c, image, 4, "image");
  check_ndim(c, cols, 3, "columns");
  int64_t kh = c.int_attr(0), kw = c.int_attr(1);
  int64_t OH = conv_out_size(image.shape[2], kh, c.int_attr(2), c.int_attr(4), c.int_attr(6));
  int64_t OW = conv_out_size(image.shape[3], kw, c.int_attr(3), c.int_attr(5), c.int_attr(7));
  KILN_CHECK(cols.shape[0] == image.shape[0] && cols.shape[1] == image.shape[1] * kh * kw && cols.shape[2] == OH * OW, Shape, c.name,
             "columns of shape " + shape_str(cols) + " do not match an image of shape " + shape_str(image) + " with this window");
  return make_window<I>(c, image.shape[0], image.shape[1], image.shape[2], image.shape[3], OH, OW);
}

// max_pool2d: x [N, C, H, W] -> values and int64 indices [N, C, OH, OW]; attributes
// [kh, kw, sh, sw, ph, pw, dh, dw, ceil_mode].
template <typename I>
Window2d<I> pool_window(const KernelCall& c, const TensorArg& x, const TensorArg& vals, const TensorArg& idxs) {
  check_ndim(c, x, 4, "input");
  check_contiguous_out(c, vals);
  check_contiguous_out(c, idxs);
  KILN_CHECK(idxs.dtype == DType::Int64, DType, c.name, "indices must be int64");
  bool ceil_mode = c.attr(8) != 0;
  int64_t OH = pool_out_size(x.shape[2], c.int_attr(0), c.int_attr(2), c.int_attr(4), c.int_attr(6), ceil_mode);
  int64_t OW = pool_out_size(x.shape[3], c.int_attr(1), c.int_attr(3), c.int_attr(5), c.int_attr(7), ceil_mode);
  bool ok = vals.ndim == 4 && vals.shape[0] == x.shape[0] && vals.shape[1] == x.shape[1] && vals.shape[2] == OH && vals.shape[3] == OW;
  for (int d = 0; ok && d < 4; ++d) ok = idxs.ndim == 4 && idxs.shape[d] == vals.shape[d];
  KILN_CHECK(ok, Shape, c.name, "outputs of shape " + shape_str(vals) + " do not match the pooling of " + shape_str(x));
  return make_window<I>(c, x.shape[0], x.shape[1], x.shape[2], x.shape[3], OH, OW);
}

// What max_pool2d_backward's indices may hold, for an input plane of `plane` elements; and the same
// for an index found outside it on the device, which reports [0, plane - 1] as the range.
inline std::string plane_positions_expected(int64_t plane) { return "positions in [0, " + std::to_string(plane) + ") of the input plane"; }
inline std::string plane_position_error_wording(const DeviceErrorSlot& e) { return plane_positions_expected(e.hi + 1); }

// max_pool2d_backward: grad_out and int64 indices [N, C, OH, OW], grad_in [N, C, H, W] of
// grad_out's dtype (float32 or float64: TypeScript computes the half types in float32).
inline void check_max_pool_backward(const KernelCall& c, const TensorArg& go, const TensorArg& ind, const TensorArg& gi) {
  check_ndim(c, go, 4, "grad_output");
  check_ndim(c, ind, 4, "indices");
  check_ndim(c, gi, 4, "grad_input");
  check_contiguous_out(c, gi);
  KILN_CHECK_ARG(ind.dtype == DType::Int64, DType, c.name, "indices", "int64", dtype_name(ind.dtype));
  KILN_CHECK_ARG(go.dtype == DType::Float32 || go.dtype == DType::Float64, DType, c.name, "grad_output", "float32 or float64", dtype_name(go.dtype));
  KILN_CHECK(gi.dtype == go.dtype, DType, c.name, "grad_input must have grad_output's dtype");
  for (int d = 0; d < 4; ++d)
    KILN_CHECK_ARG(ind.shape[d] == go.shape[d], Shape, c.name, "indices", "the shape of grad_output " + shape_str(go), shape_str(ind));
  KILN_CHECK(gi.shape[0] == go.shape[0] && gi.shape[1] == go.shape[1], Shape, c.name,
             "grad_input of shape " + shape_str(gi) + " does not match grad_output " + shape_str(go));
}

// upsample_nearest2d (and its backward, with the roles of the tensors swapped): input
// [N, C, H, W], output [N, C, OH, OW]; attributes [scale_factor_h, scale_factor_w] (0: none given).
template <typename I>
Upsample2d<I> upsample_window(const KernelCall& c, const TensorArg& in, const TensorArg& out) {
  check_ndim(c, in, 4, "input");
  check_ndim(c, out, 4, "output");
  KILN_CHECK(in.shape[0] == out.shape[0] && in.shape[1] == out.shape[1], Shape, c.name,
             "input " + shape_str(in) + " and output " + shape_str(out) + " differ in batch or channels");
  Upsample2d<I> g;
  g.N = (I)in.shape[0];
  g.C = (I)in.shape[1];
  g.H = (I)in.shape[2];
  g.W = (I)in.shape[3];
  g.OH = (I)out.shape[2];
  g.OW = (I)out.shape[3];
  g.scale_h = nearest_scale(in.shape[2], out.shape[2], c.attr(0));
  g.scale_w = nearest_scale(in.shape[3], out.shape[3], c.attr(1));
  return g;
}

}}  // namespace kiln::nn
