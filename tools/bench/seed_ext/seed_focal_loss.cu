// The seed's sigmoid focal loss CUDA kernels (the PyTorch extension Kiln's focal loss replaces), kept as they
// are -- flaws included (float math through expf/powf/logf whatever the dtype, intermediates
// stored in scalar_t, log(max(p, FLT_MIN)), int indexing, a d_losses read per element) -- so that
// the benchmark times what the seed really does. Changed only to build with current CUDA and
// PyTorch: the CUDA_1D_KERNEL_LOOP macro is defined here, `long` is int64_t, and the host code
// (modelled on the mmdetection file the seed came from: 512 threads, at most 4096 blocks,
// at::zeros for the gradient) uses TORCH_CHECK / data_ptr / C10_CUDA_KERNEL_LAUNCH_CHECK instead
// of AT_ASSERTM / data / THCudaCheck. Dispatch also covers bfloat16 so that it can be timed.
//
// Targets: int64 [N], 0 = background, 1..C = foreground class t - 1, negative = ignored.

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>

#include <algorithm>
#include <cfloat>
#include <cstdint>

#define CUDA_1D_KERNEL_LOOP(i, n)                            \
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; \
       i += blockDim.x * gridDim.x)

template <typename scalar_t>
__global__ void SigmoidFocalLossForward(const int nthreads,
                                        const scalar_t *logits,
                                        const int64_t *targets,
                                        const int num_classes,
                                        const float gamma, const float alpha,
                                        const int num, scalar_t *losses) {
  CUDA_1D_KERNEL_LOOP(i, nthreads) {
    int n = i / num_classes;
    int d = i % num_classes;  // current class[0~79];
    int t = targets[n];       // target class [1~80];

    // Decide it is positive or negative case.
    scalar_t c1 = (t == (d + 1));
    scalar_t c2 = (t >= 0 & t != (d + 1));

    scalar_t zn = (1.0 - alpha);
    scalar_t zp = (alpha);

    // p = 1. / 1. + expf(-x); p = sigmoid(x)
    scalar_t p = 1. / (1. + expf(-logits[i]));

    // (1-p)**gamma * log(p) where
    scalar_t term1 = powf((1. - p), gamma) * logf(max(p, FLT_MIN));

    // p**gamma * log(1-p)
    scalar_t term2 =
        powf(p, gamma) *
        (-1. * logits[i] * (logits[i] >= 0) -
         logf(1. + expf(logits[i] - 2. * logits[i] * (logits[i] >= 0))));

    losses[i] = 0.0;
    losses[i] += -c1 * term1 * zp;
    losses[i] += -c2 * term2 * zn;

  }  // CUDA_1D_KERNEL_LOOP
}  // SigmoidFocalLossForward

template <typename scalar_t>
__global__ void SigmoidFocalLossBackward(
    const int nthreads, const scalar_t *logits, const int64_t *targets,
    const scalar_t *d_losses, const int num_classes, const float gamma,
    const float alpha, const int num, scalar_t *d_logits) {
  CUDA_1D_KERNEL_LOOP(i, nthreads) {
    int n = i / num_classes;
    int d = i % num_classes;  // current class[0~79];
    int t = targets[n];       // target class [1~80], 0 is background;

    // Decide it is positive or negative case.
    scalar_t c1 = (t == (d + 1));
    scalar_t c2 = (t >= 0 & t != (d + 1));

    scalar_t zn = (1.0 - alpha);
    scalar_t zp = (alpha);
    // p = 1. / 1. + expf(-x); p = sigmoid(x)
    scalar_t p = 1. / (1. + expf(-logits[i]));

    // (1-p)**g * (1 - p - g*p*log(p)
    scalar_t term1 =
        powf((1. - p), gamma) * (1. - p - (p * gamma * logf(max(p, FLT_MIN))));

    // (p**g) * (g*(1-p)*log(1-p) - p)
    scalar_t term2 =
        powf(p, gamma) *
        ((-1. * logits[i] * (logits[i] >= 0) -
          logf(1. + expf(logits[i] - 2. * logits[i] * (logits[i] >= 0)))) *
             (1. - p) * gamma -
         p);
    d_logits[i] = 0.0;
    d_logits[i] += -c1 * term1 * zp;
    d_logits[i] += -c2 * term2 * zn;
    d_logits[i] = d_logits[i] * d_losses[i];

  }  // CUDA_1D_KERNEL_LOOP
}  // SigmoidFocalLossBackward

