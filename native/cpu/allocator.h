// The CPU device's caching allocator. Page faults are very slow on our machines (tens of
// microseconds per 4 KiB page), so freed blocks are kept in size-bucketed free lists and handed out
// again instead of being returned to the OS, as tcmalloc does for PyTorch.
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

void* allocate(size_t nbytes, size_t* rounded);
void release(void* ptr, size_t rounded);
void empty_cache();
MemoryStats stats();
size_t round_size(size_t nbytes);

}}  // namespace kiln::cpu
