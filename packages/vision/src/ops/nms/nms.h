// Non-maximum suppression's overlap test and operands, shared by nms_cpu.cc and nms_cuda.cu.
//
// Kernel "nms": inputs [boxes [N, 4] (x1, y1, x2, y2), order int64 [N], classes? int32/int64 [N]],
// outputs [keep bool [N]]; attrs [iouThreshold]. `order` lists the boxes by decreasing score (the
// TypeScript op sorts them, stably, so equal scores go by increasing index). keep[k] says whether
// the k-th box of that order survives: greedily, a box is kept unless a kept box before it in the
// order overlaps it by IoU > iouThreshold. With `classes`, only boxes of the same class suppress
// each other (batched NMS: the same result as NMS run on each class alone).
#pragma once
#include <cstdint>
#include "kiln/dtype.h"
#include "kiln/kernel.h"
#include "kiln/math/scalar.h"

namespace kiln { namespace vision {

// A box in the compute type (float for float32 and the half types, double for float64).
template <typename C> struct Box {
  C x1, y1, x2, y2;
};

// torchvision's test: the intersection over union of a and b, in the compute type, compared in
// double with the threshold (as its CPU kernel compares a float IoU with its double threshold).
// Two empty boxes give 0 / 0 = NaN, which is not above any threshold: they never suppress.
// Every product and sum is rounded on its own (m::mul_rn, m::add_rn: no fused multiply-add on the
// GPU), so both devices, and torchvision's CPU kernel, take the same decisions.
template <typename C> KILN_HD bool overlaps(const Box<C>& a, const Box<C>& b, double threshold) {
  const C w = (a.x2 < b.x2 ? a.x2 : b.x2) - (a.x1 > b.x1 ? a.x1 : b.x1);
  const C h = (a.y2 < b.y2 ? a.y2 : b.y2) - (a.y1 > b.y1 ? a.y1 : b.y1);
  const C inter = m::mul_rn(w > C(0) ? w : C(0), h > C(0) ? h : C(0));
  const C area_a = m::mul_rn(a.x2 - a.x1, a.y2 - a.y1), area_b = m::mul_rn(b.x2 - b.x1, b.y2 - b.y1);
  return (double)(inter / (m::add_rn(area_a, area_b) - inter)) > threshold;
}

// Box k of an [N, 4] tensor of any strides, in the compute type.
template <typename T> KILN_HD Box<compute_t<T>> load_box(const T* boxes, int64_t k, int64_t row_stride, int64_t col_stride) {
  const T* p = boxes + k * row_stride;
  return {load(p), load(p + col_stride), load(p + 2 * col_stride), load(p + 3 * col_stride)};
}

// The operand checks both devices make (the TypeScript op has made them with friendlier messages).
inline int64_t check_nms_call(KernelCall& c) {
  KILN_CHECK((c.n_inputs == 2 || c.n_inputs == 3) && c.n_outputs == 1 && c.n_attrs == 1, Internal, c.name,
             "expected inputs [boxes, order, classes?], outputs [keep], attrs [iouThreshold]");
  const TensorArg &boxes = c.in(0), &order = c.in(1), &keep = c.out(0);
  const int64_t n = boxes.ndim == 2 ? boxes.shape[0] : -1;
  KILN_CHECK(boxes.ndim == 2 && boxes.shape[1] == 4, Shape, c.name, "argument 'boxes' expected shape [N, 4]");
  KILN_CHECK(order.ndim == 1 && order.shape[0] == n && order.dtype == DType::Int64, Shape, c.name, "expected an int64 order of N boxes");
  KILN_CHECK(keep.ndim == 1 && keep.shape[0] == n && keep.dtype == DType::Bool, Shape, c.name, "expected a bool keep of N boxes");
  if (c.n_inputs == 3) KILN_CHECK(c.in(2).ndim == 1 && c.in(2).shape[0] == n, Shape, c.name, "argument 'idxs' expected one class per box");
  return n;
}

}}  // namespace kiln::vision
