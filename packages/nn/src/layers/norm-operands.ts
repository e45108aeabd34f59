/**
 * What the normalisations share (the layers, their Functions and their kernels' launchers,
 * batch-norm/ and group-norm/; the native side's norm_common.h): the argument checks, the dtype of
 * the statistics and parameters, and operands made contiguous for kernels that take raw addresses.
 */
import { type DType, type Tensor, ShapeError, ValueError, isFloating } from '@kiln/tensor';
import type { FunctionCtx } from '@kiln/autograd';

/** eps, checked: a finite number >= 0 (a negative or NaN eps gave NaN outputs). */
export function checkEps(op: string, eps: number): number {
  if (typeof eps !== 'number' || !(eps >= 0) || eps === Infinity) throw new ValueError(op, 'eps', 'a finite non-negative number', String(eps));
  return eps;
}

/**
 * Refuses per-channel operands (weight, bias, running statistics) that are not [C] for the C
 * channels of the input (dim 1): the kernels index them by channel through raw addresses.
 */
export function checkPerChannel(op: string, x: Tensor, named: readonly (readonly [string, Tensor | null])[]): void {
  const C = x.shape[1];
  for (const [name, t] of named) {
    if (t && (t.ndim !== 1 || t.shape[0] !== C)) throw new ShapeError(op, name, `[${C}]: one value per channel of the input`, `shape [${t.shape.join(', ')}]`);
  }
}

/**
 * The dtype of the statistics and parameters the kernels take for values of `dtype`: float32 for
 * the half dtypes (as PyTorch's normalisations under autocast: float32 parameters, half
 * activations), else the values' own.
 */
export function statDtype(dtype: DType): DType {
  return dtype === 'float64' ? 'float64' : 'float32';
}

/**
 * Keeps what a norm's backward needs (x, the weight, the statistics) when something will be
 * differentiated; frees the statistics otherwise (no gradient needed, or noGrad: nothing to keep).
 */
export function saveForNormBackward(ctx: FunctionCtx<[Tensor, Tensor | null, Tensor, Tensor]>, x: Tensor, weight: Tensor | null, mean: Tensor, rstd: Tensor): void {
  if (ctx.needsInputGrad.some(Boolean)) ctx.saveForBackward(x, weight, mean, rstd);
  else {
    mean.dispose();
    rstd.dispose();
  }
}

/** Whether a norm's kernels take these values and parameters: x of a floating dtype with values, each parameter absent or of statDtype(x). */
export function kernelsTakeValues(x: Tensor, ...params: (Tensor | null)[]): boolean {
  return isFloating(x.dtype) && x.numel > 0 && params.every((p) => p === null || p.dtype === statDtype(x.dtype));
}

/** t, or a contiguous copy of it. */
export const contiguous = (t: Tensor): Tensor => (t.isContiguous ? t : t.contiguous());

/** The tensors given (the optional parameters that are there), contiguous. */
export const present = (...ts: (Tensor | null)[]): Tensor[] => ts.filter((t): t is Tensor => t !== null).map(contiguous);
