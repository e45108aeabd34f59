// The operands of the sort and topk kernels, checked the same way on both devices (cpu/sort.cc,
// cuda/sort.cu):
//
//   inputs  [x]                    any dtype; the last dim is the one sorted (the TypeScript op
//                                  moves the requested dim last as a view), any strides
//   outputs [values, indices]      x's shape with the last dim k <= n (sort: k = n); values in x's
//                                  dtype, indices int64 (positions along the sorted dim)
//   attrs   [descending]           1: largest first (topk's `largest`), 0: smallest first
//
// Each row keeps its k first elements in the order of kiln/math/sort_key.h, ties by increasing index.
#pragma once
#include <string>
#include "kiln/kernel.h"

namespace kiln {

struct SortCall {
  TensorArg x, values, indices;
  int64_t n, k;          // sorted length, kept length
  int64_t rows;          // product of the other dims
  bool descending;
};

// The dims but the last: the rows' geometry (a 1-d tensor has one row, at offset 0).
inline TensorArg rows_of(TensorArg t) {
  t.ndim -= 1;
  t.numel = 1;
  for (int d = 0; d < t.ndim; ++d) t.numel *= t.shape[d];
  return t;
}

inline SortCall check_sort_call(KernelCall& c) {
  KILN_CHECK(c.n_inputs == 1 && c.n_outputs == 2 && c.n_attrs >= 1, Internal, c.name, "expected inputs [x], outputs [values, indices], attrs [descending]");
  SortCall s{c.in(0), c.out(0), c.out(1), 0, 0, 0, c.attr(0) != 0};
  const int nd = s.x.ndim;
  KILN_CHECK(nd >= 1 && s.values.ndim == nd && s.indices.ndim == nd, Shape, c.name,
             "expected x, values and indices with the same number of dimensions (at least 1)");
  for (int d = 0; d + 1 < nd; ++d)
    KILN_CHECK(s.values.shape[d] == s.x.shape[d] && s.indices.shape[d] == s.x.shape[d], Shape, c.name,
               "values and indices must have x's shape but in the last dimension");
  s.n = s.x.shape[nd - 1];
  s.k = s.values.shape[nd - 1];
  KILN_CHECK(s.indices.shape[nd - 1] == s.k && s.k <= s.n, Shape, c.name,
             "expected k <= " + std::to_string(s.n) + " elements per row, got " + std::to_string(s.k));
  KILN_CHECK(s.values.dtype == s.x.dtype, DType, c.name,
             std::string("expected values of dtype ") + dtype_name(s.x.dtype) + ", got " + dtype_name(s.values.dtype));
  KILN_CHECK(s.indices.dtype == DType::Int64, DType, c.name, std::string("expected int64 indices, got ") + dtype_name(s.indices.dtype));
  s.rows = rows_of(s.x).numel;
  return s;
}

}  // namespace kiln
