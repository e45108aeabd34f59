// The GEMM's per-thread packing buffers (gemm_loops.h's thread_buffer): allocated on first use, grown
// when a larger product needs more, and kept, because touching fresh pages costs tens of
// microseconds each on some machines (ours among them) while a packed panel is reused at once.
#include <cstdlib>
#include <new>
#include "gemm_loops.h"

namespace kiln { namespace cpu { namespace blocked {
namespace {

struct Buffer {
  void* data = nullptr;
  size_t bytes = 0;
  ~Buffer() { std::free(data); }
};

thread_local Buffer t_buffers[5];

}  // namespace

void* thread_buffer(int slot, size_t bytes) {
  Buffer& b = t_buffers[slot];
  if (bytes > b.bytes) {
    const size_t rounded = (bytes + (bytes >> 2) + 4095) & ~size_t(4095);   // room to grow a little
    void* p = std::aligned_alloc(64, rounded);
    if (!p) throw std::bad_alloc();
    std::free(b.data);
    b.data = p;
    b.bytes = rounded;
  }
  return b.data;
}

}}}  // namespace kiln::cpu::blocked
