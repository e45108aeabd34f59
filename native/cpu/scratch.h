// Scratch memory for the duration of a kernel, from the CPU device's caching allocator (so that a
// kernel called every step reuses the same pages instead of faulting in fresh ones). Allocate on
// the calling thread, before any parallel_for: the allocator is not for the pool's workers.
#pragma once
#include <cstddef>
#include <utility>
#include "allocator.h"

namespace kiln { namespace cpu {

template <typename T>
class Scratch {
 public:
  explicit Scratch(size_t n) : data_(n ? static_cast<T*>(allocate(n * sizeof(T), &rounded_)) : nullptr) {}
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  ~Scratch() {
    if (data_) release(data_, rounded_);
  }
  T* get() const { return data_; }

 private:
  size_t rounded_ = 0;
  T* data_;
};

}}  // namespace kiln::cpu
