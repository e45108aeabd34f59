#include "runtime.h"
#include <mutex>

namespace kiln { namespace cuda {

void check(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return;
  cudaGetLastError();   // clear a non-sticky error so the process can go on
  fail(ErrorKind::Cuda, what, std::string(cudaGetErrorName(err)) + ": " + cudaGetErrorString(err));
}

}}  // namespace kiln::cuda
