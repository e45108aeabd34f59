#include "runtime.h"
#include <mutex>

namespace kiln { namespace cuda {

void check(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return;
  cudaGetLastError();   // clear a non-sticky error so the process can go on
  // running out of memory anywhere (a launch's resources, pinned host memory) is an OutOfMemoryError
  // in JS, as the allocator's own failures are
  ErrorKind kind = err == cudaErrorMemoryAllocation ? ErrorKind::Memory : ErrorKind::Cuda;
  fail(kind, what, std::string(cudaGetErrorName(err)) + ": " + cudaGetErrorString(err));
}

}}  // namespace kiln::cuda
