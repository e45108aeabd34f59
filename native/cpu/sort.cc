// CPU kernels of sort and topk (operands: include/kiln/sort_call.h). Each row's elements are
// paired with their index and ordered by (key, index), the key from include/kiln/math/sort_key.h:
// the same total order as the CUDA radix sort's (stable, ties by increasing index). topk orders
// only its k first pairs (a partial sort). Rows are split across threads.
#include <algorithm>
#include <utility>
#include <vector>
#include "kiln/math/sort_key.h"
#include "kiln/sort_call.h"
#include "kiln/strided.h"
#include "parallel.h"

namespace kiln { namespace cpu {
namespace {

template <typename T>
void sort_rows(const SortCall& s) {
  const int last = s.x.ndim - 1;
  TensorArg xr = rows_of(s.x), vr = rows_of(s.values), ir = rows_of(s.indices);
  const TensorArg* ops[3] = {&vr, &ir, &xr};
  const OffsetCalc<3, int64_t> rows(make_layout<3>(ops));
  const int64_t n = s.n, k = s.k;
  const int64_t xs = s.x.strides[last], vs = s.values.strides[last], is = s.indices.strides[last];
  parallel_for(s.rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(n, 1)), [&](int64_t b, int64_t e) {
    std::vector<std::pair<uint64_t, int64_t>> keyed(n);
    for (int64_t r = b; r < e; ++r) {
      int64_t off[3];
      rows.get(r, off);
      const T* xp = s.x.ptr<T>() + off[2];
      for (int64_t j = 0; j < n; ++j) keyed[j] = {sort_key(xp + j * xs, s.descending), j};
      if (k < n) std::partial_sort(keyed.begin(), keyed.begin() + k, keyed.end());
      else std::sort(keyed.begin(), keyed.end());
      T* vp = s.values.ptr<T>() + off[0];
      int64_t* ip = s.indices.ptr<int64_t>() + off[1];
      for (int64_t j = 0; j < k; ++j) {
        vp[j * vs] = xp[keyed[j].second * xs];
        ip[j * is] = keyed[j].second;
      }
    }
  });
}

void sort_kernel(KernelCall& c) {
  SortCall s = check_sort_call(c);
  if (s.values.numel == 0) return;
  KILN_DISPATCH_ALL(s.x.dtype, c.name, sort_rows<scalar_t>(s));
}

}  // namespace

KILN_KERNEL("sort", sort_kernel);
KILN_KERNEL("topk", sort_kernel);

}}  // namespace kiln::cpu
