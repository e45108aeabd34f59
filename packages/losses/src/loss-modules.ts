/**
 * Module forms of the composed losses, as PyTorch's `nn.BCEWithLogitsLoss`, `nn.CrossEntropyLoss`,
 * `nn.L1Loss`, `nn.SmoothL1Loss`, `nn.HuberLoss` and mmdetection's `FocalLoss` (softmax),
 * `QualityFocalLoss`, `DistributionFocalLoss`, `VarifocalLoss` and `GIoULoss`.
 *
 * Each is a {@link LossModule}, as `SigmoidFocalLoss` is: a plain class (`@kiln/losses` does not
 * depend on `@kiln/nn`) that holds its options and whose `forward(input, target, options)` calls
 * the functional form with the constructor's options overridden by the call's (mmdetection's
 * per-call `weight`, `avg_factor` and `reduction_override`). Options are checked at construction
 * with the functional form's own checks, so a bad option raises the same typed error naming the
 * class instead of the op. There is no `lossWeight` (scale the loss), and tensor options (class
 * weights, posWeight) are held as given: they must be on the inputs' device, as the functional form
 * requires.
 */
import type { Tensor } from '@kiln/tensor';
import { checkTensorOptions, frozenCopy } from './loss-args.js';
import {
  type BinaryCrossEntropyWithLogitsOptions, binaryCrossEntropyWithLogits, checkBinaryCrossEntropyWithLogitsOptions,
} from './binary-cross-entropy-with-logits.js';
import { type CrossEntropyOptions, checkCrossEntropyOptions, crossEntropy } from './cross-entropy.js';
import {
  type HuberLossOptions, type RegressionLossOptions, type SmoothL1LossOptions, checkHuberLossOptions, checkRegressionLossOptions,
  checkSmoothL1LossOptions, huberLoss, l1Loss, smoothL1Loss,
} from './regression-losses.js';
import { type GiouLossOptions, checkGiouLossOptions, giouLoss } from './giou-loss.js';
import { type SoftmaxFocalLossOptions, checkSoftmaxFocalLossOptions, softmaxFocalLoss } from './softmax-focal-loss.js';
import { type QualityFocalLossOptions, checkQualityFocalLossOptions, qualityFocalLoss } from './quality-focal-loss.js';
import { type DistributionFocalLossOptions, checkDistributionFocalLossOptions, distributionFocalLoss } from './distribution-focal-loss.js';
import { type VarifocalLossOptions, checkVarifocalLossOptions, varifocalLoss } from './varifocal-loss.js';

/**
 * What every loss module is: options checked at construction (with the functional form's own
 * checks, naming the class) and frozen, and a `forward` that calls the functional form with them,
 * overridden by the call's own options.
 */
export class LossModule<Options extends object, Target = Tensor> {
  /** The options every call uses (a call's own options override them); a frozen copy. */
  readonly options: Readonly<Options>;
  readonly #loss: (input: Tensor, target: Target, options: Options) => Tensor;

  /**
   * @param name - the class, named in errors
   * @param loss - the functional form
   * @param checkOptions - the functional form's checks of the options that do not depend on the inputs
   * @param options - the options every call uses
   */
  constructor(name: string, loss: (input: Tensor, target: Target, options: Options) => Tensor,
    checkOptions: (op: string, options: Options) => unknown, options: Options) {
    checkOptions(name, options);
    checkTensorOptions(name, options);
    this.options = frozenCopy(options);
    this.#loss = loss;
  }

  /** The loss of `input` against `target`, with the constructor's options overridden by `options`. */
  forward(input: Tensor, target: Target, options: Options = {} as Options): Tensor {
    return this.#loss(input, target, { ...this.options, ...options });
  }
}

/**
 * Module form of {@link binaryCrossEntropyWithLogits} (PyTorch's `nn.BCEWithLogitsLoss`).
 * `forward` gives the loss of logits `input` against probabilities `target`; a call's options override the constructor's.
 *
 * @example
 * ```ts
 * const criterion = new BCEWithLogitsLoss({ posWeight: tensor([3, 1, 1]) });
 * const loss = criterion.forward(logits, targets);
 * ```
 */
export class BCEWithLogitsLoss extends LossModule<BinaryCrossEntropyWithLogitsOptions> {
  /** Checks and fixes the options of every call; a bad one raises a typed error naming `BCEWithLogitsLoss`. */
  constructor(options: BinaryCrossEntropyWithLogitsOptions = {}) {
    super('BCEWithLogitsLoss', binaryCrossEntropyWithLogits, checkBinaryCrossEntropyWithLogitsOptions, options);
  }
}

/**
 * Module form of {@link crossEntropy} (PyTorch's `nn.CrossEntropyLoss`).
 * `forward` gives the loss of logits `input` against class indices `target`; a call's options override the constructor's.
 *
 * @example
 * ```ts
 * const criterion = new CrossEntropyLoss({ classWeight, labelSmoothing: 0.1 });
 * const loss = criterion.forward(logits, labels);
 * ```
 */
export class CrossEntropyLoss extends LossModule<CrossEntropyOptions> {
  /** Checks and fixes the options of every call; a bad one raises a typed error naming `CrossEntropyLoss`. */
  constructor(options: CrossEntropyOptions = {}) {
    super('CrossEntropyLoss', crossEntropy, checkCrossEntropyOptions, options);
  }
}

/**
 * Module form of {@link l1Loss} (PyTorch's `nn.L1Loss`, mmdetection's `L1Loss`).
 * `forward` gives the loss of `input` against `target`; a call's options override the constructor's.
 *
 * @example
 * ```ts
 * const loss = new L1Loss({ reduction: 'sum' }).forward(pred, target, { weight });
 * ```
 */
