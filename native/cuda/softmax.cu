// CUDA kernels for softmax, log_softmax and their backward passes (formulas and contract:
// include/kiln/math/softmax.h, the same as the CPU's cpu/softmax.cc). A slot of G lanes owns a row
// (reduce.cuh): the lanes reduce the row (log-sum-exp state, or the sum of the backward terms),
// merge their states by a tree (register shuffles or shared memory), and then write the row's results. Rows along the
// fast thread index when the softmax dim is contiguous, columns when neighbouring rows are
// neighbours in memory (softmax over the channels of NCHW).
#include <string>
#include "kiln/math/softmax.h"
#include "kiln/reduce_layout.h"
#include "reduce.cuh"

namespace kiln { namespace cuda { namespace {

template <typename S> struct LseCombine {
  __device__ sm::RowState<S> operator()(const sm::RowState<S>& a, const sm::RowState<S>& b) const { return red::lse_combine(a, b); }
};
struct AddCombine {
  template <typename A> __device__ A operator()(const A& a, const A& b) const { return a + b; }
};

template <typename S, typename Fn, typename IndexT>
__global__ void forward_kernel(OffsetCalc<2, IndexT> oc, S* y, const S* x, int64_t rows, int64_t D, IndexT sy, IndexT sx, Groups g) {
  using T = sm::M<S>;
  using St = sm::RowState<S>;
  St* smem = shared_states<St>();
  const int lane = g.lane(), slot = g.slot();
  for (int64_t first = (int64_t)blockIdx.x * g.S; first < rows; first += (int64_t)gridDim.x * g.S) {   // uniform per block
    const int64_t r = first + slot;
    IndexT off[2] = {0, 0};
    St st = red::lse_identity<T, sm::A<S>>();
    if (r < rows) {
      oc.get((IndexT)r, off);
      for (int64_t j = lane; j < D; j += g.G) st = red::lse_step(st, T(load(x + off[1] + (IndexT)j * sx)));
    }
    st = group_reduce(st, smem, g, lane, slot, LseCombine<S>{});
    if (r < rows) {
      const sm::Norm<T> n = sm::norm_of<S>(st);
      for (int64_t j = lane; j < D; j += g.G) store(y + off[0] + (IndexT)j * sy, Fn::value(T(load(x + off[1] + (IndexT)j * sx)), n));
    }
  }
}

template <typename S, typename Fn, typename IndexT>
__global__ void backward_kernel(OffsetCalc<3, IndexT> oc, S* dx, const S* gr, const S* y, int64_t rows, int64_t D, IndexT sd, IndexT sg, IndexT sy, Groups g) {
  using T = sm::M<S>;
  using A = sm::A<S>;
  A* smem = shared_states<A>();
  const int lane = g.lane(), slot = g.slot();
  for (int64_t first = (int64_t)blockIdx.x * g.S; first < rows; first += (int64_t)gridDim.x * g.S) {
    const int64_t r = first + slot;
    IndexT off[3] = {0, 0, 0};
    A total = A(0);
    if (r < rows) {
      oc.get((IndexT)r, off);
      for (int64_t j = lane; j < D; j += g.G) total += A(Fn::term(T(load(gr + off[1] + (IndexT)j * sg)), T(load(y + off[2] + (IndexT)j * sy))));
    }
    total = group_reduce(total, smem, g, lane, slot, AddCombine{});
    if (r < rows) {
      for (int64_t j = lane; j < D; j += g.G)
        store(dx + off[0] + (IndexT)j * sd, Fn::grad(T(load(gr + off[1] + (IndexT)j * sg)), T(load(y + off[2] + (IndexT)j * sy)), T(total)));
    }
  }
}

void check_dtypes(KernelCall& c) {
  for (int i = 0; i < c.n_inputs; ++i)
    KILN_CHECK(c.in(i).dtype == c.out(0).dtype, DType, c.name,
               std::string("operands must have one dtype, got ") + dtype_name(c.in(i).dtype) + " and " + dtype_name(c.out(0).dtype));
}

template <typename Fn> void forward(KernelCall& c) {
  check_dtypes(c);
  const TensorArg* ops[2] = {&c.out(0), &c.in(0)};
  const RowLayout<2> R = make_row_layout<2>(ops);
  if (R.rows() == 0 || R.D == 0) return;
  const Groups g = choose_groups(R.rows(), R.D, R.columns());
  const unsigned blocks = slot_blocks(R.rows(), g.S);
  cudaStream_t s = stream_of(c);
  KILN_DISPATCH_FLOATING(c.in(0).dtype, c.name, {
    const size_t smem = kThreads * sizeof(sm::RowState<scalar_t>);
    scalar_t* y = c.out(0).ptr<scalar_t>();
    const scalar_t* x = c.in(0).ptr<scalar_t>();
    if (R.fits_int32())
      forward_kernel<scalar_t, Fn, int32_t>
          <<<blocks, kThreads, smem, s>>>(OffsetCalc<2, int32_t>(R.outer), y, x, R.rows(), R.D, (int32_t)R.d_stride[0], (int32_t)R.d_stride[1], g);
    else
      forward_kernel<scalar_t, Fn, int64_t>
          <<<blocks, kThreads, smem, s>>>(OffsetCalc<2, int64_t>(R.outer), y, x, R.rows(), R.D, R.d_stride[0], R.d_stride[1], g);
  });
  KILN_CUDA_CHECK(cudaGetLastError(), c.name);
}

template <typename Fn> void backward(KernelCall& c) {
  check_dtypes(c);
  const TensorArg* ops[3] = {&c.out(0), &c.in(0), &c.in(1)};
  const RowLayout<3> R = make_row_layout<3>(ops);
  if (R.rows() == 0 || R.D == 0) return;
  const Groups g = choose_groups(R.rows(), R.D, R.columns());
  const unsigned blocks = slot_blocks(R.rows(), g.S);
  cudaStream_t s = stream_of(c);
  KILN_DISPATCH_FLOATING(c.in(0).dtype, c.name, {
    const size_t smem = kThreads * sizeof(sm::A<scalar_t>);
    scalar_t* dx = c.out(0).ptr<scalar_t>();
    const scalar_t* gr = c.in(0).ptr<scalar_t>();
    const scalar_t* y = c.in(1).ptr<scalar_t>();
    if (R.fits_int32())
      backward_kernel<scalar_t, Fn, int32_t><<<blocks, kThreads, smem, s>>>(OffsetCalc<3, int32_t>(R.outer), dx, gr, y, R.rows(), R.D, (int32_t)R.d_stride[0],
                                                                            (int32_t)R.d_stride[1], (int32_t)R.d_stride[2], g);
    else
      backward_kernel<scalar_t, Fn, int64_t>
          <<<blocks, kThreads, smem, s>>>(OffsetCalc<3, int64_t>(R.outer), dx, gr, y, R.rows(), R.D, R.d_stride[0], R.d_stride[1], R.d_stride[2], g);
  });
  KILN_CUDA_CHECK(cudaGetLastError(), c.name);
}

#define KILN_REGISTER_SOFTMAX(name, Fn, kind) KILN_KERNEL(name, kind<Fn>);
KILN_SOFTMAX_KERNELS(KILN_REGISTER_SOFTMAX)

}  // namespace
}}  // namespace kiln::cuda
