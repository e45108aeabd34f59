// The layout of a reduction (and of softmax, a reduction followed by an elementwise pass), shared
// by the CPU and CUDA loops. TypeScript hands the kernel an input permuted so that the reduced dims
// come last; here both groups of dims are coalesced (size-1 dims dropped, dims that are contiguous
// with their inner neighbour merged, row-major order kept), so the common cases become
//   rows:    one reduced dim of stride 1 (reduce the innermost run), or
//   columns: a reduced dim of stride > 1 with the innermost kept dim of stride 1 (reduce across
//            an outer dim: neighbouring outputs read neighbouring addresses).
// Output element o (row-major over the kept dims) reads input offsets kept(o) + red(j), j in [0, R).
#pragma once
#include <algorithm>
#include <cstdint>
#include <type_traits>
#include "kiln/int_divider.h"
#include "kiln/kernel.h"
#include "kiln/strided.h"

namespace kiln {

// Linear index -> element offset over a few dims (outermost first). IndexT is int32_t when every
// offset and count fits: then each division by a dim's size is IntDivider's multiply and shift
// (a hardware 32-bit divide is a loop of about twenty instructions on the GPU, once per element
// read); int64_t otherwise. The outermost dim needs no division: what is left of `linear` there is
// its index.
template <typename IndexT>
struct DimCalc {
  int ndim = 0;
  IndexT shape[kMaxDims];
  IndexT strides[kMaxDims];
  IntDivider divs[kMaxDims];   // shape[i] as a divider; set and read for int32_t only

  KILN_HD IndexT offset(IndexT linear) const {
    if (ndim == 1) return linear * strides[0];
    IndexT off = 0;
    for (int i = ndim - 1; i > 0; --i) {
      const IndexT q = quotient(linear, i);
      off += (linear - q * shape[i]) * strides[i];
      linear = q;
    }
    return ndim > 0 ? off + linear * strides[0] : off;
  }

 private:
  KILN_HD IndexT quotient(IndexT n, int i) const {
    if constexpr (std::is_same<IndexT, int32_t>::value) return (IndexT)divs[i].div((uint32_t)n);
    else return n / shape[i];
  }
};

// Coalesces dims [0, n) of (shape, strides) into (out_shape, out_strides), outermost first. A
// zero-size group becomes one dim of size 0; an all-size-1 group becomes no dims.
inline int coalesce_dims(int n, const int64_t* shape, const int64_t* strides, int64_t* out_shape, int64_t* out_strides) {
  int64_t sh[kMaxDims], st[kMaxDims];
  int k = 0;   // kept so far, innermost first
  for (int d = n - 1; d >= 0; --d) {
    if (shape[d] == 0) {
      out_shape[0] = 0;
      out_strides[0] = 0;
      return 1;
    }
    if (shape[d] == 1) continue;
    if (k > 0 && strides[d] == st[k - 1] * sh[k - 1]) {
      sh[k - 1] *= shape[d];   // d continues its inner neighbour: one longer dim, same stride
    } else {
      sh[k] = shape[d];
      st[k] = strides[d];
      ++k;
    }
  }
  for (int i = 0; i < k; ++i) {
    out_shape[i] = sh[k - 1 - i];
    out_strides[i] = st[k - 1 - i];
  }
  return k;
}

struct ReduceLayout {
  int kept_ndim = 0, red_ndim = 0;
  int64_t kept_shape[kMaxDims], kept_strides[kMaxDims];   // input strides of the kept dims
  int64_t red_shape[kMaxDims], red_strides[kMaxDims];
  int64_t O = 1;            // outputs (product of kept sizes)
  int64_t R = 1;            // elements reduced into each output
  int64_t max_offset = 0;   // the largest input element offset read

  // Innermost reduced stride (0 when nothing is reduced).
  int64_t red_inner_stride() const { return red_ndim ? red_strides[red_ndim - 1] : 0; }
  // Innermost kept dim: its size and input stride (size 1 when nothing is kept).
  int64_t kept_inner_size() const { return kept_ndim ? kept_shape[kept_ndim - 1] : 1; }
  int64_t kept_inner_stride() const { return kept_ndim ? kept_strides[kept_ndim - 1] : 0; }
  // Reading across an outer dim: neighbouring outputs are neighbours in memory while one output's
  // elements are not (sum over dim 0 of a row-major matrix).
  bool columns() const { return kept_ndim > 0 && kept_inner_stride() == 1 && red_ndim > 0 && red_inner_stride() != 1; }
  bool fits_int32() const { return O < (1LL << 31) && R < (1LL << 31) && max_offset < (1LL << 31); }

