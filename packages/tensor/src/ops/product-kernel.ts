/**
 * The launch that matmul (every form) and linear share: the kernels 'bmm' and 'linear' take
 * A [...batch, M, K] and B [...batch, K, N] as strided views (batch strides 0 where an operand is
 * broadcast) and write C [...batch, M, N] into a contiguous result. Not exported from the package.
 */
import { launchKernel } from '../dispatch.js';
import { contiguousStrides } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { matmulPrecisionCode } from './precision.js';
import { makeView } from './views.js';

/** An operand of the product: its tensor and the strides of [...batch, rows, cols] over it. */
export interface ProductOperand {
  t: Tensor;
  strides: readonly number[];
}

/**
 * Runs `kernel` on a and b viewed as [...batch, M, K] and [...batch, K, N] into `result` viewed as
 * [...batch, M, N] (result contiguous, allocated by the caller), with `extra` inputs after them
 * (linear's bias) and the float32 matmul precision as attribute. Disposes `result` when it throws.
 */
export function launchProduct(kernel: 'bmm' | 'linear', batch: readonly number[], M: number, K: number, N: number,
  a: ProductOperand, b: ProductOperand, result: Tensor, extra: readonly Tensor[] = []): void {
  const aView = makeView(a.t, [...batch, M, K], a.strides, a.t.offset);
  const bView = makeView(b.t, [...batch, K, N], b.strides, b.t.offset);
  const cShape = [...batch, M, N];
  const cView = makeView(result, cShape, contiguousStrides(cShape), result.offset);
  try {
    launchKernel(kernel, [aView, bView, ...extra], [cView], [matmulPrecisionCode()]);
  } catch (e) {
    result.dispose();
    throw e;
  } finally {
    aView.dispose();
    bView.dispose();
    cView.dispose();
  }
}
