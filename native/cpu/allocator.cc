#include "allocator.h"
#include <cstdlib>
#include <map>
#include <mutex>
#include <new>
#include <vector>

namespace kiln { namespace cpu {

namespace {
constexpr size_t kAlign = 64;
std::mutex g_mutex;                             // guards g_free and g_stats (worker threads share them)
std::map<size_t, std::vector<void*>> g_free;   // rounded size -> cached blocks
MemoryStats g_stats;

void empty_cache_locked() {
  for (auto& kv : g_free) {
    for (void* p : kv.second) {
      std::free(p);
      g_stats.reserved -= kv.first;
    }
    kv.second.clear();
  }
}
}  // namespace

// Sizes round up to 64 bytes below 4 KiB, then to a quarter of the next power of two, so a
// block serves requests within 25% of its size and buckets stay few. n <= kMaxAllocation (2^46), so
// the power of two (at most 2^46) and the rounding cannot overflow.
size_t round_size(size_t n) {
  if (n < 64) return 64;
  if (n <= 4096) return (n + 63) & ~size_t(63);
  if (n > kMaxAllocation) n = kMaxAllocation;   // callers check; this only keeps the math finite
  size_t p = size_t(1) << (64 - __builtin_clzll(n - 1));   // the smallest power of two >= n
  size_t q = p / 4;
  return (n + q - 1) / q * q;
}

void* allocate(size_t nbytes, size_t* rounded) {
  if (nbytes > kMaxAllocation) throw std::bad_alloc();
  size_t size = round_size(nbytes);
  *rounded = size;
  std::lock_guard<std::mutex> lock(g_mutex);
  g_stats.alloc_count++;
  void* p = nullptr;
  auto it = g_free.find(size);
  if (it != g_free.end() && !it->second.empty()) {
    p = it->second.back();
    it->second.pop_back();
    g_stats.cache_hits++;
  } else {
    p = std::aligned_alloc(kAlign, size);
    if (!p) {
      empty_cache_locked();
      p = std::aligned_alloc(kAlign, size);
      if (!p) throw std::bad_alloc();
    }
    g_stats.reserved += size;
  }
  g_stats.allocated += size;
  if (g_stats.allocated > g_stats.peak_allocated) g_stats.peak_allocated = g_stats.allocated;
  return p;
}

void release(void* ptr, size_t rounded) {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_free[rounded].push_back(ptr);
  g_stats.allocated -= rounded;
}

void empty_cache() {
  std::lock_guard<std::mutex> lock(g_mutex);
  empty_cache_locked();
}

MemoryStats stats() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_stats;
}

}}  // namespace kiln::cpu
