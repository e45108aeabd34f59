// CPU kernel of non-maximum suppression (operands and overlap test: nms.h). The boxes are copied
// into score order in the compute type; with classes, each class's boxes (a stable sort of the
// score order by class) are suppressed among themselves only, so the work is the sum over classes
// of (boxes of the class)², not (all boxes)²: torchvision's per-class loop, in one pass.
#include <algorithm>
#include <numeric>
#include <string>
#include <vector>
#include "nms.h"

namespace kiln { namespace vision {
namespace {

template <typename I>
void read_classes(const TensorArg& classes, const int64_t* order, int64_t os, int64_t n, std::vector<int64_t>& out) {
  const I* p = classes.ptr<I>();
  for (int64_t k = 0; k < n; ++k) out[k] = (int64_t)p[order[k * os] * classes.strides[0]];
}

template <typename T>
void nms_boxes(KernelCall& c, int64_t n) {
  using C = compute_t<T>;
  const TensorArg &boxes = c.in(0), &ord = c.in(1);
  TensorArg& keep = c.out(0);
  const int64_t* order = ord.ptr<int64_t>();
  const int64_t os = ord.strides[0], ks = keep.strides[0];
  const double threshold = c.attr(0);

  std::vector<Box<C>> sorted(n);
  for (int64_t k = 0; k < n; ++k) {
    const int64_t o = order[k * os];
    KILN_CHECK(o >= 0 && o < n, Value, c.name, "argument 'order' holds " + std::to_string(o) + ", outside [0, " + std::to_string(n - 1) + "]");
    sorted[k] = load_box(boxes.ptr<T>(), o, boxes.strides[0], boxes.strides[1]);
  }
  // The score-order positions grouped by class (one group without classes), score order within each.
  std::vector<int64_t> pos(n), cls(c.n_inputs == 3 ? n : 0);
  std::iota(pos.begin(), pos.end(), 0);
  if (c.n_inputs == 3) {
    KILN_DISPATCH_INDEX(c.in(2).dtype, c.name, read_classes<scalar_t>(c.in(2), order, os, n, cls));
    std::stable_sort(pos.begin(), pos.end(), [&](int64_t a, int64_t b) { return cls[a] < cls[b]; });
  }
  bool* kept = keep.ptr<bool>();
  for (int64_t k = 0; k < n; ++k) kept[k * ks] = false;
  std::vector<char> suppressed(n, 0);
  for (int64_t begin = 0; begin < n;) {
    int64_t end = cls.empty() ? n : begin + 1;
    while (end < n && cls[pos[end]] == cls[pos[begin]]) ++end;   // the run of one class
    for (int64_t a = begin; a < end; ++a) {
      const int64_t i = pos[a];
      if (suppressed[i]) continue;
      kept[i * ks] = true;
      for (int64_t b = a + 1; b < end; ++b) {
        const int64_t j = pos[b];
        if (!suppressed[j] && overlaps(sorted[i], sorted[j], threshold)) suppressed[j] = 1;
      }
    }
    begin = end;
  }
}

void nms_kernel(KernelCall& c) {
  const int64_t n = check_nms_call(c);
  if (n == 0) return;
  KILN_DISPATCH_FLOATING(c.in(0).dtype, c.name, nms_boxes<scalar_t>(c, n));
}

}  // namespace

KILN_KERNEL("nms", nms_kernel);

}}  // namespace kiln::vision
