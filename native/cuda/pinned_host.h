// Page-locked ("pinned") host memory, PyTorch's CachingHostAllocator in small: what
// `Tensor.pinMemory()` allocates, so that an upload from it can be queued and return at once
// (`to('cuda', { nonBlocking: true })`): from pageable memory the driver first copies the bytes
// into a pinned buffer of its own, on the calling thread.
//
// cudaHostAlloc and cudaFreeHost are slow (they map pages and synchronise the device), so freed
// blocks are cached by size (powers of two from 4 KiB) and reused. A block may still be the source
// of uploads that are queued but not yet run when its tensor is freed: each upload records an event
// on the stream it was queued to, and a block is handed out again only once all of its events have
// completed. One allocator serves the process, under a lock.
#pragma once
#include <cuda_runtime.h>
#include <cstddef>
#include <cstdint>

namespace kiln { namespace cuda { namespace pinned {

struct Stats {
  int64_t allocated = 0;    // bytes of blocks in use (rounded sizes)
  int64_t reserved = 0;     // bytes of every pinned block held, in use or cached
  int64_t peak_allocated = 0;
  int64_t alloc_count = 0;
  int64_t cache_hits = 0;   // allocations served by a cached block
  int64_t pending_uploads = 0;   // recorded uploads whose completion has not been seen yet
};

// A pinned block of at least `nbytes` (its rounded size in *rounded); throws KilnError(Memory) when
// the system will not pin that much even after the cache was emptied.
void* allocate(size_t nbytes, size_t* rounded);
// Gives a block back to the cache (its pending uploads are waited for before it is reused).
void release(void* block);
// The block that holds address `p`, or nullptr when `p` is not in pinned memory from here.
void* block_containing(const void* p);
// Records, on `stream` of `device` (the current device), that an upload reading `block` was queued
// there. Events are pooled per device: an event can be recorded only on its own device's streams.
void record_upload(void* block, int device, cudaStream_t stream);
// Frees the cached blocks (those with uploads still queued are waited for first).
void empty_cache();
// The figures; querying the events of every block held to count the uploads still queued.
Stats stats();
// Bytes of every pinned block held (stats().reserved without the event queries).
int64_t reserved();

}}}  // namespace kiln::cuda::pinned
