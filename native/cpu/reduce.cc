// CPU kernels for every reduction in include/kiln/math/reduce_ops.h (KILN_REDUCTIONS).
//
// Order of accumulation: pairwise. The R elements of an output are split in halves recursively
// down to leaves of kLeaf elements, each leaf folded sequentially (rows: four interleaved partial
// states, for instruction-level parallelism, the same for any layout of the reduced dims), and the
// halves merged with Op::combine. The rounding
// error of a sum grows with log(R) rather than R (on top of float32 accumulating in float64, see
// reduce_ops.h). The tree depends only on R, and when a few outputs are split across threads the
// pieces are subtrees of that same tree, so results are bitwise identical for any thread count.
//
// Two loop shapes (reduce_layout.h): rows reduce each output on its own; columns reduce kCols
// neighbouring outputs together, walking the reduced dim once for all of them so that memory is
// read in order (sum over dim 0 of a row-major matrix).
#include <algorithm>
#include <memory>
#include <vector>
#include "kiln/math/reduce_ops.h"
#include "kiln/reduce_layout.h"
#include "parallel.h"

namespace kiln { namespace cpu { namespace {

constexpr int64_t kLeaf = 256;       // elements folded sequentially at a leaf of the pairwise tree
constexpr int kCols = 16;            // outputs a column unit reduces together
constexpr int64_t kMinPieces = 64;   // when outputs are few, split their trees into about this many pieces

// Walks reduced positions in row-major order, tracking the element offset (no division per step).
struct RedCursor {
  const ReduceLayout& L;
  int64_t idx[kMaxDims];
  int64_t off = 0;
  RedCursor(const ReduceLayout& layout, int64_t start) : L(layout) {
    int64_t rem = start;
    for (int d = L.red_ndim - 1; d >= 0; --d) {
      idx[d] = rem % L.red_shape[d];
      rem /= L.red_shape[d];
      off += idx[d] * L.red_strides[d];
    }
  }
  void next() {
    for (int d = L.red_ndim - 1; d >= 0; --d) {
      off += L.red_strides[d];
      if (++idx[d] < L.red_shape[d]) return;
      off -= L.red_strides[d] * L.red_shape[d];
      idx[d] = 0;
    }
  }
  // Moves k positions on, k at most what is left of the innermost dim's current run.
  void skip(int64_t k) {
    const int in = L.red_ndim - 1;
    if (idx[in] + k < L.red_shape[in]) {
      idx[in] += k;
      off += k * L.red_strides[in];
      return;
    }
    idx[in] += k - 1;   // the run's last position, then one step carries into the outer dims
    off += (k - 1) * L.red_strides[in];
    next();
  }
};

// Splits n > kLeaf elements in two, the left part a whole number of leaves.
inline int64_t split_point(int64_t n) { return ((n + kLeaf - 1) / kLeaf / 2) * kLeaf; }

// Reduces runs of the reduced positions for W adjacent outputs (W = 1: rows; W = kCols: columns,
// whose outputs read base + c for c < ncols since the innermost kept stride is 1).
template <typename S, typename Op, int W>
struct Reducer {
  using Acc = typename Op::Acc;
  const Op& op;
  const ReduceLayout& L;

  // acc[c] <- the state of positions [b, b + n) of output c, in the pairwise order.
  void range(const S* base, int ncols, int64_t b, int64_t n, Acc* acc) const {
    if (n <= kLeaf) {
      leaf(base, ncols, b, n, acc);
      return;
    }
    int64_t h = split_point(n);
    Acc right[W];
    range(base, ncols, b, h, acc);
    range(base, ncols, b + h, n - h, right);
    for (int c = 0; c < ncols; ++c) acc[c] = op.combine(acc[c], right[c]);
  }

  void leaf(const S* base, int ncols, int64_t b, int64_t n, Acc* acc) const {
    if (W == 1) {
      acc[0] = leaf_row(base, b, n);
      return;
    }
    for (int c = 0; c < ncols; ++c) acc[c] = op.identity();
    if (L.red_ndim == 1) {
      const int64_t s = L.red_strides[0];
      if (ncols == W) {   // full unit: a constant trip count the compiler unrolls / vectorises
        for (int64_t j = b; j < b + n; ++j) {
          const S* p = base + j * s;
          for (int c = 0; c < W; ++c) acc[c] = op.step(acc[c], load(p + c), j);
        }
        return;
      }
      for (int64_t j = b; j < b + n; ++j) {
        const S* p = base + j * s;
        for (int c = 0; c < ncols; ++c) acc[c] = op.step(acc[c], load(p + c), j);
      }
      return;
    }
    RedCursor cur(L, b);
    for (int64_t j = b; j < b + n; ++j, cur.next())
      for (int c = 0; c < ncols; ++c) acc[c] = op.step(acc[c], load(base + cur.off + c), j);
  }