  template <typename IndexT> DimCalc<IndexT> kept_calc() const { return calc<IndexT>(kept_ndim, kept_shape, kept_strides); }
  template <typename IndexT> DimCalc<IndexT> red_calc() const { return calc<IndexT>(red_ndim, red_shape, red_strides); }

 private:
  template <typename IndexT> static DimCalc<IndexT> calc(int n, const int64_t* shape, const int64_t* strides) {
    DimCalc<IndexT> c;
    c.ndim = n;
    for (int i = 0; i < n; ++i) {
      c.shape[i] = (IndexT)shape[i];
      c.strides[i] = (IndexT)strides[i];
      if (std::is_same<IndexT, int32_t>::value) c.divs[i] = IntDivider((uint32_t)std::max<int64_t>(shape[i], 1));
    }
    return c;
  }
};

// The layout of `in` whose last `nred` dims are reduced. Strides must be non-negative (views made
// by Kiln are).
inline ReduceLayout make_reduce_layout(const TensorArg& in, int nred) {
  ReduceLayout L;
  int nkept = in.ndim - nred;
  L.kept_ndim = coalesce_dims(nkept, in.shape, in.strides, L.kept_shape, L.kept_strides);
  L.red_ndim = coalesce_dims(nred, in.shape + nkept, in.strides + nkept, L.red_shape, L.red_strides);
  for (int i = 0; i < L.kept_ndim; ++i) L.O *= L.kept_shape[i];
  for (int i = 0; i < L.red_ndim; ++i) L.R *= L.red_shape[i];
  for (int d = 0; d < in.ndim; ++d)
    if (in.shape[d] > 0) L.max_offset += (in.shape[d] - 1) * in.strides[d];
  return L;
}

// Softmax-style operations: NT operands of one shape [...outer, D] (operand 0 the output), each row
// of D elements reduced and then rewritten. The outer dims are coalesced over all operands.
template <int NT>
struct RowLayout {
  Layout<NT> outer;        // the rows (outer.numel of them) and each operand's offsets
  int64_t D = 1;           // elements per row
  int64_t d_stride[NT];    // each operand's stride along the row

  int64_t rows() const { return outer.numel; }
  int64_t outer_inner_size() const { return outer.ndim ? outer.shape[outer.ndim - 1] : 1; }
  // Neighbouring rows are neighbours in memory for every operand while a row is not contiguous
  // (softmax over dim 1 of [N, C, H, W]): process several rows together.
  bool columns() const {
    if (outer.ndim == 0 || d_stride[NT - 1] == 1) return false;
    for (int t = 0; t < NT; ++t)
      if (outer.strides[t][outer.ndim - 1] != 1) return false;
    return true;
  }
  bool fits_int32() const {
    if (outer.numel >= (1LL << 31) || D >= (1LL << 31)) return false;
    for (int t = 0; t < NT; ++t) {
      int64_t extent = (D - 1) * d_stride[t];
      for (int i = 0; i < outer.ndim; ++i) extent += (outer.shape[i] - 1) * outer.strides[t][i];
      if (extent >= (1LL << 31)) return false;
    }
    return true;
  }
};

template <int NT>
RowLayout<NT> make_row_layout(const TensorArg* const ops[NT]) {
  RowLayout<NT> R;
  TensorArg outer[NT];
  const TensorArg* p[NT];
  const int nd = ops[0]->ndim;
  for (int t = 0; t < NT; ++t) {
    outer[t] = *ops[t];
    outer[t].ndim = nd > 0 ? nd - 1 : 0;
    outer[t].numel = 1;
    for (int d = 0; d < outer[t].ndim; ++d) outer[t].numel *= outer[t].shape[d];
    R.d_stride[t] = nd > 0 ? ops[t]->strides[nd - 1] : 1;
    p[t] = &outer[t];
  }
  R.D = nd > 0 ? ops[0]->shape[nd - 1] : 1;
  R.outer = make_layout<NT>(p);
  return R;
}

}  // namespace kiln
