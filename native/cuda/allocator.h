// The CUDA device's caching allocator, in the spirit of PyTorch's: freed blocks go to size-bucketed
// free lists per device and are reused without calling cudaMalloc/cudaFree, which synchronise.
// One stream per device, so a block freed by the host can be reused by later work on that stream.
// One allocator serves the process: worker threads share its lists, under a lock.
#pragma once
#include <cstddef>
#include <cstdint>

namespace kiln { namespace cuda {

struct MemoryStats {
  int64_t allocated = 0, reserved = 0, peak_allocated = 0, alloc_count = 0, cache_hits = 0, num_ooms = 0;
};

// The largest request considered (2^46 bytes): no device holds more, and the size arithmetic stays
// far from overflowing.
constexpr size_t kMaxAllocation = size_t(1) << 46;

void* device_alloc(int device, size_t nbytes);   // throws KilnError(Memory) when the device is full
void device_free(int device, void* ptr);
void empty_cache(int device);
MemoryStats memory_stats(int device);

}}  // namespace kiln::cuda
