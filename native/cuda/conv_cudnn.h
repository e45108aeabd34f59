// The cuDNN path of the CUDA convolutions (conv_cudnn.cc). Each returns false, having written
// nothing, when cuDNN is unavailable or disabled, or offers no algorithm for the problem; the
// kernel (cuda/conv.cu) then runs the im2col path.
#pragma once
#include "kiln/math/conv.h"

namespace kiln { namespace cuda {

bool cudnn_conv2d(KernelCall& c, const conv::Conv2dShape& s, const TensorArg& x, const TensorArg& w, const TensorArg* bias, TensorArg& y);
bool cudnn_conv2d_backward_input(KernelCall& c, const conv::Conv2dShape& s, const TensorArg& gy, const TensorArg& w, TensorArg& gx);
bool cudnn_conv2d_backward_weight(KernelCall& c, const conv::Conv2dShape& s, const TensorArg& gy, const TensorArg& x, TensorArg& gw);

}}  // namespace kiln::cuda
