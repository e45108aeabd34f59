/**
 * Group normalisation through its own kernels (group_norm.h: the formulas; group_norm_cpu.cc and
 * group_norm_cuda.cu), two launches forward and two backward plus the parameters' three small ops,
 * where the same arithmetic composed of tensor ops takes about thirty. GroupNormFunction uses them
 * for float32 and float64 values (with parameters of the same dtype) and for a backward pass that
 * records no graph; the composed ops serve the other cases.
 */
import { type Tensor, emptyOn, launchKernel, tidy } from '@kiln/tensor';

/** Whether the kernels take these operands: float32 or float64, not empty, parameters of x's dtype. */
export function kernelsTake(x: Tensor, weight: Tensor | null, bias: Tensor | null): boolean {
  return (x.dtype === 'float32' || x.dtype === 'float64') && x.numel > 0 && [weight, bias].every((p) => p === null || p.dtype === x.dtype);
}

const contiguous = (t: Tensor): Tensor => (t.isContiguous ? t : t.contiguous());
const present = (...ts: (Tensor | null)[]): Tensor[] => ts.filter((t): t is Tensor => t !== null).map(contiguous);

/** y, and the mean and 1 / sqrt(var + eps) of each group, [N, G] (kept for backward). */
export function groupNormForward(x: Tensor, weight: Tensor | null, bias: Tensor | null, groups: number, eps: number): { y: Tensor; mean: Tensor; rstd: Tensor } {
  const N = x.shape[0];
  const mean = emptyOn([N, groups], x.dtype, x.device), rstd = emptyOn([N, groups], x.dtype, x.device);
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
  const [N, C] = x.shape as [number, number];
  return tidy(() => {
    const g = contiguous(gradY), xc = contiguous(x), w = present(weight);
    const s1 = emptyOn([N, C], x.dtype, x.device), s2 = emptyOn([N, C], x.dtype, x.device), coef = emptyOn([N * groups, 2], x.dtype, x.device);
    launchKernel('group_norm_backward_reduce', [g, xc, mean, rstd, ...w], [s1, s2, coef], [groups, weight ? 1 : 0]);
    let gradX: Tensor | null = null;
    if (need[0]) {
      gradX = emptyOn([...x.shape], x.dtype, x.device);
      launchKernel('group_norm_backward_input', [g, xc, mean, rstd, coef, ...w], [gradX], [groups, weight ? 1 : 0]);
    }
    // ∂L/∂w_c = Σ_n rstd[n, group(c)]·s2[n, c],  ∂L/∂b_c = Σ_n s1[n, c]
    const gradW = need[1] ? s2.view([N, groups, C / groups]).mul(rstd.view([N, groups, 1])).sum(0).reshape([C]) : null;
    const gradB = need[2] ? s1.sum(0) : null;
    return [gradX, gradW, gradB];
  });
}
