/**
 * The varifocal loss of VarifocalNet (Zhang et al., 2021; mmdetection's `varifocal_loss`),
 * composed of the tensor core's differentiable ops.
 */
import { type Tensor, ShapeError, checkOptionKeys, commonDevice, fmtShape, sub, where } from '@kiln/tensor';
import { checkAvgFactor, checkReduction, type Reduction } from './reduction.js';
import { castTo, checkBoolean, checkExponent, checkFloating, checkNumber, checkShape, computeDType, rowOrElementWeight } from './loss-args.js';
import { reduceLoss } from './weighted-reduce.js';

const OP = 'varifocal_loss';

/** Options of {@link varifocalLoss}. */
export interface VarifocalLossOptions {
  /** Weight of the negatives' focal term, in [0, 1] (default 0.75). */
  alpha?: number;
  /** Focusing exponent of the negatives, >= 0 (default 2). */
  gamma?: number;
  /** Weight positives by their target IoU (default true); false weights them by 1. */
  iouWeighted?: boolean;
  /**
   * Treat sigmoid(x) in the negatives' weight `alpha sigmoid(x)^gamma` as a constant for the
   * gradient (default true, as RT-DETR does); false differentiates through it, as mmdetection's
   * `varifocal_loss` does.
   */
  detachFocalWeight?: boolean;
  /** 'mean' (default): sum / (N C) (0 for none), or / avgFactor; 'sum'; 'none': [N, C]. */
  reduction?: Reduction;
  /** Per-element [N, C] or per-row [N] weights (mmdetection's `weight`). */
  weight?: Tensor;
  /** Replaces the mean's divisor (mmdetection divides by the number of positives). */
  avgFactor?: number;
}

/**
 * Checks the options that need no tensor (reduction, avgFactor, alpha, gamma, iouWeighted,
 * detachFocalWeight), naming `op` in the errors.
 */
export function checkVarifocalLossOptions(op: string, options: VarifocalLossOptions): {
  reduction: Reduction; avgFactor?: number; alpha: number; gamma: number; iouWeighted: boolean; detach: boolean;
} {
  checkOptionKeys(op, options, { alpha: true, gamma: true, iouWeighted: true, detachFocalWeight: true, reduction: true, weight: true, avgFactor: true });
  const reduction = checkReduction(op, options.reduction ?? 'mean');
  const avgFactor = checkAvgFactor(op, options.avgFactor, reduction);
  const alpha = checkNumber(op, 'alpha', options.alpha ?? 0.75, (a) => a >= 0 && a <= 1, 'a number in [0, 1]');
  const gamma = checkExponent(op, 'gamma', options.gamma ?? 2);
  const iouWeighted = checkBoolean(op, 'iouWeighted', options.iouWeighted ?? true);
  const detach = checkBoolean(op, 'detachFocalWeight', options.detachFocalWeight ?? true);
  return { reduction, avgFactor, alpha, gamma, iouWeighted, detach };
}

/**
 * The varifocal loss of logits `pred` [N, C] against `target` [N, C], the IoU-aware
 * classification score (> 0 at a positive's class and 0 elsewhere). Elementwise
 *
 *   loss = BCE(x, t) * w,   w = t (iouWeighted) or 1  where t > 0,
 *                           w = alpha sigmoid(x)^gamma  where t <= 0,
 *
 * times `weight`. Written stably: `BCE(x, t) = t softplus(-x) + (1 - t) softplus(x)` and
 * `sigmoid(x)^gamma = exp(gamma log sigmoid(x))`, finite with a finite gradient for any finite
 * logit. (mmdetection writes the negatives' weight `alpha |sigmoid(x) - t|^gamma`; for the targets
 * it expects, t = 0 there, it is the same.) No device-to-host read.
 *
 * @example
 * ```ts
 * const loss = varifocalLoss(clsLogits, iouTargets, { avgFactor: numPositives });
 * ```
 */
export function varifocalLoss(pred: Tensor, target: Tensor, options: VarifocalLossOptions = {}): Tensor {
  const { reduction, avgFactor, alpha, gamma, iouWeighted, detach } = checkVarifocalLossOptions(OP, options);
  commonDevice(OP, ['pred', 'target', 'weight'], [pred, target, options.weight]);
  checkFloating(OP, 'pred', pred, 'a floating-point tensor (logits)');
  if (pred.ndim !== 2) throw new ShapeError(OP, 'pred', 'logits of shape [N, C]', fmtShape(pred.shape));
  checkFloating(OP, 'target', target, 'a floating-point tensor of IoU targets');
  checkShape(OP, 'target', target, pred.shape, "the pred's shape");
  const dtype = computeDType(pred.dtype);
  const weight = options.weight && rowOrElementWeight(OP, 'weight', options.weight, pred.shape as [number, number], dtype);

  const x = castTo(pred, dtype), t = castTo(target, dtype);
  const bce = t.mul(x.neg().softplus()).add(sub(1, t).mul(x.softplus()));
  const logSigmoid = detach ? x.logsigmoid().detach() : x.logsigmoid();
  const negativeWeight = logSigmoid.mul(gamma).exp().mul(alpha);
  const focalWeight = where(t.gt(0), iouWeighted ? t : 1, negativeWeight);
  let loss = bce.mul(focalWeight);
  if (weight) loss = loss.mul(weight);
  return castTo(reduceLoss(loss, reduction, pred.numel, avgFactor), pred.dtype);
}
