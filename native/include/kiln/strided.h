// Strided iteration over several operands of one shape (the elementwise case: TypeScript has
// already expanded broadcast operands to the output's shape with stride 0).
//
// make_layout() coalesces dimensions that are contiguous for every operand, so a contiguous or
// simply-broadcast tensor becomes one or two flat dimensions; OffsetCalc turns a linear index into
// each operand's element offset (used by the GPU kernels and by the CPU cursor's start).
#pragma once
#include <cstdint>
#include "kiln/kernel.h"

namespace kiln {

template <int NT>
struct Layout {
  int ndim = 0;
  int64_t numel = 1;
  int64_t shape[kMaxDims];
  int64_t strides[NT][kMaxDims];
  char* data[NT];
  int elem_size[NT];

  bool contiguous() const {   // one flat dimension, unit stride for every operand
    if (ndim == 0) return true;
    if (ndim != 1) return false;
    for (int t = 0; t < NT; ++t)
      if (strides[t][0] != 1) return false;
    return true;
  }
};

// Operand 0 is the output. All operands must have the same shape.
template <int NT>
Layout<NT> make_layout(const TensorArg* const ops[NT]) {
  Layout<NT> L;
  const TensorArg& ref = *ops[0];
  for (int t = 0; t < NT; ++t) {
    L.data[t] = ops[t]->data;
    L.elem_size[t] = dtype_size(ops[t]->dtype);
  }
  // Walk dims from innermost outwards, dropping size-1 dims and merging d into the previous kept
  // (inner) dim when every operand's stride[d] == stride[inner] * shape[inner].
  int64_t shape[kMaxDims];
  int64_t strides[NT][kMaxDims];
  int n = 0;
  for (int d = ref.ndim - 1; d >= 0; --d) {
    int64_t s = ref.shape[d];
    if (s == 1) continue;
    bool merge = n > 0;
    for (int t = 0; t < NT && merge; ++t) merge = ops[t]->strides[d] == strides[t][n - 1] * shape[n - 1];
    if (merge) {
      shape[n - 1] *= s;
    } else {
      shape[n] = s;
      for (int t = 0; t < NT; ++t) strides[t][n] = ops[t]->strides[d];
      ++n;
    }
  }
  // Store outermost first.
  L.ndim = n;
  L.numel = ref.numel;
  for (int i = 0; i < n; ++i) {
    L.shape[i] = shape[n - 1 - i];
    for (int t = 0; t < NT; ++t) L.strides[t][i] = strides[t][n - 1 - i];
  }
  return L;
}

// Linear index -> per-operand element offsets. IndexT is int32_t when numel < 2^31 (cheaper
// division on the GPU) and int64_t otherwise.
template <int NT, typename IndexT>
struct OffsetCalc {
  int ndim;
  IndexT shape[kMaxDims];
  IndexT strides[NT][kMaxDims];

  explicit OffsetCalc(const Layout<NT>& L) : ndim(L.ndim) {
    for (int i = 0; i < L.ndim; ++i) {
      shape[i] = (IndexT)L.shape[i];
      for (int t = 0; t < NT; ++t) strides[t][i] = (IndexT)L.strides[t][i];
    }
  }
  KILN_HD void get(IndexT linear, IndexT off[NT]) const {
    for (int t = 0; t < NT; ++t) off[t] = 0;
    for (int i = ndim - 1; i >= 0; --i) {
      IndexT idx = linear % shape[i];
      linear /= shape[i];
      for (int t = 0; t < NT; ++t) off[t] += idx * strides[t][i];
    }
  }
};

}  // namespace kiln
