// The one place CPU kernels go for threads: parallel_for(n, grain, f) calls f(begin, end) over
// ranges covering [0, n), on the CPU device's own thread pool (cpu/thread_pool.cc) when the work is
// large enough to pay for waking a thread, inline otherwise.
//
// Work below `grain` elements (kGrain = 32768 for elementwise work, as PyTorch's
// at::internal::GRAIN_SIZE) runs on the calling thread. Larger work is cut into chunks of at least
// `grain` elements, a few per thread, which the calling thread and the pool's workers claim one at
// a time: a worker that the OS has not scheduled yet simply gets fewer chunks (the caller does
// them), so a busy machine slows a parallel op down to about one thread's time, not below it.
// Idle workers sleep (after a very short spin) instead of burning a core.
//
// f must not depend on how [0, n) is cut (results independent of the thread count) and may throw:
// the first exception is rethrown on the calling thread after every claimed chunk has finished.
// A parallel_for inside f runs inline.
#pragma once
#include <algorithm>
#include <cstdint>

namespace kiln { namespace cpu {

constexpr int64_t kGrain = 32768;   // elements below which one thread does the work

// Threads parallel_for may use (the caller included), >= 1. The default is one per core available
// to the process (its CPU affinity), or KILN_NUM_THREADS / OMP_NUM_THREADS when set.
int num_threads();
// Sets the number of threads (n >= 1); the pool grows or shrinks to n - 1 workers.
void set_num_threads(int n);
// True on a thread that is running a chunk of a parallel_for (nested calls run inline).
bool in_parallel_region();

using ChunkFn = void (*)(const void* ctx, int64_t begin, int64_t end);
// Runs fn(ctx, b, e) over [0, n) cut into `chunks` near-equal ranges, on the pool; returns when all
// are done (rethrowing the first exception a chunk threw).
void run_chunks(int64_t n, int64_t chunks, ChunkFn fn, const void* ctx);

constexpr int64_t kChunksPerThread = 4;   // a few chunks per thread balance uneven progress

// chunks_per_thread: at most that many chunks per thread (never below `grain` elements each). Work
// that is uniform and has no set-up per chunk can take more, so that a worker that starts late
// leaves the caller less to wait for at the end (the focal loss: 16).
template <typename F>
void parallel_for(int64_t n, int64_t grain, const F& f, int64_t chunks_per_thread = kChunksPerThread) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int threads = n > grain ? num_threads() : 1;
  if (threads <= 1 || in_parallel_region()) {
    f(int64_t(0), n);
    return;
  }
  const int64_t chunks = std::min<int64_t>((n + grain - 1) / grain, std::max<int64_t>(chunks_per_thread, 1) * threads);
  run_chunks(n, chunks, [](const void* ctx, int64_t b, int64_t e) { (*static_cast<const F*>(ctx))(b, e); }, &f);
}

}}  // namespace kiln::cpu
