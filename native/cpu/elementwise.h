// CPU loops for elementwise kernels: a unit-stride fast path the compiler vectorises, and a
// strided path that walks a multi-index cursor (no division per element).
#pragma once
#include "kiln/strided.h"
#include "parallel.h"

namespace kiln { namespace cpu {

// Visits elements [begin, end) of layout L, calling f(ptrs) with each operand's element address.
template <int NT, typename F>
void strided_range(const Layout<NT>& L, int64_t begin, int64_t end, const F& f) {
  if (L.ndim == 0) { char* p[NT]; for (int t = 0; t < NT; ++t) p[t] = L.data[t]; if (begin < end) f(p); return; }
  int64_t idx[kMaxDims];
  int64_t rem = begin;
  for (int d = L.ndim - 1; d >= 0; --d) { idx[d] = rem % L.shape[d]; rem /= L.shape[d]; }
  char* p[NT];
  for (int t = 0; t < NT; ++t) {
    int64_t off = 0;
    for (int d = 0; d < L.ndim; ++d) off += idx[d] * L.strides[t][d];
    p[t] = L.data[t] + off * L.elem_size[t];
  }
  const int inner = L.ndim - 1;
  for (int64_t i = begin; i < end; ++i) {
    f(p);
    // advance the innermost index, carrying outwards
    for (int d = inner; d >= 0; --d) {
      for (int t = 0; t < NT; ++t) p[t] += L.strides[t][d] * L.elem_size[t];
      if (++idx[d] < L.shape[d]) break;
      for (int t = 0; t < NT; ++t) p[t] -= L.strides[t][d] * L.shape[d] * L.elem_size[t];
      idx[d] = 0;
    }
  }
}

// out = f(a)
template <typename Out, typename In, typename F>
void unary_loop(KernelCall& c, const F& f) {
  const TensorArg* ops[2] = {&c.out(0), &c.in(0)};
  Layout<2> L = make_layout<2>(ops);
  if (L.contiguous()) {
    Out* o = reinterpret_cast<Out*>(L.data[0]);
    const In* a = reinterpret_cast<const In*>(L.data[1]);
    parallel_for(L.numel, kGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) store(o + i, f(load(a + i)));
    });
    return;
  }
  parallel_for(L.numel, kGrain, [&](int64_t b, int64_t e) {
    strided_range<2>(L, b, e, [&](char** p) { store((Out*)p[0], f(load((const In*)p[1]))); });
  });
}

// out = f(a, b); a binary kernel called with one input takes b from attribute 0 (a JS number),
// on the left instead when attribute 1 is nonzero (for `2 - x`).
template <typename Out, typename In, typename F>
void binary_loop(KernelCall& c, const F& f) {
  using C = compute_t<In>;
  if (c.n_inputs == 1) {
    C s = (C)c.attr(0);
    bool left = c.n_attrs > 1 && c.attr(1) != 0;
    if (left) unary_loop<Out, In>(c, [&](C x) { return f(s, x); });
    else unary_loop<Out, In>(c, [&](C x) { return f(x, s); });
    return;
  }
  const TensorArg* ops[3] = {&c.out(0), &c.in(0), &c.in(1)};
  Layout<3> L = make_layout<3>(ops);
  if (L.contiguous()) {
    Out* o = reinterpret_cast<Out*>(L.data[0]);
    const In* a = reinterpret_cast<const In*>(L.data[1]);
    const In* b2 = reinterpret_cast<const In*>(L.data[2]);
    parallel_for(L.numel, kGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) store(o + i, f(load(a + i), load(b2 + i)));
    });
    return;
  }
  parallel_for(L.numel, kGrain, [&](int64_t b, int64_t e) {
    strided_range<3>(L, b, e, [&](char** p) { store((Out*)p[0], f(load((const In*)p[1]), load((const In*)p[2]))); });
  });
}

}}  // namespace kiln::cpu
