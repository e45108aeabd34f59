// CPU kernels of the gather/scatter family (gather, scatter, scatter_add, index_select) and
// one_hot. The offset arithmetic is shared with the CUDA kernels (include/kiln/math/indexing.h).
//
// Every index value is checked before anything is read or written: a value outside its range
// throws a ValueError naming the op, the argument, the value and its position, and leaves the
// output (for scatter_/scatter_add_, the caller's tensor) untouched.
#include <atomic>
#include <limits>
#include <string>
#include "elementwise.h"
#include "kiln/math/indexing.h"

namespace kiln { namespace cpu {
namespace {

// Flat position (in the index's row-major order) of its first value outside [0, size), or -1.
template <typename I>
int64_t first_bad_index(const TensorArg& index, int64_t size) {
  const TensorArg* ops[1] = {&index};
  Layout<1> L = make_layout<1>(ops);
  std::atomic<int64_t> first{std::numeric_limits<int64_t>::max()};
  parallel_for(L.numel, kGrain, [&](int64_t b, int64_t e) {
    int64_t i = b, found = -1;
    strided_range<1>(L, b, e, [&](char** p) {
      if (found < 0 && !index_in_range(*(const I*)p[0], size)) found = i;
      ++i;
    });
    if (found >= 0) {   // keep the smallest position over all threads (deterministic message)
      int64_t cur = first.load();
      while (found < cur && !first.compare_exchange_weak(cur, found)) {}
    }
  });
  int64_t f = first.load();
  return f == std::numeric_limits<int64_t>::max() ? -1 : f;
}

// Throws the ValueError for the value at flat position `pos` of `index`.
template <typename I>
[[noreturn]] void throw_bad_index(const KernelCall& c, const TensorArg& index, int64_t pos, int64_t size, const char* arg, const std::string& range_of) {
  std::string where = "[";
  int64_t rem = pos, off = 0;
  int64_t idx[kMaxDims];
  for (int d = index.ndim - 1; d >= 0; --d) { idx[d] = rem % index.shape[d]; rem /= index.shape[d]; off += idx[d] * index.strides[d]; }
  for (int d = 0; d < index.ndim; ++d) where += (d ? ", " : "") + std::to_string(idx[d]);
  where += "]";
  int64_t v = (int64_t)index.ptr<I>()[off];
  fail(ErrorKind::Value, c.name,
       std::string("argument '") + arg + "' holds " + std::to_string(v) + " at position " + where + ", outside the valid range [0, " +
           std::to_string(size - 1) + "] " + range_of + (v < 0 ? " (negative indices are not allowed)" : ""));
}

template <typename I>
void check_indices(const KernelCall& c, const TensorArg& index, int64_t size, const char* arg, const std::string& range_of) {
  int64_t bad = first_bad_index<I>(index, size);
  if (bad >= 0) throw_bad_index<I>(c, index, bad, size, arg, range_of);
}

std::string of_dim(int dim, int64_t size) {
  return "(dimension " + std::to_string(dim) + " of 'input' has size " + std::to_string(size) + ")";
}

// out[p] = self[p with p[dim] = index[p]], for every p of index's shape (its values checked by the
// caller). Reads only, so any split of the elements across threads is safe: one elementwise-style
// loop over (out, index, self).
template <typename T, typename I>
void gather_loop(const TensorArg& out, const TensorArg& index, const TensorArg& self, int dim) {
  TensorArg self_r = restride_indexed(self, index, dim);
  const TensorArg* ops[3] = {&out, &index, &self_r};
  Layout<3> L = make_layout<3>(ops);
  const int64_t dim_stride = self.strides[dim];
  parallel_for(L.numel, kGrain, [&](int64_t b, int64_t e) {
    strided_range<3>(L, b, e, [&](char** p) {
      *(T*)p[0] = ((const T*)p[2])[indexed_offset(0, (int64_t)*(const I*)p[1], dim_stride)];
    });
  });
}

// gather: inputs [self, index], output [out]; attrs [dim].
void gather_kernel(KernelCall& c) {
  int dim = (int)c.int_attr(0);
  TensorArg self = at_least_1d(c.in(0)), index = at_least_1d(c.in(1)), out = at_least_1d(c.out(0));
  check_indexed_call(c.name, self, index, out, dim, false);
  KILN_CHECK(out.dtype == self.dtype, DType, c.name, std::string("expected the output dtype ") + dtype_name(self.dtype) + ", got " + dtype_name(out.dtype));
  if (index.numel == 0) return;
  KILN_DISPATCH_INDEX(index.dtype, c.name, check_indices<scalar_t>(c, index, self.shape[dim], "index", of_dim(dim, self.shape[dim])));
  KILN_DISPATCH_ALL(self.dtype, c.name, {
    using T = scalar_t;
    KILN_DISPATCH_INDEX(index.dtype, c.name, gather_loop<T, scalar_t>(out, index, self, dim));
  });
}
KILN_KERNEL("gather", gather_kernel);

// index_select: inputs [self, index (0-d or 1-d)], output [out]; attrs [dim]. A gather whose
// index is broadcast to the output's shape.
void index_select_kernel(KernelCall& c) {
  int dim = (int)c.int_attr(0);
  TensorArg self = at_least_1d(c.in(0)), out = at_least_1d(c.out(0));
  const TensorArg& index = c.in(1);
  KILN_CHECK(index.ndim <= 1, Shape, c.name, "argument 'index' expected 0 or 1 dimensions, got " + std::to_string(index.ndim));
  KILN_CHECK(out.ndim == self.ndim && dim >= 0 && dim < self.ndim && out.shape[dim] == index.numel, Shape, c.name, "the output's shape does not match the input and index");
  KILN_CHECK(out.dtype == self.dtype, DType, c.name, std::string("expected the output dtype ") + dtype_name(self.dtype) + ", got " + dtype_name(out.dtype));
  if (out.numel == 0) return;
  // Check the index itself (once per value, and the message gives its own position).
  KILN_DISPATCH_INDEX(index.dtype, c.name, check_indices<scalar_t>(c, index, self.shape[dim], "index", of_dim(dim, self.shape[dim])));
  TensorArg bindex = broadcast_index(index, out, dim);
  KILN_DISPATCH_ALL(self.dtype, c.name, {
    using T = scalar_t;
    KILN_DISPATCH_INDEX(index.dtype, c.name, gather_loop<T, scalar_t>(out, bindex, self, dim));
  });
}
KILN_KERNEL("index_select", index_select_kernel);

// target[p with p[dim] = index[p]] <- write(src[p]) for every p of index's shape.
//
// Two index elements can name the same target element only when they differ along dim alone, so
// the dims other than dim are split across threads and each thread walks dim itself, in order:
// no two threads ever touch one target element, and among duplicates the last in index order wins
// (scatter) or all are summed in index order (scatter_add) — deterministic, unlike on the GPU.
template <typename T, typename I, typename Write>
void scatter_loop(const TensorArg& src, const TensorArg& index, const TensorArg& target, int dim, Write write) {
  // Operands without dim: the slices' common part.
  auto drop_dim = [dim](TensorArg t) {
    for (int d = dim; d + 1 < t.ndim; ++d) { t.shape[d] = t.shape[d + 1]; t.strides[d] = t.strides[d + 1]; }
    t.ndim -= 1;
    t.numel = 1;
    for (int d = 0; d < t.ndim; ++d) t.numel *= t.shape[d];
    return t;
  };
  TensorArg s = drop_dim(shaped_like(src, index)), ix = drop_dim(index), tg = drop_dim(restride_indexed(target, index, dim));
  const TensorArg* ops[3] = {&s, &ix, &tg};
  Layout<3> L = make_layout<3>(ops);
  const int64_t n = index.shape[dim];
  const int64_t src_step = src.strides[dim], index_step = index.strides[dim], target_stride = target.strides[dim];
  // Walk dim innermost when it is the iterated operands' fastest-moving dim (or the only one).
  const bool dim_inner = L.ndim == 0 || (index_step < 0 ? -index_step : index_step) <= (L.strides[1][L.ndim - 1] < 0 ? -L.strides[1][L.ndim - 1] : L.strides[1][L.ndim - 1]);
  auto visit = [&](char** p, int64_t j) {
    const T* sp = (const T*)p[0] + j * src_step;
    int64_t v = (int64_t)((const I*)p[1])[j * index_step];
    write((T*)p[2] + indexed_offset(0, v, target_stride), sp);
  };
  const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(1, n));
  parallel_for(L.numel, grain, [&](int64_t b, int64_t e) {
    if (dim_inner) {
      strided_range<3>(L, b, e, [&](char** p) { for (int64_t j = 0; j < n; ++j) visit(p, j); });
    } else {
      for (int64_t j = 0; j < n; ++j) strided_range<3>(L, b, e, [&](char** p) { visit(p, j); });
    }
  });
}

// The scatter kernels' shared prologue: operands, checks, then `body(src, index, target, dim)`.
// Inputs [target, index, src?]: the target (also output 0) is written in place.
template <typename Body>
void scatter_common(KernelCall& c, bool needs_src, Body body) {
  int dim = (int)c.int_attr(0);
  TensorArg target = at_least_1d(c.out(0)), index = at_least_1d(c.in(1));
  TensorArg src = c.n_inputs > 2 ? at_least_1d(c.in(2)) : index;   // value form: src unused
  KILN_CHECK(!needs_src || c.n_inputs > 2, Internal, c.name, "missing input 'src'");
  check_indexed_call(c.name, target, index, src, dim, true);
  if (c.n_inputs > 2)
    KILN_CHECK(src.dtype == target.dtype, DType, c.name, std::string("argument 'src' expected dtype ") + dtype_name(target.dtype) + ", got " + dtype_name(src.dtype));
  if (index.numel == 0) return;
  KILN_DISPATCH_INDEX(index.dtype, c.name, check_indices<scalar_t>(c, index, target.shape[dim], "index", of_dim(dim, target.shape[dim])));
  body(src, index, target, dim);
}

// scatter: inputs [target, index, src] or [target, index] with the value in attr 1; output
// [target]; attrs [dim, value].
void scatter_kernel(KernelCall& c) {
  scatter_common(c, false, [&](const TensorArg& src, const TensorArg& index, const TensorArg& target, int dim) {
    KILN_DISPATCH_ALL(target.dtype, c.name, {
      using T = scalar_t;
      if (c.n_inputs > 2) {
        KILN_DISPATCH_INDEX(index.dtype, c.name, scatter_loop<T, scalar_t>(src, index, target, dim, AssignFrom()));
      } else {
        AssignValue<T> w{Store<T>::from(c.attr(1))};
        KILN_DISPATCH_INDEX(index.dtype, c.name, scatter_loop<T, scalar_t>(src, index, target, dim, w));
      }
    });
  });
}
KILN_KERNEL("scatter", scatter_kernel);

// scatter_add: inputs [target, index, src], output [target]; attrs [dim]. float32, float64, int32,
// int64 (the TypeScript op computes the half types through a float32 copy, on both devices).
void scatter_add_kernel(KernelCall& c) {
  scatter_common(c, true, [&](const TensorArg& src, const TensorArg& index, const TensorArg& target, int dim) {
    auto run = [&](auto tag) {
      using T = decltype(tag);
      KILN_DISPATCH_INDEX(index.dtype, c.name, scatter_loop<T, scalar_t>(src, index, target, dim, AddInto()));
    };
    switch (target.dtype) {
      case DType::Float32: run(float()); break;
      case DType::Float64: run(double()); break;
      case DType::Int32: run(int32_t()); break;
      case DType::Int64: run(int64_t()); break;
      default: throw_dtype_error(c.name, target.dtype, "float32, float64, int32 or int64 (half types are computed in float32 by the op)");
    }
  });
}
KILN_KERNEL("scatter_add", scatter_add_kernel);

// one_hot: input [index] (int32/int64, any shape), output [out] (int64, contiguous, shape
// index.shape + [C]); attrs [C]. out[..., c] = index[...] == c.
template <typename I>
void one_hot_loop(const KernelCall& c, const TensorArg& index, int64_t* out, int64_t classes) {
  int64_t bad = first_bad_index<I>(index, classes);
  if (bad >= 0) throw_bad_index<I>(c, index, bad, classes, "input", "(class values must be in [0, numClasses - 1], numClasses = " + std::to_string(classes) + ")");
  const TensorArg* ops[1] = {&index};
  Layout<1> L = make_layout<1>(ops);
  parallel_for(L.numel, std::max<int64_t>(1, kGrain / classes), [&](int64_t b, int64_t e) {
    int64_t row = b;
    strided_range<1>(L, b, e, [&](char** p) {
      int64_t* o = out + row * classes;
      for (int64_t k = 0; k < classes; ++k) o[k] = 0;
      o[*(const I*)p[0]] = 1;
      ++row;
    });
  });
}

void one_hot_kernel(KernelCall& c) {
  const TensorArg& index = c.in(0);
  TensorArg& out = c.out(0);
  int64_t classes = c.int_attr(0);
  KILN_CHECK(out.dtype == DType::Int64 && out.is_contiguous(), Internal, c.name, "expected a contiguous int64 output");
  KILN_CHECK(classes >= 1 && out.numel == index.numel * classes, Shape, c.name, "the output's shape does not match index.shape + [numClasses]");
  if (out.numel == 0) return;
  KILN_DISPATCH_INDEX(index.dtype, c.name, one_hot_loop<scalar_t>(c, index, out.ptr<int64_t>(), classes));
}
KILN_KERNEL("one_hot", one_hot_kernel);

}  // namespace
}}  // namespace kiln::cpu
