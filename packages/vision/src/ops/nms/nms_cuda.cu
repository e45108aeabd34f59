// CUDA kernel of non-maximum suppression (operands and overlap test: nms.h), torchvision's
// algorithm with the selection on the device:
//
//   1. gather: the boxes (and classes) in score order, in the compute type;
//   2. overlap mask: one block of 64 threads per (row block, column block) pair of 64 boxes each,
//      upper triangle only; row i's word for column block b has bit t set when box i overlaps box
//      64 b + t, a later box (and, with classes, one of the same class);
//   3. select: one block walks the column blocks in order. For block b, thread 0 resolves its 64
//      boxes from the words already removed and the block's own diagonal words (in shared
//      memory), then every thread ORs the rows of the boxes just kept into the removed words of
//      the later blocks: one synchronisation per 64 boxes, not one per kept box, and no copy of
//      the mask to the host.
//
// keep[k] (score order) comes out on the device; the TypeScript op selects the kept indices from
// the order with maskedSelect (one read of their count).
#include "cuda/runtime.h"
#include "cuda/workspace.h"
#include "nms.h"

namespace kiln { namespace vision {
namespace {

using kiln::cuda::Workspace;
constexpr int kBlockBoxes = 64;   // boxes per mask word
constexpr int kSelectThreads = 256;

template <typename T, typename I>
__global__ void gather_sorted(const T* boxes, int64_t rs, int64_t cs, const int64_t* order, int64_t os, const I* classes, int64_t cls_stride, int64_t n,
                              Box<compute_t<T>>* sorted, int64_t* sorted_classes, DeviceErrorSlot* slot, int kernel_id) {
  for (int64_t k = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; k < n; k += (int64_t)gridDim.x * blockDim.x) {
    int64_t o = order[k * os];
    if (o < 0 || o >= n) {   // the order comes from argsort; a direct call may pass anything
      report_index_error(slot, kernel_id, 1, (long long)o, 0, n - 1);
      o = 0;
    }
    sorted[k] = load_box(boxes, o, rs, cs);
    if (classes) sorted_classes[k] = (int64_t)classes[o * cls_stride];
  }
}

template <typename C>
__global__ void overlap_mask(const Box<C>* sorted, const int64_t* classes, int64_t n, int64_t col_blocks, double threshold, uint64_t* mask) {
  const int64_t row_block = blockIdx.y, col_block = blockIdx.x;
  if (row_block > col_block) return;
  const int64_t row_size = min((int64_t)kBlockBoxes, n - row_block * kBlockBoxes);
  const int64_t col_size = min((int64_t)kBlockBoxes, n - col_block * kBlockBoxes);
  __shared__ Box<C> cols[kBlockBoxes];
  __shared__ int64_t col_classes[kBlockBoxes];
  if (threadIdx.x < col_size) {
    cols[threadIdx.x] = sorted[col_block * kBlockBoxes + threadIdx.x];
    if (classes) col_classes[threadIdx.x] = classes[col_block * kBlockBoxes + threadIdx.x];
  }
  __syncthreads();
  if (threadIdx.x >= row_size) return;
  const int64_t i = row_block * kBlockBoxes + threadIdx.x;
  const Box<C> box = sorted[i];
  const int64_t cls = classes ? classes[i] : 0;
  uint64_t bits = 0;
  for (int t = row_block == col_block ? threadIdx.x + 1 : 0; t < col_size; ++t) {
    if ((!classes || col_classes[t] == cls) && overlaps(box, cols[t], threshold)) bits |= 1ull << t;
  }
  mask[i * col_blocks + col_block] = bits;
}

__global__ void select_kept(const uint64_t* mask, int64_t n, int64_t col_blocks, bool* keep, int64_t ks) {
  extern __shared__ uint64_t removed[];   // one bit per box: suppressed by a kept box
  __shared__ uint64_t diagonal[kBlockBoxes];
  __shared__ uint64_t kept;
  for (int64_t j = threadIdx.x; j < col_blocks; j += blockDim.x) removed[j] = 0;
  __syncthreads();
  for (int64_t b = 0; b < col_blocks; ++b) {
    const int64_t base = b * kBlockBoxes;
    const int m = (int)min((int64_t)kBlockBoxes, n - base);
    if (threadIdx.x < m) diagonal[threadIdx.x] = mask[(base + threadIdx.x) * col_blocks + b];
    __syncthreads();
    if (threadIdx.x == 0) {   // the block's boxes in order: kept unless removed, then removing
      uint64_t gone = removed[b], mine = 0;
      for (int t = 0; t < m; ++t) {
        if (!((gone >> t) & 1ull)) {
          mine |= 1ull << t;
          gone |= diagonal[t];
        }
      }
      kept = mine;
    }
    __syncthreads();
    const uint64_t mine = kept;
    if (threadIdx.x < m) keep[(base + threadIdx.x) * ks] = (mine >> threadIdx.x) & 1ull;
    for (int64_t j = b + 1 + threadIdx.x; j < col_blocks; j += blockDim.x) {
      uint64_t gone = 0;
      for (uint64_t rest = mine; rest; rest &= rest - 1) gone |= mask[(base + __ffsll((long long)rest) - 1) * col_blocks + j];
      removed[j] |= gone;
    }
    __syncthreads();
  }
}

template <typename T>
void nms_boxes(KernelCall& c, int64_t n) {
  using C = compute_t<T>;
  const TensorArg &boxes = c.in(0), &order = c.in(1);
  const bool has_classes = c.n_inputs == 3;
  const int64_t col_blocks = (n + kBlockBoxes - 1) / kBlockBoxes;
  const size_t removed_bytes = (size_t)col_blocks * sizeof(uint64_t);
  KILN_CHECK(removed_bytes <= 40 * 1024, Value, c.name,
             "argument 'boxes' holds " + std::to_string(n) + " boxes; at most " + std::to_string(40 * 1024 / 8 * kBlockBoxes) + " fit one NMS call on CUDA");
  cudaStream_t s = kiln::cuda::stream_of(c);
  Workspace sorted(c.device, (size_t)n * sizeof(Box<C>));
  Workspace classes(c.device, has_classes ? (size_t)n * sizeof(int64_t) : 0);
  Workspace mask(c.device, (size_t)n * col_blocks * sizeof(uint64_t));
  const unsigned g = kiln::cuda::blocks_for(n);
  if (has_classes) {
    const TensorArg& cls = c.in(2);
    KILN_DISPATCH_INDEX(cls.dtype, c.name,
                        gather_sorted<T, scalar_t><<<g, kiln::cuda::kThreads, 0, s>>>(
                            boxes.ptr<T>(), boxes.strides[0], boxes.strides[1], order.ptr<int64_t>(), order.strides[0], cls.ptr<scalar_t>(), cls.strides[0], n,
                            sorted.as<Box<C>>(), classes.as<int64_t>(), kiln::cuda::error_slot_of(c), c.id));
  } else {
    gather_sorted<T, int64_t><<<g, kiln::cuda::kThreads, 0, s>>>(boxes.ptr<T>(), boxes.strides[0], boxes.strides[1], order.ptr<int64_t>(), order.strides[0],
                                                                 nullptr, 0, n, sorted.as<Box<C>>(), nullptr, kiln::cuda::error_slot_of(c), c.id);
  }
  KILN_CUDA_CHECK(cudaGetLastError(), c.name);
  overlap_mask<C><<<dim3((unsigned)col_blocks, (unsigned)col_blocks), kBlockBoxes, 0, s>>>(sorted.as<Box<C>>(), classes.as<int64_t>(), n, col_blocks, c.attr(0),
                                                                                           mask.as<uint64_t>());
  KILN_CUDA_CHECK(cudaGetLastError(), c.name);
  select_kept<<<1, kSelectThreads, removed_bytes, s>>>(mask.as<uint64_t>(), n, col_blocks, c.out(0).ptr<bool>(), c.out(0).strides[0]);
  KILN_CUDA_CHECK(cudaGetLastError(), c.name);
}

void nms_kernel(KernelCall& c) {
  const int64_t n = check_nms_call(c);
  if (n == 0) return;
  KILN_DISPATCH_FLOATING(c.in(0).dtype, c.name, nms_boxes<scalar_t>(c, n));
}

}  // namespace

KILN_KERNEL_ARGS("nms", nms_kernel, "boxes,order,idxs");

}}  // namespace kiln::vision
