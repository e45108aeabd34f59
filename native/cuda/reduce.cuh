// Block-level building blocks of the CUDA reductions (reduce.cu) and softmax kernels (softmax.cu).
//
// A block's kThreads threads are split into S slots of G lanes (G * S = kThreads, G a power of
// two): each slot owns one output (a reduced row / a softmax row), its G lanes split that row's
// elements between them (lane l takes elements l, l + G, ...), then their partial states are
// merged by a tree (register shuffles where a slot is lanes of one warp, else shared memory; the
// same tree either way). The tree's shape depends only on G, so the result is deterministic (no
// atomics).
//
//   rows (lanes_fast):   consecutive threads are lanes of one slot, so a warp reads a contiguous
//                        row together;
//   columns:             consecutive threads are slots, so when neighbouring outputs are
//                        neighbours in memory (a reduction across an outer dim) a warp reads 32
//                        neighbouring addresses.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include "runtime.h"

namespace kiln { namespace cuda {

struct Groups {
  int G;             // lanes per slot
  int S;             // slots per block
  bool lanes_fast;   // rows: consecutive threads are lanes of one slot
  __device__ int lane() const { return lanes_fast ? (int)threadIdx.x % G : (int)threadIdx.x / S; }
  __device__ int slot() const { return lanes_fast ? (int)threadIdx.x / G : (int)threadIdx.x % S; }
};

static_assert(kThreads % 32 == 0, "group_reduce's shuffle path takes whole warps");

inline int pow2_at_least(int64_t n) {
  int p = 1;
  while (p < n && p < kThreads) p <<= 1;
  return p;
}

// Groups for `count` outputs of `len` elements each. Rows: lanes enough for about 4 elements
// each, up to the whole block on long rows. Columns: at least 32 neighbouring outputs per block (a
// 128-byte line of float32) with up to 8 lanes along the reduced dim (1 lane, 256 outputs, when it
// is short); with fewer than 32 outputs, the block's other threads become lanes.
inline Groups choose_groups(int64_t count, int64_t len, bool columns) {
  Groups g;
  g.lanes_fast = !columns;
  if (!columns) {
    g.G = pow2_at_least((len + 3) / 4);
  } else if (count >= 32) {
    g.G = pow2_at_least(std::min<int64_t>(8, (len + 15) / 16));
  } else {
    g.G = kThreads / pow2_at_least(count);
  }
  g.S = kThreads / g.G;
  return g;
}

// Register shuffles of any trivially copyable state (a float, a double, a {max, sum} pair), word
// by word: `shuffle` takes one 32-bit word of this lane's state and returns the word another lane
// holds (a __shfl*_sync call, which every lane of the warp must make).
template <typename T> struct Words {
  static constexpr int kCount = (int)((sizeof(T) + 3) / 4);
  unsigned w[kCount];
};
template <typename T, typename Shuffle> __device__ T shuffle_words(const T& v, const Shuffle& shuffle) {
  Words<T> in{}, out{};
  memcpy(in.w, &v, sizeof(T));
#pragma unroll
  for (int i = 0; i < Words<T>::kCount; ++i) out.w[i] = shuffle(in.w[i]);
  T r = v;
  memcpy(&r, out.w, sizeof(T));
  return r;
}

// Merges every slot's G partial states into one, returned to all threads of the block (all must
// call it, with the same g). `sm` holds kThreads states.
//
// The tree: at each level off = G/2, G/4, ..., 1, lane l < off takes combine(its state, lane
// l + off's), so lane 0 ends with the slot's result, which every lane then reads. Where a slot's
// lanes are neighbours in one warp (rows, G <= 32), the tree runs on register shuffles; otherwise
// through shared memory. Both fold the same pairs in the same order: the same result to the bit.
template <typename Acc, typename Combine>
__device__ Acc group_reduce(Acc a, Acc* sm, const Groups& g, int lane, int slot, const Combine& combine) {
  if (g.G == 1) return a;
  if (g.lanes_fast && g.G <= 32) {
    // a slot is G consecutive lanes of one warp: G divides 32 and kThreads is a multiple of 32, so
    // `lane` (threadIdx.x % G) is the lane's place in its segment of G; shuffles within segments,
    // every lane of the warp taking part. Values shuffled into lanes >= off are discarded.
    for (int off = g.G / 2; off > 0; off >>= 1) {
      const Acc other = shuffle_words(a, [&](unsigned w) { return __shfl_down_sync(0xffffffffu, w, off, g.G); });
      if (lane < off) a = combine(a, other);
    }
    return shuffle_words(a, [&](unsigned w) { return __shfl_sync(0xffffffffu, w, 0, g.G); });
  }
  sm[lane * g.S + slot] = a;
  __syncthreads();
  for (int off = g.G / 2; off > 0; off >>= 1) {
    if (lane < off) sm[lane * g.S + slot] = combine(sm[lane * g.S + slot], sm[(lane + off) * g.S + slot]);
    __syncthreads();
  }
  Acc r = sm[slot];
  __syncthreads();   // sm may be reused by the caller's next round
  return r;
}

// Dynamic shared memory, typed by the caller (one declaration shared by every instantiation).
extern __shared__ __align__(16) unsigned char kiln_reduce_smem[];
template <typename Acc> __device__ Acc* shared_states() { return reinterpret_cast<Acc*>(kiln_reduce_smem); }

// Blocks along x for `count` outputs in slots of S (grid-stride loops cover the rest).
inline unsigned slot_blocks(int64_t count, int S) {
  int64_t b = (count + S - 1) / S;
  return (unsigned)std::max<int64_t>(1, std::min<int64_t>(b, 1 << 20));
}

}}  // namespace kiln::cuda
