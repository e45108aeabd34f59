/**
 * The softmax (multi-class) focal loss, composed of the tensor core's differentiable ops. Derived
 * here rather than ported: mmcv's CUDA softmax focal loss is reported incorrect in its own tracker
 * (open-mmlab/mmcv#2892, with a rewrite in #2893), and its numerics clamp log(max(p_t, FLT_MIN))
 * and take (1 - p_t)^(gamma - 1), which is infinite at p_t = 1 for gamma < 1. The literal
 * `(1 - exp(log_softmax_t))^gamma` loses every digit once p_t rounds to 1.
 *
 * ## The formula
 *
 * For a row of logits x with target class t and p = softmax(x):
 *
 *   loss = -alpha_t (1 - p_t)^gamma log p_t
 *
 * Write p_t through one scalar, z = x_t - L with L = log sum_{j != t} exp(x_j) (a log-sum-exp over
 * the other classes): p_t = e^{x_t} / (e^{x_t} + e^L) = sigmoid(z). Then
 *
 *   log p_t       = log sigmoid(z)  = -softplus(-z)
 *   log(1 - p_t)  = log sigmoid(-z) = -softplus(z)
 *   (1 - p_t)^gamma = exp(gamma log(1 - p_t))
 *
 * Every piece is exact to a few ulps for any finite logits (no log of a rounded probability, no
 * 1 - p): for x_t = 1e4 against 0s, log(1 - p_t) = -1e4 where 1 - exp(log_softmax) would be 0.
 *
 * ## The gradient (what autograd computes through this composition)
 *
 * With q = 1 - p_t, d log p_t / dz = q and d q^gamma / dz = -gamma p_t q^gamma, so
 *
 *   d loss / dz = -alpha_t q^gamma (q - gamma p_t log p_t)
 *
 * (the sigmoid focal loss's positive-element gradient). dz/dx_t = 1, and for j != t
 * dz/dx_j = -exp(x_j - L) = -p_j / (1 - p_t): the softmax over the other classes (computed as
 * exp(x_j - m) / S, see targetMinusOthers). Hence
 *
 *   d loss / dx_t = -alpha_t q^gamma (q - gamma p_t log p_t)
 *   d loss / dx_j =  alpha_t q^gamma (q - gamma p_t log p_t) p_j / q        (j != t)
 *
 * and the gradient of a row sums to 0, as a function of softmax(x) must. gamma = 0 gives
 * cross-entropy's -(1 - p_t) and p_j.
 */
import { type Tensor, ShapeError, arange, checkOptionKeys, commonDevice, fmtShape, where } from '@kiln/tensor';
import { checkAvgFactor, checkReduction, type Reduction } from './reduction.js';
import { castTo, checkFloating, checkExponent, checkFocalAlpha, checkIndexTensor, checkNumber, computeDType, renamingIndexErrors, classWeightOf } from './loss-args.js';
import { reduceLoss } from './weighted-reduce.js';

const OP = 'softmax_focal_loss';

/** Options of {@link softmaxFocalLoss}. */
export interface SoftmaxFocalLossOptions {
  /** Focusing parameter, >= 0 (default 2); gamma = 0 is cross-entropy times alpha_t. */
  gamma?: number;
  /** Weight of every row, <= 1 (default 0.25, as mmcv); a negative alpha means 1. */
  alpha?: number;
  /** Weight of each class [C], read at each row's target and multiplied with alpha (as mmcv). */
  classWeight?: Tensor;
  /** Target value whose rows give no loss and no gradient (default -100). */
  ignoreIndex?: number;
  /**
   * 'mean' (default): sum / number of non-ignored rows (0 when there are none), or / avgFactor;
   * 'sum'; 'none': one loss per row, [N].
   */
  reduction?: Reduction;
  /** Replaces the mean's divisor (mmdetection's avg_factor). */
  avgFactor?: number;
}

/**
 * z = x_t - L, L = log sum_{j != t} exp(x_j), from the target logits `xt` [N] and the row logits
 * with the target held as -inf (`masked` [N, C]), written as z = (x_t - m) - log S with
 * m = max_{j != t} x_j and S = sum_{j != t} exp(x_j - m) >= 1 (the max's own term), so log S and
 * 1 / S are finite. m is detached: z does not depend on it (dz/dm = -1 + sum_j exp(x_j - m) / S = 0).
 *
 * Never forming L itself keeps float32 accurate at large logits: an ulp of L = 1e4 is 1e-3, so
 * x_t - L and logsumexp's derivative exp(x_j - L) would carry relative errors of 1e-3; here the
 * gradient is exp(x_j - m) / S, both factors accurate.
 */
