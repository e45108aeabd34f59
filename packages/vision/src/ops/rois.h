// What the RoI kernels (roi-align/, roi-pool/) share about a roi row (batch index, x1, y1, x2, y2).
#pragma once
#include <cstdint>
#include "kiln/math/scalar.h"

namespace kiln { namespace vision {

// The batch index of a roi: an integral value in [0, batch) (-1 when it is not one: torchvision
// truncates whatever it finds and reads out of bounds for a bad one; Kiln refuses it).
template <typename C> KILN_HD int64_t roi_batch(C value, int64_t batch) {
  return value >= C(0) && value < C(batch) && m::floor(value) == value ? (int64_t)value : -1;
}

}}  // namespace kiln::vision
