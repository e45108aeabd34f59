#include "allocator.h"
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>
#include "runtime.h"

namespace kiln { namespace cuda {
namespace {

struct DeviceCache {
  std::map<size_t, std::vector<void*>> free_blocks;   // rounded size -> blocks
  std::unordered_map<void*, size_t> live;             // ptr -> rounded size
  MemoryStats stats;
};
std::mutex g_mutex;   // guards g_caches: worker threads allocate and free too
std::unordered_map<int, DeviceCache> g_caches;

// 512-byte granularity below 1 MiB, 2 MiB above (PyTorch's rounding); 512 bytes keeps every
// block aligned for 16-byte vector loads.
size_t round_size(size_t n) {
  if (n == 0) n = 1;
  if (n < (1u << 20)) return (n + 511) & ~size_t(511);
  return (n + (2u << 20) - 1) & ~((size_t(2) << 20) - 1);
}

void release_cached(DeviceCache& dc) {
  for (auto& kv : dc.free_blocks) {
    for (void* p : kv.second) {
      cudaFree(p);
      dc.stats.reserved -= kv.first;
    }
    kv.second.clear();
  }
}

}  // namespace

void* device_alloc(int device, size_t nbytes) {
  if (nbytes > kMaxAllocation) fail(ErrorKind::Memory, "cuda alloc", "cannot allocate " + std::to_string(nbytes) + " bytes (at most 2^46 bytes per tensor)");
  std::lock_guard<std::mutex> lock(g_mutex);
  DeviceCache& dc = g_caches[device];
  size_t size = round_size(nbytes);
  dc.stats.alloc_count++;
  void* p = nullptr;
  auto it = dc.free_blocks.find(size);
  if (it != dc.free_blocks.end() && !it->second.empty()) {
    p = it->second.back();
    it->second.pop_back();
    dc.stats.cache_hits++;
  } else {
    KILN_CUDA_CHECK(cudaSetDevice(device), "cuda alloc");
    cudaError_t err = cudaMalloc(&p, size);
    if (err == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      cudaDeviceSynchronize();   // cached blocks may still be in use by queued work
      release_cached(dc);
      err = cudaMalloc(&p, size);
    }
    if (err == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      dc.stats.num_ooms++;
      size_t free_b = 0, total_b = 0;
      cudaMemGetInfo(&free_b, &total_b);
      fail(ErrorKind::Memory, "cuda alloc",
           "out of memory on cuda:" + std::to_string(device) + " allocating " + std::to_string(nbytes) + " bytes (" + std::to_string(free_b) + " of " +
               std::to_string(total_b) + " bytes free, " + std::to_string(dc.stats.allocated) + " allocated by Kiln)");
    }
    KILN_CUDA_CHECK(err, "cuda alloc");
    dc.stats.reserved += size;
  }
  dc.live[p] = size;
  dc.stats.allocated += size;
  if (dc.stats.allocated > dc.stats.peak_allocated) dc.stats.peak_allocated = dc.stats.allocated;
  return p;
}

void device_free(int device, void* ptr) {
  std::lock_guard<std::mutex> lock(g_mutex);
  DeviceCache& dc = g_caches[device];
  auto it = dc.live.find(ptr);
  if (it == dc.live.end()) fail(ErrorKind::Internal, "cuda free", "unknown or already freed block");
  dc.free_blocks[it->second].push_back(ptr);
  dc.stats.allocated -= it->second;
  dc.live.erase(it);
}

void empty_cache(int device) {
  std::lock_guard<std::mutex> lock(g_mutex);
  DeviceCache& dc = g_caches[device];
  KILN_CUDA_CHECK(cudaSetDevice(device), "emptyCache");
  KILN_CUDA_CHECK(cudaDeviceSynchronize(), "emptyCache");
  release_cached(dc);
}

MemoryStats memory_stats(int device) {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_caches[device].stats;
}

}}  // namespace kiln::cuda
