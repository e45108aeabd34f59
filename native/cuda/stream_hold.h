// Holding a stream back for a while (a one-thread kernel that waits on the GPU's clock), so that
// work the host queues behind it starts back to back: a timing of small kernels then measures
// the kernels, not the host's pace of launching them (conv_cudnn_search.cc times candidates so).
#pragma once
#include <cuda_runtime.h>

namespace kiln { namespace cuda {

// Queues on `stream` a kernel that returns once `microseconds` have passed on the GPU's global
// timer; returns the launch's own status.
cudaError_t hold_stream(cudaStream_t stream, double microseconds);

}}  // namespace kiln::cuda