function targetMinusOthers(xt: Tensor, masked: Tensor): Tensor {
  const m = masked.amax(1, true).detach();
  const logS = masked.sub(m).exp().sum(1).log();
  return xt.sub(m.squeeze(1)).sub(logS);
}

/** Checks the options that need no tensor (reduction, avgFactor, gamma, alpha, ignoreIndex), naming `op` in the errors. */
export function checkSoftmaxFocalLossOptions(op: string, options: SoftmaxFocalLossOptions): { reduction: Reduction; avgFactor?: number; gamma: number; alpha: number; ignoreIndex: number } {
  checkOptionKeys(op, options, { gamma: true, alpha: true, classWeight: true, ignoreIndex: true, reduction: true, avgFactor: true });
  const reduction = checkReduction(op, options.reduction ?? 'mean');
  const avgFactor = checkAvgFactor(op, options.avgFactor, reduction);
  const gamma = checkExponent(op, 'gamma', options.gamma ?? 2);
  const alpha = checkFocalAlpha(op, options.alpha ?? 0.25);
  const ignoreIndex = checkNumber(op, 'ignoreIndex', options.ignoreIndex ?? -100, Number.isSafeInteger, 'an integer');
  return { reduction, avgFactor, gamma, alpha, ignoreIndex };
}

/**
 * The softmax focal loss of logits `input` [N, C] against class indices `target` [N] (int32 or
 * int64, in [0, C) or `ignoreIndex`): per row `-alpha_t (1 - p_t)^gamma log p_t` with
 * p = softmax(input), alpha_t = alpha * classWeight[t] (alpha < 0 counts as 1, a missing
 * classWeight as 1). See the file comment for the stable form and its gradient. C = 1 gives
 * p_t = 1 and a zero loss.
 *
 * No device-to-host read: the mean's count stays on the device, and target values are checked by
 * the gather kernel (at once on the CPU, at the next synchronisation on CUDA).
 *
 * @example
 * ```ts
 * const loss = softmaxFocalLoss(logits, labels, { gamma: 2, alpha: 0.25, reduction: 'mean' });
 * ```
 */
export function softmaxFocalLoss(input: Tensor, target: Tensor, options: SoftmaxFocalLossOptions = {}): Tensor {
  const { reduction, avgFactor, gamma, alpha, ignoreIndex } = checkSoftmaxFocalLossOptions(OP, options);
  commonDevice(OP, ['input', 'target', 'classWeight'], [input, target, options.classWeight]);
  checkFloating(OP, 'input', input, 'a floating-point tensor (logits)');
  if (input.ndim !== 2) throw new ShapeError(OP, 'input', 'logits of shape [N, C]', fmtShape(input.shape));
  const [N, C] = input.shape as [number, number];
  checkIndexTensor(OP, 'target', target);
  if (target.ndim !== 1 || target.shape[0] !== N) {
    throw new ShapeError(OP, 'target', `class indices of shape [${N}] (input is ${fmtShape(input.shape)})`, fmtShape(target.shape));
  }
  const dtype = computeDType(input.dtype);
  const classWeight = classWeightOf(OP, options.classWeight, C, dtype);

  const x = castTo(input, dtype);
  const ignored = target.eq(ignoreIndex);
  const safeTarget = where(ignored, 0, target).reshape([N, 1]);   // ignored rows read class 0, then are zeroed
  const xt = renamingIndexErrors(OP, 'target', `class indices in [0, ${C - 1}] or ignoreIndex (${ignoreIndex})`,
    () => x.gather(1, safeTarget)).reshape([N]);
  let loss: Tensor;
  if (C === 1) {
    loss = xt.mul(0);   // p_t = 1: no loss; multiplying keeps the (zero) gradient connected
  } else {
    const isTarget = safeTarget.eq(arange(0, C, 1, { dtype: safeTarget.dtype, device: x.device }).reshape([1, C]));
    const z = targetMinusOthers(xt, where(isTarget, -Infinity, x));
    const logPt = z.logsigmoid();
    loss = logPt.neg();
    if (gamma !== 0) loss = loss.mul(z.neg().logsigmoid().mul(gamma).exp());
  }
  const a = alpha < 0 ? 1 : alpha;
  if (classWeight) loss = loss.mul(classWeight.gather(0, safeTarget.reshape([N])).mul(a));
  else if (a !== 1) loss = loss.mul(a);
  loss = where(ignored, 0, loss);
  const valid = ignored.logicalNot().sum();
  return castTo(reduceLoss(loss, reduction, valid, avgFactor), input.dtype);
}
