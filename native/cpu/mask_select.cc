// CPU kernels of the mask-driven selections (include/kiln/math/mask.h): mask_positions numbers the
// selected elements (two passes over chunks split across threads: counts, then the running
// totals), and nonzero, masked_select and masked_select_backward move each selected element to or
// from its slot.
//
//   mask_positions          inputs [mask], outputs [positions int64 [numel]]
//   nonzero                 inputs [x, positions], outputs [out int64 [count, ndim]]
//   masked_select           inputs [x, mask, positions] (one shape), outputs [out [count]]
//   masked_select_backward  inputs [grad [count], mask, positions], outputs [out (mask's shape)]
#include <vector>
#include "elementwise.h"
#include "kiln/math/mask.h"

namespace kiln { namespace cpu {
namespace {

template <typename T>
void number_selected(const TensorArg& mask, int64_t* positions) {
  const TensorArg* ops[1] = {&mask};
  const Layout<1> L = make_layout<1>(ops);
  const int64_t n = L.numel;
  const int64_t chunk = std::max<int64_t>(kGrain, (n + 63) / 64);
  const int64_t nchunks = (n + chunk - 1) / chunk;
  std::vector<int64_t> base(nchunks, 0);
  // pass 1: each chunk's inclusive counts, from 0
  parallel_for(nchunks, 1, [&](int64_t b, int64_t e) {
    for (int64_t ch = b; ch < e; ++ch) {
      int64_t count = 0, p = ch * chunk;
      strided_range<1>(L, p, std::min(n, p + chunk), [&](char** ptr) { positions[p++] = count += is_nonzero((const T*)ptr[0]) ? 1 : 0; });
      base[ch] = count;
    }
  });
  // pass 2: add the totals of the chunks before
  for (int64_t ch = 1; ch < nchunks; ++ch) base[ch] += base[ch - 1];
  parallel_for(nchunks, 1, [&](int64_t b, int64_t e) {
    for (int64_t ch = std::max<int64_t>(b, 1); ch < e; ++ch) {
      const int64_t add = base[ch - 1];
      for (int64_t p = ch * chunk, end = std::min(n, p + chunk); p < end; ++p) positions[p] += add;
    }
  });
}

void mask_positions_kernel(KernelCall& c) {
  const TensorArg& mask = c.in(0);
  check_positions(c.name, c.out(0), mask.numel);
  if (mask.numel == 0) return;
  KILN_DISPATCH_ALL(mask.dtype, c.name, number_selected<scalar_t>(mask, c.out(0).ptr<int64_t>()));
}

// Calls f(p, pointers) for every element p of the operands (one shape), split across threads.
template <int NT, typename F>
void for_each_element(const TensorArg* const ops[NT], const F& f) {
  const Layout<NT> L = make_layout<NT>(ops);
  parallel_for(L.numel, kGrain, [&](int64_t b, int64_t e) {
    int64_t p = b;
    strided_range<NT>(L, b, e, [&](char** ptr) { f(p++, ptr); });
  });
}

void nonzero_kernel(KernelCall& c) {
  const TensorArg& x = c.in(0);
  const int64_t* pos = c.in(1).ptr<int64_t>();
  TensorArg& out = c.out(0);
  check_positions(c.name, c.in(1), x.numel);
  const int64_t count = x.numel ? pos[x.numel - 1] : 0;
  KILN_CHECK(out.dtype == DType::Int64 && out.ndim == 2 && out.shape[0] == count && out.shape[1] == x.ndim, Shape, c.name,
             "expected an int64 output of shape [" + std::to_string(count) + ", " + std::to_string(x.ndim) + "]");
  if (count == 0 || x.ndim == 0) return;
  int64_t* o = out.ptr<int64_t>();
  const int64_t rs = out.strides[0], cs = out.strides[1];
  const TensorArg* ops[1] = {&x};
  KILN_DISPATCH_ALL(x.dtype, c.name, for_each_element<1>(ops, [&](int64_t p, char** ptr) {
                      if (is_nonzero((const scalar_t*)ptr[0])) write_coords(p, x.ndim, x.shape, o + (pos[p] - 1) * rs, cs);
                    }));
}

void masked_select_kernel(KernelCall& c) {
  const TensorArg &x = c.in(0), &mask = c.in(1);
  const int64_t* pos = c.in(2).ptr<int64_t>();
  TensorArg& out = c.out(0);
  check_same_shape(c.name, x, mask, "input and mask");
  check_positions(c.name, c.in(2), x.numel);
  const int64_t count = x.numel ? pos[x.numel - 1] : 0;
  KILN_CHECK(out.dtype == x.dtype && out.ndim == 1 && out.shape[0] == count, Shape, c.name,
             "expected a 1-d output of " + std::to_string(count) + " elements in the input's dtype");
  if (count == 0) return;
  const TensorArg* ops[2] = {&x, &mask};
  const int64_t os = out.strides[0];
  KILN_DISPATCH_ALL(x.dtype, c.name, {
    using T = scalar_t;
    T* o = out.ptr<T>();
    KILN_DISPATCH_ALL(mask.dtype, c.name, for_each_element<2>(ops, [&](int64_t p, char** ptr) {
                        if (is_nonzero((const scalar_t*)ptr[1])) o[(pos[p] - 1) * os] = *(const T*)ptr[0];
                      }));
  });
}

void masked_select_backward_kernel(KernelCall& c) {
  const TensorArg &grad = c.in(0), &mask = c.in(1);
  const int64_t* pos = c.in(2).ptr<int64_t>();
  TensorArg& out = c.out(0);
  check_same_shape(c.name, out, mask, "the output and mask");
  check_positions(c.name, c.in(2), mask.numel);
  const int64_t count = mask.numel ? pos[mask.numel - 1] : 0;
  KILN_CHECK(grad.dtype == out.dtype && grad.ndim == 1 && grad.shape[0] == count, Shape, c.name,
             "expected a 1-d grad of " + std::to_string(count) + " elements in the output's dtype");
  if (out.numel == 0) return;
  const TensorArg* ops[2] = {&out, &mask};
  const int64_t gs = grad.strides[0];
  KILN_DISPATCH_ALL(out.dtype, c.name, {
    using T = scalar_t;
    const T* g = grad.ptr<T>();
    KILN_DISPATCH_ALL(mask.dtype, c.name, for_each_element<2>(ops, [&](int64_t p, char** ptr) {
                        *(T*)ptr[0] = is_nonzero((const scalar_t*)ptr[1]) ? g[(pos[p] - 1) * gs] : Store<T>::from(0.0f);
                      }));
  });
}

}  // namespace

KILN_KERNEL("mask_positions", mask_positions_kernel);
KILN_KERNEL("nonzero", nonzero_kernel);
KILN_KERNEL("masked_select", masked_select_kernel);
KILN_KERNEL("masked_select_backward", masked_select_backward_kernel);

}}  // namespace kiln::cpu
