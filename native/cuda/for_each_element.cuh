// The GPU's loop over the elements of one contiguous output, for the one-element functors of the
// math headers (math/nn.h, math/bias.h): a grid-stride kernel on the call's stream. The counter is
// 64-bit so that it cannot overflow past n; f receives it in the index type I.
#pragma once
#include "runtime.h"

namespace kiln { namespace cuda {

template <typename I, typename F>
__global__ void for_each_index_kernel(int64_t n, F f) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) f((I)i);
}

template <typename I, typename F>
void for_each_element(const KernelCall& c, int64_t n, const F& f) {
  if (n == 0) return;
  for_each_index_kernel<I><<<blocks_for(n), kThreads, 0, stream_of(c)>>>(n, f);
  KILN_CUDA_CHECK(cudaGetLastError(), c.name);
}

}}  // namespace kiln::cuda
