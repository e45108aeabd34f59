// What the two cuDNN paths of the convolutions share (conv_cudnn.cc: the legacy API;
// conv_cudnn_graph.cc: the graph API): one pass of one convolution as cuDNN sees it.
#pragma once
#include <array>
#include <cstdint>
#include "kiln/math/conv.h"
#include "nvidia_libraries.h"

namespace kiln { namespace cuda { namespace cudnn_conv {

using namespace nvidia::cudnn;

enum class Kind { Forward = 0, BackwardData = 1, BackwardFilter = 2 };

// A 4-D tensor as cuDNN will see it: sizes and strides in int.
struct Dims {
  int n[4], s[4];
};

// One convolution call as cuDNN runs it: x, w, y in conv2d's roles (y is gy for the backward
// passes), their dims, and which pass.
struct Problem {
  Kind kind;
  DType dtype;
  const conv::Conv2dShape* s;
  Dims x, w, y;
  const void* xp;   // written by BackwardData
  const void* wp;   // written by BackwardFilter
  const void* yp;   // written by Forward
  bool tf32;
};

// The most workspace the benchmark search gives one candidate, on either API (1 GiB).
constexpr size_t kMaxSearchWorkspace = size_t(1) << 30;

// cuDNN's "bad parameter" and "not supported" families (2xxx, 3xxx): this problem, in this layout
// (or this engine configuration), is not for cuDNN; Kiln tries another layout, API or path.
inline bool unsupported(cudnnStatus_t st) { return (int)st / 1000 == 2 || (int)st / 1000 == 3; }

inline cudnnDataType_t data_type(DType t) {
  switch (t) {
    case DType::Float64: return CUDNN_DATA_DOUBLE;
    case DType::Float16: return CUDNN_DATA_HALF;
    case DType::BFloat16: return CUDNN_DATA_BFLOAT16;
    default: return CUDNN_DATA_FLOAT;
  }
}

// The key of a problem's cached plan: everything the descriptors and the algorithm depend on,
// and `mode` (the legacy path: benchmark search or heuristics; the graph path: beta 1 or 0).
constexpr size_t kProblemKeySize = 42;
using ProblemKey = std::array<int64_t, kProblemKeySize>;
inline ProblemKey problem_key(int device, const Problem& p, int mode) {
  ProblemKey k{};
  int i = 0;
  k[i++] = device;
  k[i++] = (int)p.kind;
  k[i++] = (int)p.dtype;
  k[i++] = p.tf32;
  k[i++] = mode;
  for (const Dims* d : {&p.x, &p.w, &p.y})
    for (int j = 0; j < 4; ++j) {
      k[i++] = d->n[j];
      k[i++] = d->s[j];
    }
  const conv::Conv2dShape& s = *p.s;
  for (int64_t v : {s.sh, s.sw, s.ph, s.pw, s.dh, s.dw, s.groups}) k[i++] = v;
  return k;
}

}}}  // namespace kiln::cuda::cudnn_conv
