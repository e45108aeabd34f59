/** The reductions every loss accepts, as PyTorch's `reduction` argument. */
import { ValueError, describeValue } from '@kiln/tensor';

/**
 * How a loss reduces its elementwise values: 'none' keeps them, 'sum' adds them, 'mean' divides the
 * sum by the loss's divisor (each loss documents its own; `avgFactor` replaces it).
 */
export type Reduction = 'none' | 'mean' | 'sum';

export function checkReduction(op: string, r: unknown): Reduction {
  if (r !== 'none' && r !== 'mean' && r !== 'sum') throw new ValueError(op, 'reduction', "'none', 'mean' or 'sum'", JSON.stringify(r));
  return r;
}

/** avgFactor replaces the mean's divisor (mmdetection divides RetinaNet's loss by the positives). */
export function checkAvgFactor(op: string, avgFactor: unknown, reduction: Reduction): number | undefined {
  if (avgFactor === undefined) return undefined;
  if (typeof avgFactor !== 'number' || !(avgFactor > 0) || !Number.isFinite(avgFactor)) {
    throw new ValueError(op, 'avgFactor', 'a finite number > 0', describeValue(avgFactor));
  }
  if (reduction !== 'mean') throw new ValueError(op, 'avgFactor', "reduction 'mean' (avgFactor replaces the mean's divisor)", `reduction '${reduction}'`);
  return avgFactor;
}
