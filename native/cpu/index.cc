// CPU kernels of the gather/scatter family (gather, scatter, scatter_add, index_select) and
// one_hot: the loops. The offset arithmetic is shared with the CUDA kernels
// (include/kiln/math/indexing.h), and so are the entry points (include/kiln/index_entry_points.inc).
//
// Every index value is checked before anything is read or written: a value outside its range
// throws a ValueError naming the op, the argument, the value and its position, and leaves the
// output (for scatter_/scatter_add_, the caller's tensor) untouched.
#include <atomic>
#include <limits>
#include <string>
#include "elementwise.h"
#include "kiln/math/indexing.h"

namespace kiln { namespace cpu { namespace {

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
  for (int d = index.ndim - 1; d >= 0; --d) {
    idx[d] = rem % index.shape[d];
    rem /= index.shape[d];
    off += idx[d] * index.strides[d];
  }
  for (int d = 0; d < index.ndim; ++d) where += (d ? ", " : "") + std::to_string(idx[d]);
  where += "]";
  int64_t v = (int64_t)index.ptr<I>()[off];
  std::string range = "[0, " + std::to_string(size - 1) + "]";
  fail(ErrorKind::Value, {c.name, arg, "a value in " + range, std::to_string(v)},
       std::string("argument '") + arg + "' holds " + std::to_string(v) + " at position " + where + ", outside the valid range " + range + " " + range_of +
           (v < 0 ? " (negative indices are not allowed)" : ""));
}

std::string of_dim(int dim, int64_t size) { return "(dimension " + std::to_string(dim) + " of 'input' has size " + std::to_string(size) + ")"; }

// The entry points' host-side check of the gather/scatter index values (see index_entry_points.inc).
template <typename I>
void check_index_values(const KernelCall& c, const TensorArg& index, int dim, int64_t size) {
  int64_t bad = first_bad_index<I>(index, size);
  if (bad >= 0) throw_bad_index<I>(c, index, bad, size, "index", of_dim(dim, size));
}

// out[p] = self[p with p[dim] = index[p]], for every p of index's shape (its values checked by the
// caller). Reads only, so any split of the elements across threads is safe: one elementwise-style
// loop over (out, index, self).
template <typename T, typename I>
void gather_loop(const KernelCall&, const TensorArg& out, const TensorArg& index, const TensorArg& self, int dim) {
  TensorArg self_r = restride_indexed(self, index, dim);
  const TensorArg* ops[3] = {&out, &index, &self_r};
  Layout<3> L = make_layout<3>(ops);
  const int64_t dim_stride = self.strides[dim];
  parallel_for(L.numel, kGrain, [&](int64_t b, int64_t e) {
    strided_range<3>(L, b, e, [&](char** p) { *(T*)p[0] = ((const T*)p[2])[indexed_offset(0, (int64_t)*(const I*)p[1], dim_stride)]; });
  });
}

// target[p with p[dim] = index[p]] <- write(src[p]) for every p of index's shape.
//
// Two index elements can name the same target element only when they differ along dim alone, so
// the dims other than dim are split across threads and each thread walks dim itself, in order:
// no two threads ever touch one target element, and among duplicates the last in index order wins
// (scatter) or all are summed in index order (scatter_add) — deterministic, unlike on the GPU.
template <typename T, typename I, typename Write>
void scatter_loop(const KernelCall&, const TensorArg& src, const TensorArg& index, const TensorArg& target, int dim, Write write) {
  // Operands without dim: the slices' common part.
  auto drop_dim = [dim](TensorArg t) {
    for (int d = dim; d + 1 < t.ndim; ++d) {
      t.shape[d] = t.shape[d + 1];
      t.strides[d] = t.strides[d + 1];
    }
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
  const bool dim_inner =
      L.ndim == 0 || (index_step < 0 ? -index_step : index_step) <= (L.strides[1][L.ndim - 1] < 0 ? -L.strides[1][L.ndim - 1] : L.strides[1][L.ndim - 1]);
  auto visit = [&](char** p, int64_t j) {
    const T* sp = (const T*)p[0] + j * src_step;
    int64_t v = (int64_t)((const I*)p[1])[j * index_step];
    write((T*)p[2] + indexed_offset(0, v, target_stride), sp);
  };
  const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(1, n));
  parallel_for(L.numel, grain, [&](int64_t b, int64_t e) {
    if (dim_inner) {
      strided_range<3>(L, b, e, [&](char** p) {
        for (int64_t j = 0; j < n; ++j) visit(p, j);
      });
    } else {
      for (int64_t j = 0; j < n; ++j) strided_range<3>(L, b, e, [&](char** p) { visit(p, j); });
    }
  });
}

using ScatterAddInto = AddInto;   // one thread owns each target element (see scatter_loop)

// one_hot's loop: out[row * classes + k] = index[row] == k, the index values checked first.
template <typename I>
void one_hot_fill(const KernelCall& c, const TensorArg& index, int64_t* out, int64_t classes) {
  int64_t bad = first_bad_index<I>(index, classes);
  if (bad >= 0)
    throw_bad_index<I>(c, index, bad, classes, "input", "(class values must be in [0, numClasses - 1], numClasses = " + std::to_string(classes) + ")");
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

#include "kiln/index_entry_points.inc"

}  // namespace
}}  // namespace kiln::cpu
