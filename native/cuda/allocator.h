// The CUDA device's caching allocator, in the spirit of PyTorch's: freed blocks go to size-bucketed
// free lists per device and are reused without calling cudaMalloc/cudaFree, which synchronise.
// One stream per device, so a block freed by the host can be reused by later work on that stream.
// One allocator serves the process: worker threads share its lists, under a lock.
#pragma once
#include <cstddef>
#include <cstdint>
#include <utility>

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

// Scratch device memory for one kernel call (a workspace, a contiguous copy of an operand), from
// the caching allocator; back to the cache when it goes out of scope. There is one stream per
// device, so the block may be reused by the next allocation as soon as the work using it is queued.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(int device, size_t nbytes) : device_(device) {
    if (nbytes) data = device_alloc(device, nbytes);
  }
  DeviceBuffer(DeviceBuffer&& o) noexcept : data(o.data), device_(o.device_) { o.data = nullptr; }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    std::swap(data, o.data);
    std::swap(device_, o.device_);
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() {
    if (data) device_free(device_, data);
  }
  void* data = nullptr;

 private:
  int device_ = 0;
};

}}  // namespace kiln::cuda