  // Folds the elements of relative positions [r0, r0 + count) of a leaf (at p, p + s, ...) into four
  // interleaved states: position r goes to state r % 4 while r < n4 (the leaf's length rounded down
  // to a multiple of 4), to state 0 after; each state in increasing r. So a leaf folds the same
  // way whether it is walked in one run or in several (reduced dims that do not merge into one).
  void fold_run(const S* p, int64_t s, int64_t r0, int64_t count, int64_t n4, int64_t b, Acc* a) const {
    int64_t k = 0, r = r0;
    for (; k < count && r < n4 && (r & 3); ++k, ++r) a[r & 3] = op.step(a[r & 3], load(p + k * s), b + r);
    Acc a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3];
    if (s == 1) {
      for (; k + 4 <= count && r + 4 <= n4; k += 4, r += 4) {
        a0 = op.step(a0, load(p + k), b + r);
        a1 = op.step(a1, load(p + k + 1), b + r + 1);
        a2 = op.step(a2, load(p + k + 2), b + r + 2);
        a3 = op.step(a3, load(p + k + 3), b + r + 3);
      }
    } else {
      for (; k + 4 <= count && r + 4 <= n4; k += 4, r += 4) {
        a0 = op.step(a0, load(p + k * s), b + r);
        a1 = op.step(a1, load(p + (k + 1) * s), b + r + 1);
        a2 = op.step(a2, load(p + (k + 2) * s), b + r + 2);
        a3 = op.step(a3, load(p + (k + 3) * s), b + r + 3);
      }
    }
    a[0] = a0, a[1] = a1, a[2] = a2, a[3] = a3;
    for (; k < count; ++k, ++r) {
      const int lane = r < n4 ? (int)(r & 3) : 0;
      a[lane] = op.step(a[lane], load(p + k * s), b + r);
    }
  }

