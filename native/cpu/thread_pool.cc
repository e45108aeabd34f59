// The CPU device's thread pool behind parallel_for (parallel.h).
//
// One job at a time: the calling thread publishes it in `state_` (a 64-bit word holding the job's
// epoch, its chunk count and the next unclaimed chunk), wakes the workers that sleep, and then
// claims chunks itself like any worker. A chunk is claimed by a compare-and-swap on the whole word,
// so a worker that wakes late, after the job it was woken for has finished, sees a different epoch
// and claims nothing of a job it does not know; and because the chunk count sits in the same word,
// nobody ever claims past the end. The caller waits only for chunks that were claimed, then returns.
//
// Idle workers spin for a few microseconds (the next op of a training step usually follows at
// once), then sleep on a condition variable: a worker never keeps a core busy while the process has
// nothing for it, so a busy machine loses no time to Kiln's idle threads.
//
// A second thread calling parallel_for while a job runs (a nested call, or another JS thread using
// the addon) runs its work inline: the pool is never entered twice.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <initializer_list>
#include <mutex>
#include <string>
#include <thread>
#include <vector>
#ifdef __linux__
#include <sched.h>
#endif
#include "parallel.h"

namespace kiln { namespace cpu {
namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// How long an idle worker keeps looking for the next job before it sleeps, and how long the caller
// spins on unfinished chunks before it starts yielding its core.
constexpr std::chrono::microseconds kWorkerSpin{20};
constexpr std::chrono::microseconds kCallerSpin{50};

// state_ = epoch << 32 | chunks << 16 | next   (chunks <= kMaxChunks, next <= chunks)
constexpr int64_t kMaxChunks = 0x7fff;
inline uint32_t epoch_of(uint64_t s) { return uint32_t(s >> 32); }
inline int64_t chunks_of(uint64_t s) { return int64_t((s >> 16) & 0xffff); }
inline int64_t next_of(uint64_t s) { return int64_t(s & 0xffff); }

int default_threads() {
  for (const char* var : {"KILN_NUM_THREADS", "OMP_NUM_THREADS"}) {
    if (const char* v = std::getenv(var)) {
      int n = std::atoi(v);
      if (n >= 1) return n;
    }
  }
#ifdef __linux__
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
#endif
  return std::max(1u, std::thread::hardware_concurrency());
}

thread_local bool t_in_region = false;

struct RegionGuard {
  RegionGuard() { t_in_region = true; }
  ~RegionGuard() { t_in_region = false; }
};

class Pool {
 public:
  int threads() const { return threads_.load(std::memory_order_relaxed); }

  void set_threads(int n) {
    std::lock_guard<std::mutex> submit(submit_mu_);   // never while a job runs
    threads_.store(n, std::memory_order_relaxed);
    while ((int)workers_.size() < n - 1) {
      const int index = (int)workers_.size();
      workers_.emplace_back([this, index] { work(index); });
      workers_.back().detach();   // the pool lives as long as the process
    }
  }

  void run(int64_t n, int64_t chunks, ChunkFn fn, const void* ctx) {
    std::unique_lock<std::mutex> submit(submit_mu_, std::try_to_lock);
    if (!submit.owns_lock()) {   // another thread's job is running: do this one inline
      RegionGuard g;
      fn(ctx, 0, n);
      return;
    }
    chunks = std::min(chunks, kMaxChunks);
    fn_ = fn;
    ctx_ = ctx;
    n_ = n;
    error_ = nullptr;
    failed_.store(false, std::memory_order_relaxed);
    done_.store(0, std::memory_order_relaxed);
    const uint32_t epoch = epoch_of(state_.load(std::memory_order_relaxed)) + 1;
    state_.store(uint64_t(epoch) << 32 | uint64_t(chunks) << 16, std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_seq_cst) > 0) {
      { std::lock_guard<std::mutex> l(sleep_mu_); }   // a worker between its check and its wait sees the epoch or gets the notify
      wake_.notify_all();
    }
    {
      RegionGuard g;
      run_claimed(epoch);
    }
    wait_done(chunks);
    if (error_) std::rethrow_exception(error_);
  }

