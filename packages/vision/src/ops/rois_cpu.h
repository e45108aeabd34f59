// What the RoI ops' CPU kernels share: the rois' batch elements, checked on the calling thread
// (an error cannot leave an OpenMP region), and the rois grouped by batch element, the work list
// of each (batch, channel) plane in the atomic-free backward passes.
#pragma once
#include <string>
#include <vector>
#include "kiln/dtype.h"
#include "kiln/kernel.h"
#include "cpu/parallel.h"
#include "rois.h"

namespace kiln { namespace vision {

// The batch element of each row of `rois` [K, 5] (scalar type T); a ValueError names the first
// row whose index is not an integer in [0, batch).
template <typename T> std::vector<int64_t> roi_batches(const KernelCall& c, const TensorArg& rois, int64_t batch) {
  std::vector<int64_t> out(rois.shape[0]);
  for (int64_t k = 0; k < rois.shape[0]; ++k) {
    const compute_t<T> value = load(rois.ptr<T>() + k * 5);
    out[k] = roi_batch(value, batch);
    KILN_CHECK(out[k] >= 0, Value, c.name,
               "argument 'rois' holds the batch index " + std::to_string((double)value) + " in row " + std::to_string(k) + "; expected an integer in [0, " +
                   std::to_string(batch - 1) + "]");
  }
  return out;
}

// The rows of each batch element, in row order.
inline std::vector<std::vector<int64_t>> rows_by_batch(const std::vector<int64_t>& batch_of, int64_t batch) {
  std::vector<std::vector<int64_t>> rows(batch);
  for (int64_t k = 0; k < (int64_t)batch_of.size(); ++k) rows[batch_of[k]].push_back(k);
  return rows;
}

// The atomic-free backward passes' loop: zeroes each (batch, channel) plane of gradInput
// [N, C, H, W] (scalar type T) and calls add(plane, k, channel) for the rows k of the plane's
// batch element in row order. The planes are split across threads, so no two threads write one
// element and the sums come out the same on every run.
template <typename T, typename Add>
void for_each_plane(T* grad_input, int64_t channels, int64_t plane, const std::vector<std::vector<int64_t>>& rows_of, const Add& add) {
  cpu::parallel_for((int64_t)rows_of.size() * channels, 1, [&](int64_t b, int64_t e) {
    for (int64_t nc = b; nc < e; ++nc) {
      T* gi = grad_input + nc * plane;
      for (int64_t i = 0; i < plane; ++i) gi[i] = T(0);
      for (int64_t k : rows_of[nc / channels]) add(gi, k, nc % channels);
    }
  });
}

}}  // namespace kiln::vision
