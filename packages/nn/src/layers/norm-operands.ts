/**
 * What the normalisation kernels' launchers share (batch-norm/batch-norm-kernels.ts,
 * group-norm/group-norm-kernels.ts; the native side's norm_common.h): the dtype of the statistics
 * and parameters, and operands made contiguous for kernels that take raw addresses.
 */
import type { DType, Tensor } from '@kiln/tensor';

/**
 * The dtype of the statistics and parameters the kernels take for values of `dtype`: float32 for
 * the half dtypes (as PyTorch's normalisations under autocast: float32 parameters, half
 * activations), else the values' own.
 */
export function statDtype(dtype: DType): DType {
  return dtype === 'float64' ? 'float64' : 'float32';
}

/** t, or a contiguous copy of it. */
export const contiguous = (t: Tensor): Tensor => (t.isContiguous ? t : t.contiguous());

/** The tensors given (the optional parameters that are there), contiguous. */
export const present = (...ts: (Tensor | null)[]): Tensor[] => ts.filter((t): t is Tensor => t !== null).map(contiguous);