namespace {

constexpr int64_t kThreads = 512;
constexpr int64_t kMaxBlocks = 4096;

dim3 grid_for(int64_t n) {
  return dim3(static_cast<unsigned>(std::min((n + kThreads - 1) / kThreads, kMaxBlocks)));
}

void check_inputs(const at::Tensor &logits, const at::Tensor &targets, int64_t num_classes) {
  TORCH_CHECK(logits.is_cuda(), "logits must be a CUDA tensor");
  TORCH_CHECK(targets.is_cuda(), "targets must be a CUDA tensor");
  TORCH_CHECK(logits.dim() == 2, "logits should be NxClass");
  TORCH_CHECK(targets.scalar_type() == at::kLong, "targets must be int64");
  TORCH_CHECK(targets.dim() == 1 && targets.size(0) == logits.size(0),
              "targets must have shape [N]");
  TORCH_CHECK(logits.size(1) == num_classes, "logits.size(1) should be num_classes");
  // The kernels index with int, as the seed does.
  TORCH_CHECK(logits.numel() <= INT32_MAX, "the seed kernels index with int");
}

}  // namespace

at::Tensor seed_focal_loss_forward(const at::Tensor &logits, const at::Tensor &targets,
                                   int64_t num_classes, double gamma, double alpha) {
  check_inputs(logits, targets, num_classes);
  const int num_samples = logits.size(0);
  auto losses = at::empty({num_samples, logits.size(1)}, logits.options());
  const int64_t losses_size = losses.numel();
  if (losses_size == 0) {
    return losses;
  }
  const auto logits_c = logits.contiguous();
  const auto targets_c = targets.contiguous();
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, logits.scalar_type(), "SigmoidFocalLoss_forward", [&] {
        SigmoidFocalLossForward<scalar_t>
            <<<grid_for(losses_size), kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
                static_cast<int>(losses_size), logits_c.data_ptr<scalar_t>(),
                targets_c.data_ptr<int64_t>(), static_cast<int>(num_classes),
                static_cast<float>(gamma), static_cast<float>(alpha), num_samples,
                losses.data_ptr<scalar_t>());
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      });
  return losses;
}

at::Tensor seed_focal_loss_backward(const at::Tensor &logits, const at::Tensor &targets,
                                    const at::Tensor &d_losses, int64_t num_classes,
                                    double gamma, double alpha) {
  check_inputs(logits, targets, num_classes);
  TORCH_CHECK(d_losses.is_cuda(), "d_losses must be a CUDA tensor");
  // The seed reads d_losses[i] for every element; insist on the elementwise shape it needs.
  TORCH_CHECK(d_losses.sizes() == logits.sizes(), "d_losses must have the shape of logits");
  TORCH_CHECK(d_losses.scalar_type() == logits.scalar_type(), "d_losses must match logits' dtype");
  const int num_samples = logits.size(0);
  auto d_logits = at::zeros({num_samples, num_classes}, logits.options());
  const int64_t d_logits_size = d_logits.numel();
  if (d_logits_size == 0) {
    return d_logits;
  }
  const auto logits_c = logits.contiguous();
  const auto targets_c = targets.contiguous();
  const auto d_losses_c = d_losses.contiguous();
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, logits.scalar_type(), "SigmoidFocalLoss_backward", [&] {
        SigmoidFocalLossBackward<scalar_t>
            <<<grid_for(d_logits_size), kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
                static_cast<int>(d_logits_size), logits_c.data_ptr<scalar_t>(),
                targets_c.data_ptr<int64_t>(), d_losses_c.data_ptr<scalar_t>(),
                static_cast<int>(num_classes), static_cast<float>(gamma),
                static_cast<float>(alpha), num_samples, d_logits.data_ptr<scalar_t>());
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      });
  return d_logits;
}
