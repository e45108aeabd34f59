/**
 * The reductions of the composed losses, with the mean's divisor made explicit:
 *
 * - 'none': the elementwise (or per-row) loss as it is;
 * - 'sum':  its sum;
 * - 'mean': its sum divided by `avgFactor` when given (mmdetection's `avg_factor`, exactly: no eps
 *   is added), else by the loss's own divisor: a count known on the host (the number of elements
 *   or rows) or a tensor on the device (a count of non-ignored rows, a sum of class weights).
 *
 * A mean over nothing (a zero divisor) is 0 with a zero gradient, where PyTorch's mean gives NaN:
 * an empty batch, or one whose rows are all ignored, must not poison a training step. The
 * device divisor is used as it is (no device-to-host read): a zero divisor is replaced by 1, and
 * the sum it divides is then 0.
 */
import { type Tensor, where } from '@kiln/tensor';
import type { Reduction } from './reduction.js';

/** What the mean divides by when there is no avgFactor. */
export type MeanDivisor = number | Tensor;

export function reduceLoss(loss: Tensor, reduction: Reduction, divisor: MeanDivisor, avgFactor?: number): Tensor {
  if (reduction === 'none') return loss;
  const total = loss.sum();
  if (reduction === 'sum') return total;
  if (avgFactor !== undefined) return total.div(avgFactor);
  if (typeof divisor === 'number') return divisor > 0 ? total.div(divisor) : total;
  const d = divisor.to(total.dtype);
  return total.div(where(d.eq(0), 1, d));
}
