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
  uint64_t ns = microseconds > 0 ? (uint64_t)(microseconds * 1e3) : 0;
  // cudaLaunchKernel returns this launch's status (cudaGetLastError after <<<>>> would also
  // report an error some earlier call left unchecked, and blame the hold for it)
  void* args[] = {&ns};
  return cudaLaunchKernel((const void*)hold_kernel, dim3(1), dim3(1), args, 0, stream);
}

}}  // namespace kiln::cuda