 private:
  // Claims and runs chunks of job `epoch` until none is left; returns how many it ran.
  void run_claimed(uint32_t epoch) {
    for (;;) {
      uint64_t s = state_.load(std::memory_order_acquire);
      if (epoch_of(s) != epoch || next_of(s) >= chunks_of(s)) return;
      if (!state_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel, std::memory_order_relaxed)) continue;
      const int64_t k = next_of(s), chunks = chunks_of(s);
      // The job's fields were written before the epoch was published; a claimed chunk keeps the
      // caller waiting, so they stay valid until done_ counts it.
      if (!failed_.load(std::memory_order_relaxed)) {
        try {
          fn_(ctx_, n_ * k / chunks, n_ * (k + 1) / chunks);
        } catch (...) {
          std::lock_guard<std::mutex> l(error_mu_);
          if (!error_) error_ = std::current_exception();
          failed_.store(true, std::memory_order_relaxed);
        }
      }
      done_.fetch_add(1, std::memory_order_acq_rel);
    }
  }

  void wait_done(int64_t chunks) {
    const auto spin_until = std::chrono::steady_clock::now() + kCallerSpin;
    for (int i = 0; done_.load(std::memory_order_acquire) < chunks; ++i) {
      if (i < 64 || std::chrono::steady_clock::now() < spin_until) cpu_relax();
      else std::this_thread::yield();   // a worker holds a chunk but may not be running: give way
    }
  }

  void work(int index) {
    uint32_t seen = epoch_of(state_.load(std::memory_order_acquire));
    for (;;) {
      uint32_t epoch = wait_for_job(seen);
      seen = epoch;
      if (index + 1 >= threads()) continue;   // a thread beyond the current count: stays idle
      RegionGuard g;
      run_claimed(epoch);
    }
  }

  // Spins briefly, then sleeps, until a job newer than `seen` is published; returns its epoch.
  uint32_t wait_for_job(uint32_t seen) {
    const auto spin_until = std::chrono::steady_clock::now() + kWorkerSpin;
    for (int i = 0;; ++i) {
      uint32_t e = epoch_of(state_.load(std::memory_order_acquire));
      if (e != seen) return e;
      if ((i & 63) == 63 && std::chrono::steady_clock::now() >= spin_until) break;
      cpu_relax();
    }
    std::unique_lock<std::mutex> l(sleep_mu_);
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    uint32_t e;
    while ((e = epoch_of(state_.load(std::memory_order_seq_cst))) == seen) wake_.wait(l);
    sleepers_.fetch_sub(1, std::memory_order_relaxed);
    return e;
  }

  std::atomic<int> threads_{default_threads()};
  std::vector<std::thread> workers_;
  std::mutex submit_mu_;                 // one job at a time
  std::atomic<uint64_t> state_{0};
  ChunkFn fn_ = nullptr;
  const void* ctx_ = nullptr;
  int64_t n_ = 0;
  std::atomic<int64_t> done_{0};
  std::atomic<bool> failed_{false};
  std::mutex error_mu_;
  std::exception_ptr error_;
  std::mutex sleep_mu_;
  std::condition_variable wake_;
  std::atomic<int> sleepers_{0};
};

Pool& pool() {
  static Pool* p = [] {   // never destroyed: detached workers may still be asleep at exit
    Pool* q = new Pool;
    q->set_threads(q->threads());
    return q;
  }();
  return *p;
}

}  // namespace

int num_threads() { return pool().threads(); }
void set_num_threads(int n) { pool().set_threads(std::max(1, n)); }
bool in_parallel_region() { return t_in_region; }
void run_chunks(int64_t n, int64_t chunks, ChunkFn fn, const void* ctx) { pool().run(n, chunks, fn, ctx); }

}}  // namespace kiln::cpu
