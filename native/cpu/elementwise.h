// CPU loops for elementwise kernels: a unit-stride fast path the compiler vectorises, and a
// strided path that walks a multi-index cursor (no division per element).
#pragma once
#include <algorithm>
#include "kiln/strided.h"
#include "parallel.h"

namespace kiln { namespace cpu {

// Visits elements [begin, end) of layout L as runs along the innermost dimension: run(p, n, step)
// with each operand's address of the run's first element, the run's length and each operand's
// step in bytes. The multi-index is carried once per run, not once per element.
template <int NT, typename R>
void strided_runs(const Layout<NT>& L, int64_t begin, int64_t end, const R& run) {
  if (begin >= end) return;
  char* p[NT];
  int64_t step[NT];
  if (L.ndim == 0) {
    for (int t = 0; t < NT; ++t) {
      p[t] = L.data[t];
      step[t] = 0;
    }
    run(p, int64_t(1), step);
    return;
  }
  int64_t idx[kMaxDims];
  int64_t rem = begin;
  for (int d = L.ndim - 1; d >= 0; --d) {
    idx[d] = rem % L.shape[d];
    rem /= L.shape[d];
  }
  for (int t = 0; t < NT; ++t) {
    int64_t off = 0;
    for (int d = 0; d < L.ndim; ++d) off += idx[d] * L.strides[t][d];
    p[t] = L.data[t] + off * L.elem_size[t];
  }
  const int inner = L.ndim - 1;
  for (int t = 0; t < NT; ++t) step[t] = L.strides[t][inner] * L.elem_size[t];
  for (int64_t i = begin; i < end;) {
    const int64_t n = std::min(L.shape[inner] - idx[inner], end - i);
    run(p, n, step);
    i += n;
    if (i >= end) break;
    // the run ended a row: move to the next row's first element, carrying outwards
    for (int t = 0; t < NT; ++t) p[t] -= idx[inner] * step[t];
    idx[inner] = 0;
    for (int d = inner - 1; d >= 0; --d) {
      for (int t = 0; t < NT; ++t) p[t] += L.strides[t][d] * L.elem_size[t];
      if (++idx[d] < L.shape[d]) break;
      for (int t = 0; t < NT; ++t) p[t] -= L.strides[t][d] * L.shape[d] * L.elem_size[t];
      idx[d] = 0;
    }
  }
}

// Visits elements [begin, end) of layout L, calling f(ptrs) with each operand's element address.
template <int NT, typename F>
void strided_range(const Layout<NT>& L, int64_t begin, int64_t end, const F& f) {
  strided_runs<NT>(L, begin, end, [&](char** p0, int64_t n, const int64_t* step) {
    char* p[NT];
    for (int t = 0; t < NT; ++t) p[t] = p0[t];
    for (int64_t k = 0; k < n; ++k) {
      f(p);
      for (int t = 0; t < NT; ++t) p[t] += step[t];
    }
  });
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
    strided_runs<2>(L, b, e, [&](char** p, int64_t n, const int64_t* step) {
      Out* o = reinterpret_cast<Out*>(p[0]);
      const In* a = reinterpret_cast<const In*>(p[1]);
      const int64_t so = step[0] / (int64_t)sizeof(Out), sa = step[1] / (int64_t)sizeof(In);
      if (so == 1 && sa == 1)
        for (int64_t k = 0; k < n; ++k) store(o + k, f(load(a + k)));     // a contiguous row
      else if (so == 1 && sa == 0) {                                                               // a broadcast row
        Out v;
        store(&v, f(load(a)));
        std::fill(o, o + n, v);
      } else if (so == 1)
        for (int64_t k = 0; k < n; ++k) store(o + k, f(load(a + k * sa)));       // a gather (permute copies)
      else
        for (int64_t k = 0; k < n; ++k) store(o + k * so, f(load(a + k * sa)));
    });
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
    strided_runs<3>(L, b, e, [&](char** p, int64_t n, const int64_t* step) {
      Out* o = reinterpret_cast<Out*>(p[0]);
      const In* a = reinterpret_cast<const In*>(p[1]);
      const In* c2 = reinterpret_cast<const In*>(p[2]);
      const int64_t so = step[0] / (int64_t)sizeof(Out), sa = step[1] / (int64_t)sizeof(In), sb = step[2] / (int64_t)sizeof(In);
      if (so == 1 && sa == 1 && sb == 1) {                 // contiguous rows
        for (int64_t k = 0; k < n; ++k) store(o + k, f(load(a + k), load(c2 + k)));
      } else if (so == 1 && sa == 1 && sb == 0) {          // b broadcast along the row (a bias, a scale)
        const auto y = load(c2);
        for (int64_t k = 0; k < n; ++k) store(o + k, f(load(a + k), y));
      } else if (so == 1 && sa == 0 && sb == 1) {
        const auto x = load(a);
        for (int64_t k = 0; k < n; ++k) store(o + k, f(x, load(c2 + k)));
      } else {
        for (int64_t k = 0; k < n; ++k) store(o + k * so, f(load(a + k * sa), load(c2 + k * sb)));
      }
    });
  });
}

}}  // namespace kiln::cpu
