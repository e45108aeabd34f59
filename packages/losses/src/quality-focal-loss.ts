/**
 * The quality focal loss of Generalized Focal Loss (Li et al., 2020; mmdetection's
 * `quality_focal_loss`), composed of the tensor core's differentiable ops.
 */
import { type Tensor, ShapeError, checkOptionKeys, commonDevice, fmtShape, oneHot, sub, where } from '@kiln/tensor';
import { checkAvgFactor, checkReduction, type Reduction } from './reduction.js';
import { broadcastWeight, castTo, checkExponent, checkFloating, checkIndexTensor, checkShape, computeDType, renamingIndexErrors } from './loss-args.js';
import { reduceLoss } from './weighted-reduce.js';

const OP = 'quality_focal_loss';

/** Options of {@link qualityFocalLoss}. */
export interface QualityFocalLossOptions {
  /** Exponent of the quality gap |score - sigmoid(x)|, >= 0 (default 2). */
  beta?: number;
  /** 'mean' (default): sum / N rows (0 for none), or / avgFactor; 'sum'; 'none': one loss per row, [N]. */
  reduction?: Reduction;
  /** Weight of each row, broadcastable to [N] (mmdetection's `weight`). */
  weight?: Tensor;
  /** Replaces the mean's divisor (mmdetection divides by the number of positives). */
  avgFactor?: number;
}

/** Checks the options that need no tensor (reduction, avgFactor, beta), naming `op` in the errors. */
export function checkQualityFocalLossOptions(op: string, options: QualityFocalLossOptions): { reduction: Reduction; avgFactor?: number; beta: number } {
  checkOptionKeys(op, options, { beta: true, reduction: true, weight: true, avgFactor: true });
  const reduction = checkReduction(op, options.reduction ?? 'mean');
  const avgFactor = checkAvgFactor(op, options.avgFactor, reduction);
  const beta = checkExponent(op, 'beta', options.beta ?? 2);
  return { reduction, avgFactor, beta };
}

/**
 * `base^exponent` for base >= 0 and exponent > 0, with the gradient taken as 0 where base = 0
 * (it is 0 there for exponent > 1, and infinite for exponent < 1: a NaN once multiplied by the
 * zero gradient of an unselected `where` branch or of abs at 0).
 */
function powOfNonNegative(base: Tensor, exponent: number): Tensor {
  const positive = base.gt(0);
  return where(positive, where(positive, base, 1).pow(exponent), 0);
}

/**
 * The quality focal loss of logits `pred` [N, C] against `[label, score]`: `label` [N] int32/int64
 * class indices (0..C-1 foreground, C background) and `score` [N] the IoU quality target of each
 * foreground row, in [0, 1]. With p = sigmoid(x):
 *
 * - the foreground row's own class: `BCE(x, score) |score - p|^beta`;
 * - every other element: `BCE(x, 0) p^beta`;
 *
 * summed over C into one loss per row, times the row's `weight`. Written stably:
 * `BCE(x, s) = s softplus(-x) + (1 - s) softplus(x)` and `p^beta = exp(beta log sigmoid(x))`, so
 * loss and gradient are finite for any finite logit; the gradient of `|score - p|^beta` is taken
 * as 0 where score = p.
 *
 * A label outside [0, C] is an error, raised by the one-hot kernel that reads the labels (at once
 * on the CPU, at the next synchronisation on CUDA); no device-to-host read.
 *
 * @example
 * ```ts
 * const loss = qualityFocalLoss(clsLogits, [labels, iouScores], { beta: 2, avgFactor: numPositives });
 * ```
 */
export function qualityFocalLoss(pred: Tensor, target: readonly [Tensor, Tensor], options: QualityFocalLossOptions = {}): Tensor {
  const { reduction, avgFactor, beta } = checkQualityFocalLossOptions(OP, options);
  if (!Array.isArray(target) || target.length !== 2) {
    throw new ShapeError(OP, 'target', 'a pair [label, score]', Array.isArray(target) ? `${target.length} elements` : typeof target);
  }
  const [label, score] = target;
  commonDevice(OP, ['pred', 'label', 'score', 'weight'], [pred, label, score, options.weight]);
  checkFloating(OP, 'pred', pred, 'a floating-point tensor (logits)');
  if (pred.ndim !== 2) throw new ShapeError(OP, 'pred', 'logits of shape [N, C]', fmtShape(pred.shape));
  const [N, C] = pred.shape as [number, number];
  checkIndexTensor(OP, 'label', label, 'int32 or int64 class indices (0..C-1 foreground, C background)');
  checkShape(OP, 'label', label, [N], "one label per row of 'pred':");
  checkFloating(OP, 'score', score);
  checkShape(OP, 'score', score, [N], "one quality score per row of 'pred':");
  const dtype = computeDType(pred.dtype);
  const weight = options.weight && broadcastWeight(OP, 'weight', options.weight, [N], dtype);

  const x = castTo(pred, dtype);
  const s = castTo(score, dtype).reshape([N, 1]);
  // the foreground row's class; the one-hot's last column is the background (and checks 0 <= label <= C)
  const isPositive = renamingIndexErrors(OP, 'label', `class indices in [0, ${C}] (${C} is the background)`,
    () => oneHot(label, C + 1)).narrow(1, 0, C).eq(1);
  const negative = beta === 0 ? x.softplus() : x.softplus().mul(x.logsigmoid().mul(beta).exp());
  let positive = s.mul(x.neg().softplus()).add(sub(1, s).mul(x.softplus()));
  if (beta !== 0) positive = positive.mul(powOfNonNegative(s.sub(x.sigmoid()).abs(), beta));
  let loss = where(isPositive, positive, negative).sum(1);
  if (weight) loss = loss.mul(weight);
  return castTo(reduceLoss(loss, reduction, N, avgFactor), pred.dtype);
}
