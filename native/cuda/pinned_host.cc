// The pinned host allocator (pinned_host.h).
#include "pinned_host.h"
#include <algorithm>
#include <map>
#include <mutex>
#include <string>
#include <vector>
#include "runtime.h"

namespace kiln { namespace cuda { namespace pinned {
namespace {

constexpr size_t kMinBlock = size_t(1) << 12;   // 4 KiB, a page

// An event recorded on a device's stream after an upload; it belongs to that device (an event can
// be recorded only on a stream of the device it was made on).
struct Upload {
  int device;
  cudaEvent_t event;
};

struct Block {
  void* ptr = nullptr;
  size_t size = 0;
  bool in_use = false;
  std::vector<Upload> uploads;   // recorded after uploads that read this block
};

std::mutex g_mutex;
std::map<uintptr_t, Block*> g_blocks;                   // every block held, by address
std::multimap<size_t, Block*> g_free;                   // cached blocks, by size
std::vector<std::vector<cudaEvent_t>> g_spare_events;   // completed events per device, for the next uploads
Stats g_stats;

std::vector<cudaEvent_t>& spare_events_of(int device) {
  if ((int)g_spare_events.size() <= device) g_spare_events.resize(device + 1);
  return g_spare_events[device];
}

void spare(const Upload& u) {
  spare_events_of(u.device).push_back(u.event);
  --g_stats.pending_uploads;
}

size_t round_size(size_t n) {
  size_t r = kMinBlock;
  while (r < n) r <<= 1;
  return r;
}

// Drops the block's completed upload events (back to the spare pool); true when none is left.
// cudaEventQuery answers cudaErrorNotReady for an event still queued, which is also left as the
// thread's last error: cleared here, or the next kernel launch's check would report it.
bool uploads_done(Block* b) {
  auto& ups = b->uploads;
  size_t kept = 0;
  for (const Upload& u : ups) {
    cudaError_t st = cudaEventQuery(u.event);
    if (st == cudaSuccess) {
      spare(u);
    } else {
      if (st == cudaErrorNotReady) cudaGetLastError();
      else check(st, "pinned memory: cudaEventQuery");
      ups[kept++] = u;
    }
  }
  ups.resize(kept);
  return kept == 0;
}

void wait_for_uploads(Block* b) {
  for (const Upload& u : b->uploads) {
    check(cudaEventSynchronize(u.event), "pinned memory: cudaEventSynchronize");
    spare(u);
  }
  b->uploads.clear();
}

// Frees every cached block; the lock is held.
void free_cached_locked() {
  for (auto& [size, b] : g_free) {
    wait_for_uploads(b);
    cudaFreeHost(b->ptr);
    g_blocks.erase((uintptr_t)b->ptr);
    g_stats.reserved -= (int64_t)b->size;
    delete b;
  }
  g_free.clear();
}

Block* find_block_locked(const void* p) {
  auto it = g_blocks.upper_bound((uintptr_t)p);
  if (it == g_blocks.begin()) return nullptr;
  --it;
  Block* b = it->second;
  return (uintptr_t)p < it->first + b->size ? b : nullptr;
}

}  // namespace

void* allocate(size_t nbytes, size_t* rounded) {
  const size_t size = round_size(nbytes);
  std::lock_guard<std::mutex> lock(g_mutex);
  ++g_stats.alloc_count;
  Block* b = nullptr;
  for (auto it = g_free.lower_bound(size); it != g_free.end() && it->first == size; ++it) {
    if (uploads_done(it->second)) {
      b = it->second;
      g_free.erase(it);
      ++g_stats.cache_hits;
      break;
    }
  }
  if (!b) {
    void* p = nullptr;
    cudaError_t st = cudaHostAlloc(&p, size, cudaHostAllocPortable);
    if (st != cudaSuccess) {
      cudaGetLastError();
      free_cached_locked();   // the cache's blocks may be what the system lacks
      st = cudaHostAlloc(&p, size, cudaHostAllocPortable);
    }
    if (st != cudaSuccess) {
      cudaGetLastError();
      fail(ErrorKind::Memory, "pinMemory",
           "cannot pin " + std::to_string(size) + " bytes of host memory (" + cudaGetErrorString(st) + "); " + std::to_string(g_stats.reserved) +
               " bytes are pinned by Kiln now");
    }
    b = new Block{p, size, false, {}};
    g_blocks[(uintptr_t)p] = b;
    g_stats.reserved += (int64_t)size;
  }
  b->in_use = true;
  g_stats.allocated += (int64_t)size;
  g_stats.peak_allocated = std::max(g_stats.peak_allocated, g_stats.allocated);
  *rounded = size;
  return b->ptr;
}

void release(void* block) {
  std::lock_guard<std::mutex> lock(g_mutex);
  auto it = g_blocks.find((uintptr_t)block);
  if (it == g_blocks.end() || !it->second->in_use) return;
  Block* b = it->second;
  b->in_use = false;
  g_stats.allocated -= (int64_t)b->size;
  g_free.emplace(b->size, b);
}

void* block_containing(const void* p) {
  std::lock_guard<std::mutex> lock(g_mutex);
  Block* b = find_block_locked(p);
  return b ? b->ptr : nullptr;
}

void record_upload(void* block, int device, cudaStream_t stream) {
  std::lock_guard<std::mutex> lock(g_mutex);
  auto it = g_blocks.find((uintptr_t)block);
  if (it == g_blocks.end()) return;
  std::vector<cudaEvent_t>& pool = spare_events_of(device);
  cudaEvent_t e = nullptr;
  cudaError_t st = cudaSuccess;
  if (pool.empty()) {
    st = cudaEventCreateWithFlags(&e, cudaEventDisableTiming);   // on the current device: the upload's
  } else {
    e = pool.back();
    pool.pop_back();
  }
  if (st == cudaSuccess) st = cudaEventRecord(e, stream);
  if (st != cudaSuccess) {
    // the upload is queued but unrecorded: wait for it, so that the block is safe to reuse
    if (e) pool.push_back(e);
    cudaStreamSynchronize(stream);
    check(st, "pinned memory: recording an upload");
  }
  it->second->uploads.push_back(Upload{device, e});
  ++g_stats.pending_uploads;
}

void empty_cache() {
  std::lock_guard<std::mutex> lock(g_mutex);
  free_cached_locked();
  for (auto& pool : g_spare_events)
    for (cudaEvent_t e : pool) cudaEventDestroy(e);
  g_spare_events.clear();
}

Stats stats() {
  std::lock_guard<std::mutex> lock(g_mutex);
  // blocks in use keep their events until they are reused: count only those still queued
  for (auto& [addr, b] : g_blocks) uploads_done(b);
  return g_stats;
}

int64_t reserved() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_stats.reserved;
}

}}}  // namespace kiln::cuda::pinned
