/**
 * The distribution focal loss of Generalized Focal Loss (Li et al., 2020; mmdetection's
 * `distribution_focal_loss`), composed of the tensor core's differentiable ops.
 */
import { type Tensor, ShapeError, checkOptionKeys, commonDevice, fmtShape, where } from '@kiln/tensor';
import { checkAvgFactor, checkReduction, type Reduction } from './reduction.js';
import { broadcastWeight, castTo, checkFloating, checkShape, computeDType, renamingIndexErrors } from './loss-args.js';
import { reduceLoss } from './weighted-reduce.js';

const OP = 'distribution_focal_loss';

/** Options of {@link distributionFocalLoss}. */
export interface DistributionFocalLossOptions {
  /** 'mean' (default): sum / N rows (0 for none), or / avgFactor; 'sum'; 'none': one loss per row, [N]. */
  reduction?: Reduction;
  /** Weight of each row, broadcastable to [N] (mmdetection's `weight`). */
  weight?: Tensor;
  /** Replaces the mean's divisor (mmdetection's avg_factor). */
  avgFactor?: number;
}

/** Checks the options that need no tensor (reduction, avgFactor), naming `op` in the errors. */
export function checkDistributionFocalLossOptions(op: string, options: DistributionFocalLossOptions): { reduction: Reduction; avgFactor?: number } {
  checkOptionKeys(op, options, { reduction: true, weight: true, avgFactor: true });
  const reduction = checkReduction(op, options.reduction ?? 'mean');
  return { reduction, avgFactor: checkAvgFactor(op, options.avgFactor, reduction) };
}

/**
 * The distribution focal loss of logits `pred` [N, n + 1] (a discretised distribution over the
 * bins 0..n) against continuous targets `label` [N] in [0, n). With l = floor(y) and
 * log p = logSoftmax(pred):
 *
 *   loss = -(l + 1 - y) log p_l - (y - l) log p_{l+1}
 *
 * the cross-entropy of the two bins around y, weighted by closeness (mmdetection's
 * `CE(pred, l) (l + 1 - y) + CE(pred, l + 1) (y - l)`), times the row's `weight`.
 *
 * A label outside [0, n) is an error raised by the gather kernel that reads the bins (at once on
 * the CPU, at the next synchronisation on CUDA); no device-to-host read.
 *
 * @example
 * ```ts
 * const loss = distributionFocalLoss(regLogits, regTargets, { weight, avgFactor: 4 * numPositives });
 * ```
 */
export function distributionFocalLoss(pred: Tensor, label: Tensor, options: DistributionFocalLossOptions = {}): Tensor {
  const { reduction, avgFactor } = checkDistributionFocalLossOptions(OP, options);
  commonDevice(OP, ['pred', 'label', 'weight'], [pred, label, options.weight]);
  checkFloating(OP, 'pred', pred, 'a floating-point tensor (logits)');
  if (pred.ndim !== 2 || pred.shape[1] < 2) throw new ShapeError(OP, 'pred', 'logits of shape [N, n + 1] with n >= 1', fmtShape(pred.shape));
  const [N, bins] = pred.shape as [number, number];
  checkFloating(OP, 'label', label, 'a floating-point tensor of continuous targets in [0, n)');
  checkShape(OP, 'label', label, [N], "one target per row of 'pred':");
  const dtype = computeDType(pred.dtype);
  const weight = options.weight && broadcastWeight(OP, 'weight', options.weight, [N], dtype);

  const y = castTo(label, dtype);
  // l = floor(y): the int64 cast truncates, which is floor for y >= 0; a negative or NaN y becomes
  // the index -1, which the gather kernel rejects (as it rejects l + 1 > n, i.e. y >= n).
  const truncated = y.to('int64');
  const left = where(y.ge(0), truncated, -1).reshape([N, 1]);
  const right = left.add(1);
  const logp = castTo(pred, dtype).logSoftmax(1);
  const [logpLeft, logpRight] = renamingIndexErrors(OP, 'label', `continuous targets in [0, ${bins - 1})`,
    () => [logp.gather(1, left), logp.gather(1, right)]).map((t) => t.reshape([N]));
  const weightLeft = right.reshape([N]).to(dtype).sub(y);
  const weightRight = y.sub(truncated.to(dtype));
  let loss = logpLeft.mul(weightLeft).add(logpRight.mul(weightRight)).neg();
  if (weight) loss = loss.mul(weight);
  return castTo(reduceLoss(loss, reduction, N, avgFactor), pred.dtype);
}
