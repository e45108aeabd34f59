/**
 * Binary cross-entropy on logits, as PyTorch's `F.binary_cross_entropy_with_logits`, composed of
 * the tensor core's differentiable ops (so it runs on every device and autograd differentiates it).
 */
import { type Tensor, checkOptionKeys, commonDevice, sub } from '@kiln/tensor';
import { checkAvgFactor, checkReduction, type Reduction } from './reduction.js';
import { broadcastWeight, castTo, checkFloating, checkShape, computeDType } from './loss-args.js';
import { reduceLoss } from './weighted-reduce.js';

const OP = 'binary_cross_entropy_with_logits';

/** Options of {@link binaryCrossEntropyWithLogits}. */
export interface BinaryCrossEntropyWithLogitsOptions {
  /** Weight of each element, broadcastable to the input's shape ([N, C], [C], [N, 1], ...). */
  weight?: Tensor;
  /** Weight of the positive term per class, broadcastable to the input's shape (usually [C]). */
  posWeight?: Tensor;
  /** 'mean' (default): sum / number of elements (0 for an empty input); 'sum'; 'none': the input's shape. */
  reduction?: Reduction;
  /** Replaces the mean's divisor (mmdetection's avg_factor). */
  avgFactor?: number;
}

/** Checks the options that need no tensor (reduction, avgFactor), naming `op` in the errors. */
export function checkBinaryCrossEntropyWithLogitsOptions(op: string, options: BinaryCrossEntropyWithLogitsOptions): { reduction: Reduction; avgFactor?: number } {
  checkOptionKeys(op, options, { weight: true, posWeight: true, reduction: true, avgFactor: true });
  const reduction = checkReduction(op, options.reduction ?? 'mean');
  return { reduction, avgFactor: checkAvgFactor(op, options.avgFactor, reduction) };
}

/**
 * `loss = weight * (posWeight * t * softplus(-x) + (1 - t) * softplus(x))` elementwise, which is
 * PyTorch's `-w [pw t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))]` written with
 * `-log sigmoid(x) = softplus(-x)` and `-log(1 - sigmoid(x)) = softplus(x)`: no log of a rounded
 * probability, so loss and gradient are finite and accurate for any finite logit (both terms are
 * >= 0 for t in [0, 1]: nothing cancels). Algebraically it equals PyTorch's
 * `(1 - t) x + (1 + (pw - 1) t) softplus(-x)` for any t.
 *
 * `input` is any floating tensor of logits, `target` a floating tensor of its shape (probabilities,
 * usually in [0, 1]). The mean divides by the number of elements; no device-to-host read.
 *
 * @example
 * ```ts
 * const loss = binaryCrossEntropyWithLogits(logits, targets, { posWeight, reduction: 'mean' });
 * ```
 */
export function binaryCrossEntropyWithLogits(input: Tensor, target: Tensor, options: BinaryCrossEntropyWithLogitsOptions = {}): Tensor {
  const { reduction, avgFactor } = checkBinaryCrossEntropyWithLogitsOptions(OP, options);
  commonDevice(OP, ['input', 'target', 'weight', 'posWeight'], [input, target, options.weight, options.posWeight]);
  checkFloating(OP, 'input', input, 'a floating-point tensor (logits)');
  checkFloating(OP, 'target', target, 'a floating-point tensor of probabilities (cast integer labels with .to())');
  checkShape(OP, 'target', target, input.shape, "the input's shape");
  const dtype = computeDType(input.dtype);
  const weight = options.weight && broadcastWeight(OP, 'weight', options.weight, input.shape, dtype);
  const posWeight = options.posWeight && broadcastWeight(OP, 'posWeight', options.posWeight, input.shape, dtype);

  const x = castTo(input, dtype), t = castTo(target, dtype);
  let positive = t.mul(x.neg().softplus());
  if (posWeight) positive = positive.mul(posWeight);
  let loss = positive.add(sub(1, t).mul(x.softplus()));
  if (weight) loss = loss.mul(weight);
  return castTo(reduceLoss(loss, reduction, input.numel, avgFactor), input.dtype);
}
