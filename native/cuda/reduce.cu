// CUDA kernels for every reduction in include/kiln/math/reduce_ops.h (KILN_REDUCTIONS), the same
// functors as the CPU's cpu/reduce.cc.
//
// Each output is reduced by a slot of G lanes of a block (reduce.cuh: lane-strided partial states,
// then a tree, on register shuffles or in shared memory). When there are too few outputs to fill
// the GPU, each output's range is also cut into `nsplit` chunks, one per blockIdx.y; the chunks'
// states go to a workspace and a second kernel merges them in chunk order. The fold order depends on the shape and on whether
// the run can be read in packs of four (the strides and the data's alignment: packable()), not on
// timing: results are deterministic, and no floating-point atomics are used (a sum over an
// unaligned view may differ in its last bits from the same sum over an aligned copy).
#include "kiln/math/reduce_ops.h"
#include "kiln/reduce_layout.h"
#include "workspace.h"
#include "reduce.cuh"

namespace kiln { namespace cuda { namespace {

constexpr int64_t kTargetBlocks = 1024;  // an H100/H200 runs 8 blocks of 256 threads on each of its 132 SMs: fill them
constexpr int64_t kMinPerLane = 16;      // elements a lane should get before splitting a row further
constexpr int64_t kMaxSplit = 1024;

template <typename Op> struct CombineOf {
  Op op;
  template <typename Acc> __device__ Acc operator()(const Acc& a, const Acc& b) const { return op.combine(a, b); }
};

// One lane's share of an output's run: elements j, j + G, ... below je, folded in that order. The
// loads are issued kUnroll at a time before any is folded: a lane that waited for each load before
// the next kept one read in flight, far too few to cover the memory's latency (the bias gradients'
// sums over [N, H, W] ran at a third of PyTorch's speed). The fold order, and so the result, is the
// same as one element at a time.
constexpr int kUnroll = 4;

template <typename Op, typename S, typename IndexT>
__device__ typename Op::Acc reduce_lane(const Op& op, typename Op::Acc a, const S* base, const DimCalc<IndexT>& red, int64_t j, int64_t je, int G) {
  using V = decltype(load(base));
  for (; j + (kUnroll - 1) * (int64_t)G < je; j += kUnroll * (int64_t)G) {
    V v[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) v[u] = load(base + red.offset((IndexT)(j + u * (int64_t)G)));
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) a = op.step(a, v[u], j + u * (int64_t)G);
  }
  for (; j < je; j += G) a = op.step(a, load(base + red.offset((IndexT)j)), j);
  return a;
}

// Four neighbouring elements read by one load instruction (16 bytes of float32, 8 of the half types).
template <typename S> struct alignas(4 * sizeof(S) < 16 ? 4 * sizeof(S) : 16) Pack4 {
  S v[4];
};

// The same over packs of four neighbours, where the run's innermost dim is contiguous, a multiple of
// four long and aligned (packable() checks): lane l takes packs l, l + G, ... of [p, pe) (elements
// 4p .. 4p + 3, folded in order), kUnroll packs in flight: one load instruction and one offset
// computation per four elements.
template <typename Op, typename S, typename IndexT>
__device__ typename Op::Acc reduce_lane_packed(const Op& op, typename Op::Acc a, const S* base, const DimCalc<IndexT>& red, int64_t p, int64_t pe, int G) {
  auto pack_at = [&](int64_t q) { return *reinterpret_cast<const Pack4<S>*>(base + red.offset((IndexT)(4 * q))); };
  for (; p + (kUnroll - 1) * (int64_t)G < pe; p += kUnroll * (int64_t)G) {
    Pack4<S> v[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) v[u] = pack_at(p + u * (int64_t)G);
#pragma unroll
    for (int u = 0; u < kUnroll; ++u)
#pragma unroll
      for (int k = 0; k < 4; ++k) a = op.step(a, load(&v[u].v[k]), 4 * (p + u * (int64_t)G) + k);
  }
  for (; p < pe; p += G) {
    const Pack4<S> v = pack_at(p);
#pragma unroll
    for (int k = 0; k < 4; ++k) a = op.step(a, load(&v.v[k]), 4 * p + k);
  }
  return a;
}

// Whether a run can be read in packs of four: the innermost reduced dim has stride 1 and a length
// that is a multiple of 4, every other stride (reduced or kept) is a multiple of 4, and the data is
// aligned for Pack4, so that every pack starts at an aligned address.
template <typename S> bool packable(const ReduceLayout& L, const void* data) {
  if (L.red_ndim == 0 || L.red_strides[L.red_ndim - 1] != 1 || L.red_shape[L.red_ndim - 1] % 4 != 0) return false;
  for (int i = 0; i + 1 < L.red_ndim; ++i)
    if (L.red_strides[i] % 4 != 0) return false;
  for (int i = 0; i < L.kept_ndim; ++i)
    if (L.kept_strides[i] % 4 != 0) return false;
  return reinterpret_cast<uintptr_t>(data) % alignof(Pack4<S>) == 0;
}

template <typename S, typename Op, typename IndexT>
__global__ void reduce_kernel(Op op, DimCalc<IndexT> kept, DimCalc<IndexT> red, const S* in, void* out0, void* out1, int64_t O, int64_t R, int64_t chunk,
                              Groups g, bool packed, typename Op::Acc* partial) {
  using Acc = typename Op::Acc;
  Acc* sm = shared_states<Acc>();
  void* outs[2] = {out0, out1};
  const int lane = g.lane(), slot = g.slot();
  const int64_t split = blockIdx.y, nsplit = gridDim.y;
  const int64_t jb = split * chunk, je = jb + chunk < R ? jb + chunk : R;
  for (int64_t first = (int64_t)blockIdx.x * g.S; first < O; first += (int64_t)gridDim.x * g.S) {   // uniform per block
    const int64_t o = first + slot;
    Acc a = op.identity();
    if (o < O) {
      const S* base = in + kept.offset((IndexT)o);
      // a packed run's chunks start and end on multiples of 4 (the host rounds chunk up)
      a = packed ? reduce_lane_packed(op, a, base, red, jb / 4 + lane, je / 4, g.G) : reduce_lane(op, a, base, red, jb + lane, je, g.G);
    }
    a = group_reduce(a, sm, g, lane, slot, CombineOf<Op>{op});
    if (lane == 0 && o < O) {
      if (nsplit == 1) op.write(a, R, outs, o);
      else partial[o * nsplit + split] = a;
    }
  }
}

// Merges each output's nsplit chunk states, in chunk order, and writes the result.
template <typename Op>
__global__ void finish_kernel(Op op, const typename Op::Acc* partial, int64_t O, int64_t nsplit, int64_t R, void* out0, void* out1) {
  void* outs[2] = {out0, out1};
  for (int64_t o = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; o < O; o += (int64_t)gridDim.x * blockDim.x) {
    typename Op::Acc a = partial[o * nsplit];
    for (int64_t s = 1; s < nsplit; ++s) a = op.combine(a, partial[o * nsplit + s]);
    op.write(a, R, outs, o);
  }
}

// The same for few outputs split many ways (a whole-tensor sum: one output, a thousand chunks),
// where one thread per output would fold its chunks one after another: a block per output, thread
// t folding chunks t, t + kThreads, ..., then the block's tree. The order depends on nsplit only.
template <typename Op>
__global__ void finish_wide_kernel(Op op, const typename Op::Acc* partial, int64_t O, int64_t nsplit, int64_t R, void* out0, void* out1) {
  using Acc = typename Op::Acc;
  Acc* sm = shared_states<Acc>();
  void* outs[2] = {out0, out1};
  const Groups g{kThreads, 1, true};   // the whole block is one slot
  for (int64_t o = blockIdx.x; o < O; o += gridDim.x) {   // uniform per block
    Acc a = op.identity();
    for (int64_t s = threadIdx.x; s < nsplit; s += kThreads) a = op.combine(a, partial[o * nsplit + s]);
    a = group_reduce(a, sm, g, (int)threadIdx.x, 0, CombineOf<Op>{op});
    if (threadIdx.x == 0) op.write(a, R, outs, o);
  }
}
constexpr int64_t kWideFinish = 64;   // chunks per output from which a block merges them

template <typename S, template <typename> class OpT>
void reduce(KernelCall& c) {
  using Op = OpT<S>;
  using Acc = typename Op::Acc;
  const TensorArg& in = c.in(0);
  const int nred = (int)c.int_attr(0);
  KILN_CHECK(nred >= 0 && nred <= in.ndim, Internal, c.name, "reduced dim count out of range");
  const ReduceLayout L = make_reduce_layout(in, nred);
  for (int k = 0; k < c.n_outputs; ++k)
    KILN_CHECK(c.out(k).numel == L.O && c.out(k).is_contiguous(), Internal, c.name, "outputs must be contiguous with one element per kept position");
  if (L.O == 0) return;
  const Op op = Op::from_attrs(c.attrs + 1);
  void* out0 = c.out(0).data;
  void* out1 = c.n_outputs > 1 ? c.out(1).data : nullptr;

  const Groups g = choose_groups(L.O, L.R, L.columns());
  const unsigned gx = slot_blocks(L.O, g.S);
  int64_t nsplit = 1;
  if ((int64_t)gx < kTargetBlocks && L.R > g.G * kMinPerLane) nsplit = std::min({(kTargetBlocks + gx - 1) / (int64_t)gx, L.R / (g.G * kMinPerLane), kMaxSplit});
  // Packs of four neighbours where the layout allows (rows only: a slot's lanes are neighbours)
  const bool packed = g.lanes_fast && packable<S>(L, in.ptr<S>());
  int64_t chunk = (L.R + nsplit - 1) / nsplit;
  if (packed) chunk = (chunk + 3) / 4 * 4;
  Workspace ws(c.device, nsplit > 1 ? (size_t)(L.O * nsplit) * sizeof(Acc) : 0);
  Acc* partial = static_cast<Acc*>(ws.ptr);

  const dim3 grid(gx, (unsigned)nsplit);
  const size_t smem = kThreads * sizeof(Acc);
  cudaStream_t s = stream_of(c);
  if (L.fits_int32())
    reduce_kernel<S, Op, int32_t>
        <<<grid, kThreads, smem, s>>>(op, L.kept_calc<int32_t>(), L.red_calc<int32_t>(), in.ptr<S>(), out0, out1, L.O, L.R, chunk, g, packed, partial);
  else
    reduce_kernel<S, Op, int64_t>
        <<<grid, kThreads, smem, s>>>(op, L.kept_calc<int64_t>(), L.red_calc<int64_t>(), in.ptr<S>(), out0, out1, L.O, L.R, chunk, g, packed, partial);
  KILN_CUDA_CHECK(cudaGetLastError(), c.name);
  if (nsplit >= kWideFinish) finish_wide_kernel<Op><<<slot_blocks(L.O, 1), kThreads, smem, s>>>(op, partial, L.O, nsplit, L.R, out0, out1);
  else if (nsplit > 1) finish_kernel<Op><<<blocks_for(L.O), kThreads, 0, s>>>(op, partial, L.O, nsplit, L.R, out0, out1);
  if (nsplit > 1) KILN_CUDA_CHECK(cudaGetLastError(), c.name);
}

template <template <typename> class OpT> void reduce_ALL(KernelCall& c) { KILN_DISPATCH_ALL(c.in(0).dtype, c.name, reduce<scalar_t, OpT>(c)); }
template <template <typename> class OpT> void reduce_FLOATING(KernelCall& c) { KILN_DISPATCH_FLOATING(c.in(0).dtype, c.name, reduce<scalar_t, OpT>(c)); }

#define KILN_REGISTER_REDUCTION(name, Op, dtypes) KILN_KERNEL(name, reduce_##dtypes<Op>);
KILN_REDUCTIONS(KILN_REGISTER_REDUCTION)

}  // namespace
}}  // namespace kiln::cuda
