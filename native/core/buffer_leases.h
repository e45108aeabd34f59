// Native blocks lent to JS as external ArrayBuffers: the CPU allocator's (every CPU tensor's
// storage) and the pinned host allocator's (Tensor.pinMemory()). Each lent block goes back to its
// allocator exactly once, whichever comes first: release() (a storage's dispose), the weak-owner
// sweep after a garbage collection took the buffer (core/weak_owners.h), or the buffer's finalizer.
// A lease record, not the address, says whether it has: the allocator hands the address out again.
// Worker threads lend too: the records are shared under a lock.
#pragma once
#include <napi.h>
#include <cstddef>
#include <mutex>
#include <unordered_map>

namespace kiln {

// The largest external ArrayBuffer Node 20 makes (buffer.constants.MAX_LENGTH, 2^32 bytes). Past
// it napi_create_external_arraybuffer fails after calling the finalizer itself, and node-addon-api
// then frees its finalizer record a second time (a double free): callers refuse larger requests
// before allocating.
constexpr size_t kMaxLentBytes = size_t(1) << 32;

class BufferLeases {
 public:
  using GiveBack = void (*)(void* block, size_t size);
  explicit BufferLeases(GiveBack give_back) : give_back_(give_back) {}

  // An ArrayBuffer of `length` bytes over `block` (its allocator size `size`), lent until returned.
  Napi::ArrayBuffer lend(Napi::Env env, void* block, size_t size, size_t length);
  // Returns the block behind `ab` now and detaches the buffer (every view of it reads as empty);
  // a buffer not lent here is only detached, one already detached is left alone.
  void release(Napi::ArrayBuffer ab);

 private:
  struct Lease {
    BufferLeases* owner;
    void* block;
    size_t size;
    bool returned;
  };
  void give_back(Lease* l);
  static void collected(void* lease, intptr_t);
  static void finalize(Napi::Env, void*, Lease* l);

  GiveBack give_back_;
  std::mutex mutex_;
  std::unordered_map<void*, Lease*> live_;   // block -> the lease an ArrayBuffer holds now
};

}  // namespace kiln
