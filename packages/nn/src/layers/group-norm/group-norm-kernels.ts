/**
 * Group normalisation through its own kernels (group_norm.h: the formulas; group_norm_cpu.cc and
 * group_norm_cuda.cu), two launches forward and three backward (the parameters' gradients in the third),
 * where the same arithmetic composed of tensor ops takes about thirty. GroupNormFunction uses them
 * for values of any floating dtype with parameters of the statistics' dtype (float32 for the half
 * dtypes, as under autocast) and for a backward pass that records no graph; the composed ops serve
 * the other cases.
 */
import { type Tensor, emptyOn, launchKernel, tidy } from '@kiln/tensor';
import { contiguous, kernelsTakeValues, present, statDtype } from '../norm-operands.js';

/** Whether the kernels take these operands: a floating dtype, not empty, parameters of statDtype(x). */
export function kernelsTake(x: Tensor, weight: Tensor | null, bias: Tensor | null): boolean {
  return kernelsTakeValues(x, weight, bias);
}

/** y, and the mean and 1 / sqrt(var + eps) of each group, [N, G] (kept for backward). */
export function groupNormForward(x: Tensor, weight: Tensor | null, bias: Tensor | null, groups: number, eps: number): { y: Tensor; mean: Tensor; rstd: Tensor } {
  const N = x.shape[0], p = statDtype(x.dtype);
  const mean = emptyOn([N, groups], p, x.device), rstd = emptyOn([N, groups], p, x.device);
  const y = emptyOn([...x.shape], x.dtype, x.device);
  try {
    tidy(() => {
      const xc = contiguous(x);
      launchKernel('group_norm_stats', [xc], [mean, rstd], [groups, eps]);
      launchKernel('group_norm_apply', [xc, mean, rstd, ...present(weight, bias)], [y], [groups, weight ? 1 : 0, bias ? 1 : 0]);
    });
  } catch (e) {
    for (const t of [y, mean, rstd]) t.dispose();
    throw e;
  }
  return { y, mean, rstd };
}

/** The gradients of x, weight and bias (null where not needed) from the gradient of y. */
export function groupNormBackward(gradY: Tensor, x: Tensor, weight: Tensor | null, mean: Tensor, rstd: Tensor, groups: number, need: readonly boolean[]): [Tensor | null, Tensor | null, Tensor | null] {
  const [N, C] = x.shape as [number, number], p = statDtype(x.dtype);
  return tidy(() => {
    const g = contiguous(gradY), xc = contiguous(x), w = present(weight);
    const s1 = emptyOn([N, C], p, x.device), s2 = emptyOn([N, C], p, x.device), coef = emptyOn([N * groups, 2], p, x.device);
    launchKernel('group_norm_backward_reduce', [g, xc, mean, rstd, ...w], [s1, s2, coef], [groups, weight ? 1 : 0]);
    let gradX: Tensor | null = null;
    if (need[0]) {
      gradX = emptyOn([...x.shape], x.dtype, x.device);
      launchKernel('group_norm_backward_input', [g, xc, mean, rstd, coef, ...w], [gradX], [groups, weight ? 1 : 0]);
    }
    // ∂L/∂w_c = Σ_n rstd[n, group(c)]·s2[n, c],  ∂L/∂b_c = Σ_n s1[n, c]
    let gradW: Tensor | null = null, gradB: Tensor | null = null;
    if (need[1] || need[2]) {
      const gw = emptyOn([C], p, x.device), gb = emptyOn([C], p, x.device);
      launchKernel('group_norm_param_grads', [s1, s2, rstd], [gw, gb], [groups]);
      [gradW, gradB] = [need[1] ? gw : null, need[2] ? gb : null];
    }
    return [gradX, gradW, gradB];
  });
}
