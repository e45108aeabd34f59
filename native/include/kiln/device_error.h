// Errors found by kernels on the device (an index out of range) cannot throw. They are written to a
// small slot in host-mapped memory and turned into a JS error at the next synchronisation, as
// CUDA's own asynchronous errors are: no device-to-host round trip per call. CPU kernels throw.
// The slot is a plain C struct of the extension ABI (kiln/extension/abi.h), so extension kernels
// report through these same functions.
#pragma once
#include <cstdint>
#include "kiln/extension/abi.h"
#include "kiln/hd.h"

namespace kiln {

using DeviceErrorSlot = kiln_device_error;

#if defined(__CUDACC__)
__device__ inline void report_index_error(DeviceErrorSlot* slot, int kernel_id, int arg, long long value, long long lo, long long hi, long long detail = 0) {
  if (atomicCAS(&slot->kernel, 0ull, (unsigned long long)kernel_id + 1ull) == 0ull) {
    slot->value = value;
    slot->lo = lo;
    slot->hi = hi;
    slot->arg = arg;
    slot->is_float = 0;
    slot->detail = detail;
    __threadfence_system();
  }
}
__device__ inline void report_value_error(DeviceErrorSlot* slot, int kernel_id, int arg, double value, double lo, double hi, long long detail = 0) {
  if (atomicCAS(&slot->kernel, 0ull, (unsigned long long)kernel_id + 1ull) == 0ull) {
    slot->fvalue = value;
    slot->flo = lo;
    slot->fhi = hi;
    slot->arg = arg;
    slot->is_float = 1;
    slot->detail = detail;
    __threadfence_system();
  }
}
#endif

}  // namespace kiln
