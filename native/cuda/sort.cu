// CUDA kernels of sort and topk (operands: include/kiln/sort_call.h): CUB's device-wide radix sort
// (stable, O(n) passes over the key bits) of every row at once, then a kernel that writes each
// row's k first elements. The keys are those of include/kiln/math/sort_key.h, as on the CPU, so
// both devices give the same order (ties by increasing index).
//
// Rows are sorted together by making the row part of the key: element p of row r = p / n gets
//   key = (r << B) | sort_key(x[p])              when the value key has B <= 32 bits,
// and one radix sort of (key, p) pairs over the B + bits(rows - 1) low bits orders every row at
// once. 64-bit value keys (float64, int64) leave no room for the row: they are sorted by value
// first and then, stably, by row (a second radix sort over the row bits only), which gives the
// same result. topk sorts whole rows and keeps the first k (a full sort, O(n) per element).
#include <cub/device/device_radix_sort.cuh>
#include "kiln/math/indexing.h"
#include "kiln/math/sort_key.h"
#include "kiln/sort_call.h"
#include "kiln/strided.h"
#include "runtime.h"
#include "workspace.h"

namespace kiln { namespace cuda {
namespace {

// Bits needed to write v (0 for v = 0).
int bits_for(uint64_t v) {
  int b = 0;
  while (v) {
    ++b;
    v >>= 1;
  }
  return b;
}

// keys[p] = row bits | value key of element p (row-major over x's shape), pos[p] = p.
template <typename T, typename IndexT>
__global__ void make_keys(OffsetCalc<1, IndexT> x_at, const T* x, int64_t numel, int64_t n, int row_shift, bool descending, uint64_t* keys, int64_t* pos) {
  for (int64_t p = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; p < numel; p += (int64_t)gridDim.x * blockDim.x) {
    IndexT off[1];
    x_at.get((IndexT)p, off);
    uint64_t k = sort_key(x + off[0], descending);
    if (row_shift >= 0) k |= (uint64_t)(p / n) << row_shift;
    keys[p] = k;
    pos[p] = p;
  }
}

// keys[i] = the row of position pos[i] (the second sort of 64-bit value keys).
__global__ void row_keys(const int64_t* pos, int64_t numel, int64_t n, uint64_t* keys) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < numel; i += (int64_t)gridDim.x * blockDim.x) keys[i] = (uint64_t)(pos[i] / n);
}

// Output element q = (row r, rank j < k): the element at sorted position r * n + j.
template <typename T, typename IndexT>
__global__ void write_rows(OffsetCalc<1, IndexT> x_at, OffsetCalc<2, IndexT> out_at, const T* x, const int64_t* sorted, int64_t count, int64_t n, int64_t k,
                           T* values, int64_t* indices) {
  for (int64_t q = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; q < count; q += (int64_t)gridDim.x * blockDim.x) {
    const int64_t r = q / k, j = q - r * k;
    const int64_t p = sorted[r * n + j];
    IndexT xo[1], oo[2];
    x_at.get((IndexT)p, xo);
    out_at.get((IndexT)q, oo);
    values[oo[0]] = x[xo[0]];
    indices[oo[1]] = p - r * n;
  }
}

// Radix-sorts (keys, pos) pairs over bits [0, end_bit); returns the buffer holding the sorted pos.
int64_t* radix_sort_pairs(const KernelCall& c, cub::DoubleBuffer<uint64_t>& keys, cub::DoubleBuffer<int64_t>& pos, int64_t numel, int end_bit) {
  size_t bytes = 0;
  KILN_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, bytes, keys, pos, numel, 0, end_bit, stream_of(c)), c.name);
  Workspace temp(c.device, bytes > 0 ? bytes : 1);   // a null pointer would make CUB only report the size
  KILN_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp.ptr, bytes, keys, pos, numel, 0, end_bit, stream_of(c)), c.name);
  return pos.Current();
}

template <typename T, typename IndexT>
void sort_rows_with(const KernelCall& c, const SortCall& s) {
  constexpr int B = SortKeyBits<T>::value;
  const int64_t numel = s.x.numel, n = s.n;
  const int row_bits = bits_for((uint64_t)(s.rows - 1));
  cudaStream_t stream = stream_of(c);
  // keys and positions, double-buffered for the radix sort's passes
  Workspace buf(c.device, (size_t)numel * 4 * sizeof(uint64_t));
  uint64_t* k0 = buf.as<uint64_t>();
  int64_t* p0 = reinterpret_cast<int64_t*>(k0 + 2 * numel);
  cub::DoubleBuffer<uint64_t> keys(k0, k0 + numel);
  cub::DoubleBuffer<int64_t> pos(p0, p0 + numel);

  const TensorArg* xo[1] = {&s.x};
  const OffsetCalc<1, IndexT> x_at(make_layout<1>(xo));
  const bool packed = B + row_bits <= 64 && B < 64;
  make_keys<T, IndexT>
      <<<blocks_for(numel), kThreads, 0, stream>>>(x_at, s.x.ptr<T>(), numel, n, packed && row_bits > 0 ? B : -1, s.descending, keys.Current(), pos.Current());
  KILN_CUDA_CHECK(cudaGetLastError(), c.name);
  const int64_t* sorted = radix_sort_pairs(c, keys, pos, numel, packed ? B + row_bits : B);
  if (!packed && row_bits > 0) {   // 64-bit keys: now stably by row
    row_keys<<<blocks_for(numel), kThreads, 0, stream>>>(pos.Current(), numel, n, keys.Current());
    KILN_CUDA_CHECK(cudaGetLastError(), c.name);
    sorted = radix_sort_pairs(c, keys, pos, numel, row_bits);
  }

  const TensorArg* oo[2] = {&s.values, &s.indices};
  const OffsetCalc<2, IndexT> out_at(make_layout<2>(oo));
  const int64_t count = s.values.numel;
  write_rows<T, IndexT>
      <<<blocks_for(count), kThreads, 0, stream>>>(x_at, out_at, s.x.ptr<T>(), sorted, count, n, s.k, s.values.ptr<T>(), s.indices.ptr<int64_t>());
  KILN_CUDA_CHECK(cudaGetLastError(), c.name);
}

template <typename T>
void sort_rows(const KernelCall& c, const SortCall& s) {
  const bool small = s.x.numel < (1LL << 31) && max_offset(s.x) < (1LL << 31) && max_offset(s.values) < (1LL << 31) && max_offset(s.indices) < (1LL << 31);
  if (small) sort_rows_with<T, int32_t>(c, s);
  else sort_rows_with<T, int64_t>(c, s);
}

void sort_kernel(KernelCall& c) {
  SortCall s = check_sort_call(c);
  if (s.values.numel == 0) return;
  KILN_DISPATCH_ALL(s.x.dtype, c.name, sort_rows<scalar_t>(c, s));
}

}  // namespace

KILN_KERNEL("sort", sort_kernel);
KILN_KERNEL("topk", sort_kernel);

}}  // namespace kiln::cuda
