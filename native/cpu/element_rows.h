// Row-wise CPU loops for some of the math headers' one-element functors: where an output row is a
// shifted copy of an input row, the CPU walks rows (a few index computations per row, an inner loop
// the compiler vectorises) instead of recomputing each element's position with divisions. Same
// values as the functor. for_each_element (for_each_element.h) takes these overloads over its
// generic loop.
#pragma once
#include <cstdint>
#include "im2col.h"
#include "kiln/math/nn.h"

namespace kiln { namespace cpu {

template <typename I, typename T>
void for_each_element(const KernelCall&, int64_t, const nn::Im2colElement<T, I>& f) { im2col(f.g, f.xs, f.x, f.cols); }

template <typename I, typename T>
void for_each_element(const KernelCall&, int64_t, const nn::Col2imElement<T, I>& f) { col2im(f.g, f.cs, f.cols, f.image); }

}}  // namespace kiln::cpu
