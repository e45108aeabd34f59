/**
 * Elementwise regression losses on d = input - target, as PyTorch's `F.l1_loss`,
 * `F.smooth_l1_loss` and `F.huber_loss` (with mmdetection's `weight` and `avgFactor`), composed of
 * the tensor core's differentiable ops. Both branches of a piecewise loss are finite with finite
 * derivatives everywhere, so `where` never multiplies a zero gradient by an infinite one.
 *
 * At d = 0 the gradient is 0 in all three (PyTorch's choice for L1: sign(0) = 0).
 */
import { type Tensor, checkOptionKeys, commonDevice, where } from '@kiln/tensor';
import { checkAvgFactor, checkReduction, type Reduction } from './reduction.js';
import { broadcastWeight, castTo, checkFloating, checkNumber, checkShape, computeDType } from './loss-args.js';
import { reduceLoss } from './weighted-reduce.js';

/** Options of {@link l1Loss}, shared by {@link smoothL1Loss} and {@link huberLoss}. */
export interface RegressionLossOptions {
  /** 'mean' (default): sum / number of elements (0 for an empty input); 'sum'; 'none': the input's shape. */
  reduction?: Reduction;
  /**
   * Weight of each element, broadcastable to the input's shape (mmdetection's `weight`); for boxes
   * [N, 4], [N, 1] weighs each box and [N, 4] each coordinate, as {@link giouLoss} accepts them.
   */
  weight?: Tensor;
  /** Replaces the mean's divisor (mmdetection's avg_factor). */
  avgFactor?: number;
}

/** Options of {@link smoothL1Loss}. */
export interface SmoothL1LossOptions extends RegressionLossOptions {
  /** Where the loss turns from quadratic to linear, >= 0 (default 1; 0 is the L1 loss). */
  beta?: number;
}

/** Options of {@link huberLoss}. */
export interface HuberLossOptions extends RegressionLossOptions {
  /** Where the loss turns from quadratic to linear, > 0 (default 1). */
  delta?: number;
}

const regressionKeys = { reduction: true, weight: true, avgFactor: true } as const;

/** What every regression loss's options give: the reduction and avgFactor. */
interface RegressionReduction {
  reduction: Reduction;
  avgFactor?: number;
}

/** The reduction and avgFactor every regression loss takes. */
function reductionOf(op: string, options: RegressionLossOptions): RegressionReduction {
  const reduction = checkReduction(op, options.reduction ?? 'mean');
  return { reduction, avgFactor: checkAvgFactor(op, options.avgFactor, reduction) };
}

/** Checks l1Loss's options that need no tensor (reduction, avgFactor, no unknown key), naming `op` in the errors. */
export function checkRegressionLossOptions(op: string, options: RegressionLossOptions): RegressionReduction {
  checkOptionKeys(op, options, regressionKeys);
  return reductionOf(op, options);
}

/** Checks smoothL1Loss's options that need no tensor (those of every regression loss, and beta). */
export function checkSmoothL1LossOptions(op: string, options: SmoothL1LossOptions): RegressionReduction & { beta: number } {
  checkOptionKeys(op, options, { ...regressionKeys, beta: true });
  return { ...reductionOf(op, options), beta: checkNumber(op, 'beta', options.beta ?? 1, (b) => Number.isFinite(b) && b >= 0, 'a finite number >= 0') };
}

/** Checks huberLoss's options that need no tensor (those of every regression loss, and delta). */
export function checkHuberLossOptions(op: string, options: HuberLossOptions): RegressionReduction & { delta: number } {
  checkOptionKeys(op, options, { ...regressionKeys, delta: true });
  return { ...reductionOf(op, options), delta: checkNumber(op, 'delta', options.delta ?? 1, (v) => Number.isFinite(v) && v > 0, 'a finite number > 0') };
}

/**
 * Checks shared by the three losses (their options checked by the caller: `checked`);
 * `elementwise(d)` maps input - target to the loss.
 */
function regressionLoss(op: string, input: Tensor, target: Tensor, options: RegressionLossOptions, checked: RegressionReduction, elementwise: (d: Tensor) => Tensor): Tensor {
  const { reduction, avgFactor } = checked;
  commonDevice(op, ['input', 'target', 'weight'], [input, target, options.weight]);
  checkFloating(op, 'input', input);
  checkFloating(op, 'target', target);
  checkShape(op, 'target', target, input.shape, "the input's shape");
  const dtype = computeDType(input.dtype);
  const weight = options.weight && broadcastWeight(op, 'weight', options.weight, input.shape, dtype);
  let loss = elementwise(castTo(input, dtype).sub(castTo(target, dtype)));
  if (weight) loss = loss.mul(weight);
  return castTo(reduceLoss(loss, reduction, input.numel, avgFactor), input.dtype);
}

/**
 * `|input - target|` elementwise, for inputs and targets of the same shape, times `weight`.
 *
 * @example
 * ```ts
 * const loss = l1Loss(pred, target, { reduction: 'sum' });
 * ```
 */
export function l1Loss(input: Tensor, target: Tensor, options: RegressionLossOptions = {}): Tensor {
  return regressionLoss('l1_loss', input, target, options, checkRegressionLossOptions('l1_loss', options), (d) => d.abs());
}

/**
 * Smooth L1: `0.5 d² / beta` where |d| < beta, `|d| - 0.5 beta` elsewhere (d = input - target); the
 * two pieces meet with equal value and slope at |d| = beta. `beta = 0` is the L1 loss.
 *
 * @example
 * ```ts
 * const loss = smoothL1Loss(pred, target, { beta: 1 / 9 });
 * ```
 */
export function smoothL1Loss(input: Tensor, target: Tensor, options: SmoothL1LossOptions = {}): Tensor {
  const op = 'smooth_l1_loss';
  const checked = checkSmoothL1LossOptions(op, options);
  const { beta } = checked;
  return regressionLoss(op, input, target, options, checked, (d) => {
    const ad = d.abs();
    if (beta === 0) return ad;
    return where(ad.lt(beta), d.mul(d).mul(0.5 / beta), ad.sub(0.5 * beta));
  });
}

/**
 * Huber: `0.5 d²` where |d| <= delta, `delta (|d| - 0.5 delta)` elsewhere (d = input - target);
 * smoothL1Loss with beta = delta, times delta.
 *
 * @example
 * ```ts
 * const loss = huberLoss(pred, target, { delta: 2 });
 * ```
 */
export function huberLoss(input: Tensor, target: Tensor, options: HuberLossOptions = {}): Tensor {
  const op = 'huber_loss';
  const checked = checkHuberLossOptions(op, options);
  const { delta } = checked;
  return regressionLoss(op, input, target, options, checked, (d) => {
    const ad = d.abs();
    return where(ad.le(delta), d.mul(d).mul(0.5), ad.sub(0.5 * delta).mul(delta));
  });
}
