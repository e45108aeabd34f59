/**
 * Cross-entropy on logits with class-index targets, as PyTorch's `F.cross_entropy`, composed of the
 * tensor core's differentiable ops (logSoftmax, gather, where, sum).
 */
import { type Tensor, ShapeError, checkOptionKeys, commonDevice, fmtShape, where } from '@kiln/tensor';
import { checkAvgFactor, checkReduction, type Reduction } from './reduction.js';
import { castTo, checkFloating, checkIndexTensor, checkNumber, computeDType, renamingIndexErrors, classWeightOf } from './loss-args.js';
import { reduceLoss } from './weighted-reduce.js';

const OP = 'cross_entropy';

/** Options of {@link crossEntropy}. */
export interface CrossEntropyOptions {
  /** Weight of each class, [C] (PyTorch's `weight`). */
  classWeight?: Tensor;
  /** Target value whose rows give no loss and no gradient (default -100). */
  ignoreIndex?: number;
  /** Mixes the one-hot target with the uniform distribution: (1 - s) one_hot + s / C (default 0). */
  labelSmoothing?: number;
  /**
   * 'mean' (default): the sum divided by the summed class weights of the non-ignored targets
   * (their count without `classWeight`), PyTorch's divisor, or by `avgFactor`; 0 when that divisor
   * is 0 (PyTorch gives NaN). 'sum'. 'none': one loss per target (the target's shape).
   */
  reduction?: Reduction;
  /** Replaces the mean's divisor (mmdetection's avg_factor). */
  avgFactor?: number;
}

/** Checks the options that need no tensor (reduction, avgFactor, ignoreIndex, labelSmoothing), naming `op` in the errors. */
export function checkCrossEntropyOptions(op: string, options: CrossEntropyOptions): { reduction: Reduction; avgFactor?: number; ignoreIndex: number; smoothing: number } {
  checkOptionKeys(op, options, { classWeight: true, ignoreIndex: true, labelSmoothing: true, reduction: true, avgFactor: true });
  const reduction = checkReduction(op, options.reduction ?? 'mean');
  const avgFactor = checkAvgFactor(op, options.avgFactor, reduction);
  const ignoreIndex = checkNumber(op, 'ignoreIndex', options.ignoreIndex ?? -100, Number.isSafeInteger, 'an integer');
  const smoothing = checkNumber(op, 'labelSmoothing', options.labelSmoothing ?? 0, (s) => s >= 0 && s <= 1, 'a number in [0, 1]');
  return { reduction, avgFactor, ignoreIndex, smoothing };
}

/**
 * Cross-entropy of logits `input` [N, C] (or [N, C, d1, ...], or [C] for one sample) against class
 * indices `target` [N] (or [N, d1, ...], or 0-d), int32 or int64, each in [0, C) or `ignoreIndex`.
 *
 * With log p = logSoftmax(input) along the class dim (stable: x - max - log sum exp(x - max)) and
 * w the class weights (1 without `classWeight`), each non-ignored target t costs
 * `(1 - s) w_t (-log p_t) + (s / C) sum_c w_c (-log p_c)` (s = labelSmoothing), as PyTorch;
 * ignored targets cost 0.
 *
 * The mean's divisor is a device tensor (no device-to-host read). Target values are checked by the
 * gather kernel that reads them: on the CPU an out-of-range value throws a ValueError naming
 * 'target' at once; on CUDA the kernel reports it and it is raised at the next synchronisation.
 *
 * @example
 * ```ts
 * const loss = crossEntropy(logits, labels, { classWeight: classWeights, labelSmoothing: 0.1 });
 * ```
 */
export function crossEntropy(input: Tensor, target: Tensor, options: CrossEntropyOptions = {}): Tensor {
  const { reduction, avgFactor, ignoreIndex, smoothing } = checkCrossEntropyOptions(OP, options);
  commonDevice(OP, ['input', 'target', 'classWeight'], [input, target, options.classWeight]);
  checkFloating(OP, 'input', input, 'a floating-point tensor (logits)');
  checkIndexTensor(OP, 'target', target, 'int32 or int64 class indices (class-probability targets are not supported)');
  if (input.ndim === 0) throw new ShapeError(OP, 'input', 'logits of shape [N, C], [N, C, d1, ...] or [C]', '[] (a 0-d tensor)');
  const unbatched = input.ndim === 1;
  const C = input.shape[unbatched ? 0 : 1];
  const targetShape = unbatched ? [] : [input.shape[0], ...input.shape.slice(2)];
  if (target.shape.length !== targetShape.length || target.shape.some((s, i) => s !== targetShape[i])) {
    throw new ShapeError(OP, 'target', `class indices of shape ${fmtShape(targetShape)} (input is ${fmtShape(input.shape)})`, fmtShape(target.shape));
  }
  const dtype = computeDType(input.dtype);
  const classWeight = classWeightOf(OP, options.classWeight, C, dtype);

  // Work on a batch [N, C, d...] with targets [N, d...].
  const x = castTo(unbatched ? input.unsqueeze(0) : input, dtype);
  const t = unbatched ? target.unsqueeze(0) : target;
  const logp = x.logSoftmax(1);
  const ignored = t.eq(ignoreIndex);
  const safeTarget = where(ignored, 0, t);   // ignored rows read class 0, then get zero weight
  const logpT = renamingIndexErrors(OP, 'target', `class indices in [0, ${C - 1}] or ignoreIndex (${ignoreIndex})`,
    () => logp.gather(1, safeTarget.unsqueeze(1)).squeeze(1));
  // w_t of each non-ignored target, 0 for ignored ones: the nll's factor and the mean's divisor
  const targetWeight = classWeight
    ? where(ignored, 0, classWeight.gather(0, safeTarget.reshape([-1])).reshape(safeTarget.shape))
    : where(ignored, 0, 1).to(dtype);
  let loss = logpT.neg().mul(targetWeight);
  if (smoothing > 0) {
    const weighted = classWeight ? logp.mul(classWeight.reshape([1, C, ...x.shape.slice(2).map(() => 1)])) : logp;
    const uniform = where(ignored, 0, weighted.sum(1).neg());
    loss = loss.mul(1 - smoothing).add(uniform.mul(smoothing / C));
  }
  const reduced = reduceLoss(unbatched && reduction === 'none' ? loss.squeeze(0) : loss, reduction, targetWeight.sum(), avgFactor);
  return castTo(reduced, input.dtype);
}