  Acc leaf_row(const S* base, int64_t b, int64_t n) const {
    Acc a[4] = {op.identity(), op.identity(), op.identity(), op.identity()};
    const int64_t n4 = n / 4 * 4;
    if (L.red_ndim <= 1) {
      // one reduced dim (or none: R = 1, stride irrelevant): one run
      const int64_t s = L.red_ndim ? L.red_strides[0] : 1;
      fold_run(base + b * s, s, 0, n, n4, b, a);
    } else {
      // several: runs along the innermost reduced dim (the bias gradient's sum over N, H, W of an
      // NCHW tensor: H W contiguous elements per run), the cursor carrying into the outer dims
      const int in = L.red_ndim - 1;
      const int64_t s = L.red_strides[in], len = L.red_shape[in];
      RedCursor cur(L, b);
      for (int64_t r = 0; r < n;) {
        const int64_t count = std::min(n - r, len - cur.idx[in]);
        fold_run(base + cur.off, s, r, count, n4, b, a);
        r += count;
        cur.skip(count);
      }
    }
    return op.combine(op.combine(a[0], a[1]), op.combine(a[2], a[3]));
  }
};

// The nodes of the pairwise tree over [b, b + n) at `depth` below the root (or leaves above it).
void tree_nodes(int64_t b, int64_t n, int depth, std::vector<std::pair<int64_t, int64_t>>& out) {
  if (depth == 0 || n <= kLeaf) {
    out.emplace_back(b, n);
    return;
  }
  int64_t h = split_point(n);
  tree_nodes(b, h, depth - 1, out);
  tree_nodes(b + h, n - h, depth - 1, out);
}

// Merges node states (in tree_nodes order, `stride` apart) back up the same tree.
template <typename Op>
typename Op::Acc fold_nodes(const Op& op, int64_t n, int depth, const typename Op::Acc* part, size_t stride, size_t& k) {
  if (depth == 0 || n <= kLeaf) return part[(k++) * stride];
  int64_t h = split_point(n);
  auto left = fold_nodes(op, h, depth - 1, part, stride, k);
  auto right = fold_nodes(op, n - h, depth - 1, part, stride, k);
  return op.combine(left, right);
}

template <typename S, typename Op, int W>
void run(const Op& op, const ReduceLayout& L, const S* in, void* const outs[]) {
  using Acc = typename Op::Acc;
  Reducer<S, Op, W> red{op, L};
  // Kept offsets through the calculator the CUDA kernels use (int32 with IntDivider where every
  // offset fits), so the CPU tests cover it too; one call per output, not per element.
  const bool int32 = L.fits_int32();
  const DimCalc<int64_t> kept64 = L.kept_calc<int64_t>();
  const DimCalc<int32_t> kept32 = int32 ? L.kept_calc<int32_t>() : DimCalc<int32_t>{};
  auto kept_offset = [&](int64_t o) -> int64_t { return int32 ? kept32.offset((int32_t)o) : kept64.offset(o); };
  // A unit is one output (rows) or up to W neighbours along the innermost kept dim (columns).
  const int64_t inner = W > 1 ? L.kept_inner_size() : 1;
  const int64_t per_row = (inner + W - 1) / W;
  const int64_t units = W > 1 ? (L.O / inner) * per_row : L.O;
  auto unit_of = [&](int64_t u, int64_t& o, int& ncols) {
    if (W == 1) {
      o = u;
      ncols = 1;
      return;
    }
    int64_t k = u % per_row;
    o = (u / per_row) * inner + k * W;
    ncols = (int)std::min<int64_t>(W, inner - k * W);
  };
  const int64_t R = L.R;

  // Few outputs with long reductions: also split each output's tree across threads.
  int depth = 0;
  if (units < kMinPieces && R > kLeaf && units * R * W >= kGrain)
    while ((units << depth) < kMinPieces) ++depth;

  if (depth == 0) {
    const int64_t work = std::max<int64_t>(R, 1) * W;
    parallel_for(units, std::max<int64_t>(1, kGrain / work), [&](int64_t b, int64_t e) {
      Acc acc[W];
      for (int64_t u = b; u < e; ++u) {
        int64_t o;
        int ncols;
        unit_of(u, o, ncols);
        red.range(in + kept_offset(o), ncols, 0, R, acc);
        for (int c = 0; c < ncols; ++c) op.write(acc[c], R, outs, o + c);
      }
    });
    return;
  }

  std::vector<std::pair<int64_t, int64_t>> nodes;
  tree_nodes(0, R, depth, nodes);
  const int64_t nn = (int64_t)nodes.size();
  std::unique_ptr<Acc[]> part(new Acc[(size_t)(units * nn * W)]);   // not vector: vector<bool> packs bits
  parallel_for(units * nn, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      int64_t o;
      int ncols;
      unit_of(i / nn, o, ncols);
      const auto& node = nodes[(size_t)(i % nn)];
      red.range(in + kept_offset(o), ncols, node.first, node.second, &part[(size_t)(i * W)]);
    }
  });
  for (int64_t u = 0; u < units; ++u) {
    int64_t o;
    int ncols;
    unit_of(u, o, ncols);
    for (int c = 0; c < ncols; ++c) {
      size_t k = 0;
      Acc a = fold_nodes(op, R, depth, &part[(size_t)(u * nn * W + c)], W, k);
      op.write(a, R, outs, o + c);
    }
  }
}

template <typename S, template <typename> class OpT>
void reduce(KernelCall& c) {
  using Op = OpT<S>;
  const TensorArg& in = c.in(0);
  const int nred = (int)c.int_attr(0);
  KILN_CHECK(nred >= 0 && nred <= in.ndim, Internal, c.name, "reduced dim count out of range");
  ReduceLayout L = make_reduce_layout(in, nred);
  void* outs[2] = {c.out(0).data, c.n_outputs > 1 ? c.out(1).data : nullptr};
  for (int k = 0; k < c.n_outputs; ++k)
    KILN_CHECK(c.out(k).numel == L.O && c.out(k).is_contiguous(), Internal, c.name, "outputs must be contiguous with one element per kept position");
  if (L.O == 0) return;
  Op op = Op::from_attrs(c.attrs + 1);
  if (L.columns()) run<S, Op, kCols>(op, L, in.ptr<S>(), outs);
  else run<S, Op, 1>(op, L, in.ptr<S>(), outs);
}

template <template <typename> class OpT> void reduce_ALL(KernelCall& c) { KILN_DISPATCH_ALL(c.in(0).dtype, c.name, reduce<scalar_t, OpT>(c)); }
template <template <typename> class OpT> void reduce_FLOATING(KernelCall& c) { KILN_DISPATCH_FLOATING(c.in(0).dtype, c.name, reduce<scalar_t, OpT>(c)); }

#define KILN_REGISTER_REDUCTION(name, Op, dtypes) KILN_KERNEL(name, reduce_##dtypes<Op>);
KILN_REDUCTIONS(KILN_REGISTER_REDUCTION)

}  // namespace
}}  // namespace kiln::cpu
