// Scratch device memory for one kernel call, from the caching allocator and returned to it when the
// call's scope ends: the kernels using it are queued on the device's one stream before any later
// reuse of the block, so no synchronisation is needed.
#pragma once
#include <cstddef>
#include "allocator.h"

namespace kiln { namespace cuda {

struct Workspace {
  int device;
  void* ptr = nullptr;
  Workspace(int d, size_t nbytes) : device(d) {
    if (nbytes) ptr = device_alloc(d, nbytes);
  }
  ~Workspace() {
    try {
      if (ptr) device_free(device, ptr);
    } catch (...) {   // a destructor must not throw; the block came from device_alloc, so this cannot happen
    }
  }
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  template <typename T> T* as() const { return static_cast<T*>(ptr); }
};

}}  // namespace kiln::cuda
