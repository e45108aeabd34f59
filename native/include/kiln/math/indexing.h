// Index arithmetic of the gather/scatter family (gather, scatter, scatter_add, index_select),
// shared by the CPU loops (cpu/index.cc) and the CUDA kernels (cuda/index.cu).
//
// These ops visit every element p of `index` (shape S, the same number of dims as the data). The
// element they read (gather) or write (scatter) in the "indexed" tensor t is p with p[dim]
// replaced by the index value v = index[p]:
//
//   offset_t(p) = sum_{d != dim} p[d] * t.stride[d]  +  v * t.stride[dim]
//
// restride_indexed() gives t the shape S and stride 0 along dim, so the sum is an ordinary strided
// offset that make_layout / OffsetCalc compute as for any elementwise operand; the kernels then add
// v * t.stride[dim] (indexed_offset). The "iterated" operand (gather's output, scatter's src) is
// visited at p itself: shaped_like() gives it the index's shape (scatter's src may be larger).
//
// index_select(t, dim, idx) is gather with the 1-d idx broadcast to the output's shape
// (broadcast_index: stride 0 in every dim but dim).
#pragma once
#include <cstdint>
#include <string>
#include "kiln/kernel.h"

namespace kiln {

// True when v is a valid position along a dimension of `size` elements. Negative values are
// errors (as in PyTorch's gather/scatter), not counted from the end.
template <typename I> KILN_HD bool index_in_range(I v, int64_t size) { return v >= 0 && (int64_t)v < size; }

// Element offset in the indexed tensor: its restrided offset plus v steps along dim (64-bit: the
// indexed tensor may be far larger than the index).
KILN_HD int64_t indexed_offset(int64_t restrided, int64_t v, int64_t dim_stride) { return restrided + v * dim_stride; }

// What the scatter kernels do at each target element (the CUDA scatter_add uses atomicAdd instead
// of AddInto: several threads may add to one element).
struct AssignFrom {
  template <typename T> KILN_HD void operator()(T* dst, const T* src) const { *dst = *src; }
};
template <typename T> struct AssignValue {
  T value;
  KILN_HD void operator()(T* dst, const T* /*src*/) const { *dst = value; }
};
struct AddInto {
  template <typename T> KILN_HD void operator()(T* dst, const T* src) const { store(dst, load(dst) + load(src)); }
};

// ---- host-side geometry (both devices prepare their operands the same way) -------------------

// A 0-d tensor as a 1-d tensor of one element, so that dim 0 exists.
inline TensorArg at_least_1d(TensorArg t) {
  if (t.ndim == 0) {
    t.ndim = 1;
    t.shape[0] = 1;
    t.strides[0] = 0;
    t.numel = 1;
  }
  return t;
}

// t with `like`'s shape (t is at least as large in every dim; the strides are t's own).
inline TensorArg shaped_like(TensorArg t, const TensorArg& like) {
  t.ndim = like.ndim;
  for (int d = 0; d < like.ndim; ++d) t.shape[d] = like.shape[d];
  t.numel = like.numel;
  return t;
}

// The indexed tensor t with the index's shape and stride 0 along dim (see the top of this file).
inline TensorArg restride_indexed(const TensorArg& t, const TensorArg& index, int dim) {
  TensorArg r = shaped_like(t, index);
  r.strides[dim] = 0;
  return r;
}

// index_select's 1-d (or 0-d) index as a gather index of the output's shape.
inline TensorArg broadcast_index(const TensorArg& index, const TensorArg& out, int dim) {
  TensorArg r = index;
  r.ndim = out.ndim;
  r.numel = out.numel;
  for (int d = 0; d < out.ndim; ++d) {
    r.shape[d] = out.shape[d];
    r.strides[d] = 0;
  }
  r.strides[dim] = index.ndim == 0 ? 0 : index.strides[0];
  return r;
}

// Largest |element offset| reachable in t: 32-bit offset arithmetic is safe below 2^31.
inline int64_t max_offset(const TensorArg& t) {
  if (t.numel == 0) return 0;
  int64_t m = 0;
  for (int d = 0; d < t.ndim; ++d) m += (t.shape[d] - 1) * (t.strides[d] < 0 ? -t.strides[d] : t.strides[d]);
  return m;
}

// The operand checks both devices make at the native boundary (the TypeScript op has made them
// already with friendlier messages; these keep a direct kernel call from reading out of bounds).
inline void check_indexed_call(const char* op, const TensorArg& data, const TensorArg& index, const TensorArg& iter, int dim, bool iter_at_least_index) {
  KILN_CHECK_ARG(index.ndim == data.ndim, Shape, op, "index", std::to_string(data.ndim) + " dimensions (as 'input')", std::to_string(index.ndim));
  KILN_CHECK_ARG(iter.ndim == index.ndim, Shape, op, "", "the output/src to have " + std::to_string(index.ndim) + " dimensions", std::to_string(iter.ndim));
  KILN_CHECK_ARG(dim >= 0 && dim < data.ndim, Shape, op, "dim", "a dimension in [0, " + std::to_string(data.ndim - 1) + "]", std::to_string(dim));
  for (int d = 0; d < data.ndim; ++d) {
    KILN_CHECK_ARG(d == dim || index.shape[d] <= data.shape[d], Shape, op, "index",
                   "size <= " + std::to_string(data.shape[d]) + " in dimension " + std::to_string(d), std::to_string(index.shape[d]));
    KILN_CHECK_ARG(iter_at_least_index ? iter.shape[d] >= index.shape[d] : iter.shape[d] == index.shape[d], Shape, op, "",
                   "the output/src size in dimension " + std::to_string(d) + " to " + (iter_at_least_index ? "be at least " : "equal ") +
                       std::to_string(index.shape[d]) + " (the index's)",
                   std::to_string(iter.shape[d]));
  }
}

}  // namespace kiln
