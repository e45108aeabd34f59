// The convolutions through cuDNN's graph (backend) API: one pass as an operation graph of one
// convolution operation, its execution plan chosen by cuDNN's heuristics once per problem and
// cached, then executed with a variant pack per call. PyTorch runs cuDNN this way; the legacy
// cudnnConvolution* calls (conv_cudnn.cc) cost Kiln ~80-90 µs of host time per call on an H200,
// which bounded the training step's small convolutions (docs/benchmarks.md, 2026-12-05).
#pragma once
#include <string>
#include "conv_cudnn_problem.h"

namespace kiln { namespace cuda { namespace cudnn_conv {

// Runs problem p (beta 1: adds into the output, for the chunks of a filter gradient). Returns
// CUDNN_STATUS_NOT_SUPPORTED, having written nothing, when no engine suits the problem (the caller
// then takes the legacy API); any other failure is a KilnError.
cudnnStatus_t graph_convolve(const Api* api, cudnnHandle_t h, const KernelCall& c, const Problem& p, bool accumulate);

// Why the graph API last failed to build a plan for a problem ("" when it never did): a cuDNN call
// that failed while the descriptors were made (the problem then runs on the legacy API, so a
// mistake here costs speed, never a result). denseCallCounts().conv2dCudnnGraph shows what ran.
std::string graph_fallback_reason();

}}}  // namespace kiln::cuda::cudnn_conv