export class L1Loss extends LossModule<RegressionLossOptions> {
  /** Checks and fixes the options of every call; a bad one raises a typed error naming `L1Loss`. */
  constructor(options: RegressionLossOptions = {}) {
    super('L1Loss', l1Loss, checkRegressionLossOptions, options);
  }
}

/**
 * Module form of {@link smoothL1Loss} (PyTorch's `nn.SmoothL1Loss`, mmdetection's `SmoothL1Loss`).
 * `forward` gives the loss of `input` against `target`; a call's options override the constructor's.
 *
 * @example
 * ```ts
 * const loss = new SmoothL1Loss({ beta: 1 / 9 }).forward(pred, target, { avgFactor: numPositives });
 * ```
 */
export class SmoothL1Loss extends LossModule<SmoothL1LossOptions> {
  /** Checks and fixes the options of every call; a bad one raises a typed error naming `SmoothL1Loss`. */
  constructor(options: SmoothL1LossOptions = {}) {
    super('SmoothL1Loss', smoothL1Loss, checkSmoothL1LossOptions, options);
  }
}

/**
 * Module form of {@link huberLoss} (PyTorch's `nn.HuberLoss`).
 * `forward` gives the loss of `input` against `target`; a call's options override the constructor's.
 *
 * @example
 * ```ts
 * const loss = new HuberLoss({ delta: 2 }).forward(pred, target);
 * ```
 */
export class HuberLoss extends LossModule<HuberLossOptions> {
  /** Checks and fixes the options of every call; a bad one raises a typed error naming `HuberLoss`. */
  constructor(options: HuberLossOptions = {}) {
    super('HuberLoss', huberLoss, checkHuberLossOptions, options);
  }
}

/**
 * Module form of {@link giouLoss} (mmdetection's `GIoULoss`). Its default reduction is the
 * functional form's, 'none' (torchvision's); mmdetection's module defaults to 'mean'.
 * `forward` gives the loss of boxes `boxes1` [N, 4] against `boxes2`; a call's options override the constructor's.
 *
 * @example
 * ```ts
 * const loss = new GIoULoss({ reduction: 'mean' }).forward(predBoxes, targetBoxes, { weight });
 * ```
 */
export class GIoULoss extends LossModule<GiouLossOptions> {
  /** Checks and fixes the options of every call; a bad one raises a typed error naming `GIoULoss`. */
  constructor(options: GiouLossOptions = {}) {
    super('GIoULoss', giouLoss, checkGiouLossOptions, options);
  }
}

/**
 * Module form of {@link softmaxFocalLoss} (mmdetection's `FocalLoss` with `use_sigmoid=False`).
 * `forward` gives the loss of logits `input` [N, C] against class indices `target` [N]; a call's options override the constructor's.
 *
 * @example
 * ```ts
 * const loss = new SoftmaxFocalLoss({ gamma: 2, alpha: 0.25 }).forward(logits, labels);
 * ```
 */
export class SoftmaxFocalLoss extends LossModule<SoftmaxFocalLossOptions> {
  /** Checks and fixes the options of every call; a bad one raises a typed error naming `SoftmaxFocalLoss`. */
  constructor(options: SoftmaxFocalLossOptions = {}) {
    super('SoftmaxFocalLoss', softmaxFocalLoss, checkSoftmaxFocalLossOptions, options);
  }
}

/**
 * Module form of {@link qualityFocalLoss} (mmdetection's `QualityFocalLoss`).
 * `forward` gives the loss of logits `pred` [N, C] against `[label, score]`; a call's options override the constructor's.
 *
 * @example
 * ```ts
 * const loss = new QualityFocalLoss({ beta: 2 }).forward(clsLogits, [labels, iouScores], { avgFactor: numPositives });
 * ```
 */
export class QualityFocalLoss extends LossModule<QualityFocalLossOptions, readonly [Tensor, Tensor]> {
  /** Checks and fixes the options of every call; a bad one raises a typed error naming `QualityFocalLoss`. */
  constructor(options: QualityFocalLossOptions = {}) {
    super('QualityFocalLoss', qualityFocalLoss, checkQualityFocalLossOptions, options);
  }
}

/**
 * Module form of {@link distributionFocalLoss} (mmdetection's `DistributionFocalLoss`).
 * `forward` gives the loss of logits `pred` [N, n + 1] against continuous targets `label` [N]; a call's options override the constructor's.
 *
 * @example
 * ```ts
 * const loss = new DistributionFocalLoss().forward(regLogits, regTargets, { weight, avgFactor: 4 * numPositives });
 * ```
 */
export class DistributionFocalLoss extends LossModule<DistributionFocalLossOptions> {
  /** Checks and fixes the options of every call; a bad one raises a typed error naming `DistributionFocalLoss`. */
  constructor(options: DistributionFocalLossOptions = {}) {
    super('DistributionFocalLoss', distributionFocalLoss, checkDistributionFocalLossOptions, options);
  }
}

/**
 * Module form of {@link varifocalLoss} (mmdetection's `VarifocalLoss`).
 * `forward` gives the loss of logits `pred` [N, C] against IoU targets `target` [N, C]; a call's options override the constructor's.
 *
 * @example
 * ```ts
 * const loss = new VarifocalLoss({ alpha: 0.75, gamma: 2 }).forward(clsLogits, iouTargets, { avgFactor: numPositives });
 * ```
 */
export class VarifocalLoss extends LossModule<VarifocalLossOptions> {
  /** Checks and fixes the options of every call; a bad one raises a typed error naming `VarifocalLoss`. */
  constructor(options: VarifocalLossOptions = {}) {
    super('VarifocalLoss', varifocalLoss, checkVarifocalLossOptions, options);
  }
}
