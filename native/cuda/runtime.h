// The CUDA device's runtime services shared by kernels (.cu) and the binding (.cc): error checks,
// the per-device stream, the device-error slot, launch geometry.
#pragma once
#include <cuda_runtime.h>
#include <string>
#include "kiln/kernel.h"
#include "kiln/device_error.h"

namespace kiln { namespace cuda {

// The device's stream, all of its work queued in order (created on first use); makes `device` the
// calling thread's current device (addon.cc keeps track of it).
cudaStream_t device_stream(int device);

// Throws a KilnError(Cuda) naming `what` when `err` is not cudaSuccess.
void check(cudaError_t err, const char* what);
#define KILN_CUDA_CHECK(expr, what) ::kiln::cuda::check((expr), (what))

inline cudaStream_t stream_of(const KernelCall& c) { return static_cast<cudaStream_t>(c.stream); }
inline DeviceErrorSlot* error_slot_of(const KernelCall& c) { return static_cast<DeviceErrorSlot*>(c.error_slot); }

constexpr int kThreads = 256;
// Blocks for n work items of `per_thread` each, capped: kernels use grid-stride loops.
inline unsigned blocks_for(int64_t n, int per_thread = 1) {
  int64_t b = (n + (int64_t)kThreads * per_thread - 1) / ((int64_t)kThreads * per_thread);
  if (b < 1) b = 1;
  if (b > 65535LL * 32) b = 65535LL * 32;
  return (unsigned)b;
}

// A grid-stride loop over [0, n): each thread takes i = its global index, then steps by the grid's
// thread count (kernels launched with a capped grid, blocks_for, cover any n).
#define KILN_GRID_LOOP(i, n) for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)

}}  // namespace kiln::cuda
