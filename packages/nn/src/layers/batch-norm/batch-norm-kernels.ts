/**
 * Batch normalisation through its own kernels (batch_norm.h: the formulas; batch_norm_cpu.cc and
 * batch_norm_cuda.cu): the statistics with the running statistics' update and the normalisation
 * forward, the sums and the input gradient backward, where the same arithmetic composed of tensor
 * ops took about twenty-five launches per layer and step. Values of any floating dtype; the
 * statistics, parameters and running statistics in float32 for the half dtypes (float64 for
 * float64), as PyTorch's batch norm under autocast.
 */
import { type Tensor, emptyOn, launchKernel, tidy } from '@kiln/tensor';
import { contiguous, kernelsTakeValues, present, statDtype } from '../norm-operands.js';

/** The running statistics a training step updates in place: running = (1 - factor)·running + factor·batch. */
export interface RunningStats {
  /** the running mean, [C], updated in place */
  mean: Tensor;
  /** the running (unbiased) variance, [C], updated in place */
  variance: Tensor;
  /** the new batch's weight: the momentum, or 1 / batches seen for a cumulative average */
  factor: number;
}

/**
 * Whether the kernels take these operands: x of a floating dtype with values, the parameters and
 * running statistics (where given) of statDtype(x), the running statistics contiguous (they are
 * written in place).
 */
export function kernelsTake(x: Tensor, weight: Tensor | null, bias: Tensor | null, running: RunningStats | null = null): boolean {
  const stats = running ? [running.mean, running.variance] : [];
  return x.ndim >= 2 && kernelsTakeValues(x, weight, bias, ...stats) && stats.every((t) => t.isContiguous);
}

/** y, and each channel's mean and 1 / sqrt(var + eps), [C] each (kept for backward); the running statistics updated. */
export function batchNormForward(x: Tensor, weight: Tensor | null, bias: Tensor | null, eps: number, running: RunningStats | null): { y: Tensor; mean: Tensor; rstd: Tensor } {
  const C = x.shape[1], p = statDtype(x.dtype);
  const mean = emptyOn([C], p, x.device), rstd = emptyOn([C], p, x.device);
  const y = emptyOn([...x.shape], x.dtype, x.device);
  try {
    tidy(() => {
      const xc = contiguous(x);
      const runningOut = running ? [running.mean, running.variance] : [];
      launchKernel('batch_norm_stats', [xc], [mean, rstd, ...runningOut], [eps, running ? running.factor : 0]);
      // written in place, as mul_ and add_ would: a graph that saved them must see the change
      for (const t of runningOut) t.storage.version++;
      launchKernel('batch_norm_apply', [xc, mean, rstd, ...present(weight, bias)], [y], [weight ? 1 : 0, bias ? 1 : 0]);
    });
  } catch (e) {
    for (const t of [y, mean, rstd]) t.dispose();
    throw e;
  }
  return { y, mean, rstd };
}

/** The gradients of x, weight and bias (null where not needed) from the gradient of y. */
export function batchNormBackward(gradY: Tensor, x: Tensor, weight: Tensor | null, mean: Tensor, rstd: Tensor, need: readonly boolean[]): [Tensor | null, Tensor | null, Tensor | null] {
  const C = x.shape[1], p = statDtype(x.dtype);
  return tidy(() => {
    const g = contiguous(gradY), xc = contiguous(x), w = present(weight);
    const gradW = emptyOn([C], p, x.device), gradB = emptyOn([C], p, x.device), coef = emptyOn([C, 2], p, x.device);
    launchKernel('batch_norm_backward_reduce', [g, xc, mean, rstd, ...w], [gradW, gradB, coef], [weight ? 1 : 0]);
    let gradX: Tensor | null = null;
    if (need[0]) {
      gradX = emptyOn([...x.shape], x.dtype, x.device);
      launchKernel('batch_norm_backward_input', [g, xc, mean, rstd, coef, ...w], [gradX], [weight ? 1 : 0]);
    }
    return [gradX, need[1] ? gradW : null, need[2] ? gradB : null];
  });
}
