// The CPU device's caching allocator. Page faults are very slow on our machines (tens of
// microseconds per 4 KiB page), so freed blocks are kept in size-bucketed free lists and handed out
// again instead of being returned to the OS, as tcmalloc does for PyTorch. One allocator serves the
// whole process: its lists are shared by the main thread and worker threads, under a lock.
#pragma once
#include <cstddef>
#include <cstdint>

namespace kiln { namespace cpu {

struct MemoryStats {
  int64_t allocated = 0;       // bytes in live blocks (rounded sizes)
  int64_t reserved = 0;        // allocated + cached
  int64_t peak_allocated = 0;
  int64_t alloc_count = 0;     // allocations served
  int64_t cache_hits = 0;      // of which from the cache
};

// The largest request the allocator considers (2^46 bytes, 64 TiB): anything larger cannot exist on
// any machine Kiln runs on, and keeping requests below it keeps the size arithmetic from overflowing.
constexpr size_t kMaxAllocation = size_t(1) << 46;

// A block of at least nbytes (its size in *rounded); throws std::bad_alloc when the system has no
// memory left even after the cache is released, or nbytes > kMaxAllocation.
void* allocate(size_t nbytes, size_t* rounded);
void release(void* ptr, size_t rounded);
void empty_cache();
MemoryStats stats();
// The block size of a request of n <= kMaxAllocation bytes.
size_t round_size(size_t nbytes);

}}  // namespace kiln::cpu
