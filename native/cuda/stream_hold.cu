// hold_stream (stream_hold.h).
#include "stream_hold.h"
#include <cstdint>

namespace kiln { namespace cuda {
namespace {

__device__ uint64_t global_timer_ns() {
  uint64_t t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

// One thread waits until `ns` nanoseconds have passed, sleeping between readings of the timer.
__global__ void hold_kernel(uint64_t ns) {
  const uint64_t start = global_timer_ns();
  while (global_timer_ns() - start < ns) __nanosleep(1000);
}

}  // namespace

cudaError_t hold_stream(cudaStream_t stream, double microseconds) {
  const uint64_t ns = microseconds > 0 ? (uint64_t)(microseconds * 1e3) : 0;
  hold_kernel<<<1, 1, 0, stream>>>(ns);
  return cudaGetLastError();
}

}}  // namespace kiln::cuda
