// The selection ops driven by a mask (nonzero, masked_select and masked_select's gradient), shared
// by cpu/mask_select.cc and cuda/mask_select.cu.
//
// Every op first numbers the selected elements: `positions` (int64, one per element of the mask,
// row-major) holds the inclusive count of selected elements up to and including each one, so a
// selected element p goes to output slot positions[p] - 1, and positions[numel - 1] is the count
// (which the TypeScript op reads back once to size its output, as PyTorch does).
#pragma once
#include <cstdint>
#include <string>
#include "kiln/kernel.h"

namespace kiln {

// An element counts as selected when it is not zero (NaN is not zero; bool: true).
template <typename T> KILN_HD bool is_nonzero(const T* p) { return load(p) != compute_t<T>(0); }

// Coordinates of row-major element p of a tensor of `shape`, written with stride `step` to `out`.
KILN_HD void write_coords(int64_t p, int ndim, const int64_t* shape, int64_t* out, int64_t step) {
  for (int d = ndim - 1; d >= 0; --d) {
    const int64_t q = p / shape[d];
    out[d * step] = p - q * shape[d];
    p = q;
  }
}

// Operand checks both devices make (the TypeScript ops have made them with friendlier messages).
inline void check_positions(const char* op, const TensorArg& positions, int64_t numel) {
  KILN_CHECK(positions.dtype == DType::Int64 && positions.ndim == 1 && positions.numel == numel && positions.strides[0] == 1, Internal, op,
             "expected contiguous int64 positions, one per element (" + std::to_string(numel) + ")");
}
inline void check_same_shape(const char* op, const TensorArg& a, const TensorArg& b, const char* what) {
  bool same = a.ndim == b.ndim;
  for (int d = 0; same && d < a.ndim; ++d) same = a.shape[d] == b.shape[d];
  KILN_CHECK(same, Shape, op, std::string(what) + " must have the same shape (the op broadcasts them)");
}

}  // namespace kiln
