/**
 * Module forms of the composed losses, as PyTorch's `nn.BCEWithLogitsLoss`, `nn.CrossEntropyLoss`,
 * `nn.L1Loss`, `nn.SmoothL1Loss`, `nn.HuberLoss` and mmdetection's `FocalLoss` (softmax),
 * `QualityFocalLoss`, `DistributionFocalLoss`, `VarifocalLoss` and `GIoULoss`.
 *
 * They follow `SigmoidFocalLoss`: a plain class (`@kiln/losses` does not depend on `@kiln/nn`)
 * that holds its options and whose `forward(input, target, options)` calls the functional form
 * with the constructor's options overridden by the call's (mmdetection's per-call `weight`,
 * `avg_factor` and `reduction_override`). They check their options at construction, with the functional form's own checks, so a bad option raises the same typed error
 * naming the class instead of the op, as SigmoidFocalLoss does. There is no `lossWeight` (scale the
 * loss), and tensor options (class weights, posWeight) are held as given: they must be on the
 * inputs' device, as the functional form requires.
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
 * Module form of {@link binaryCrossEntropyWithLogits} (PyTorch's `nn.BCEWithLogitsLoss`).
 *
 * @example
 * ```ts
 * const criterion = new BCEWithLogitsLoss({ posWeight: tensor([3, 1, 1]) });
 * const loss = criterion.forward(logits, targets);
 * ```
 */
export class BCEWithLogitsLoss {
  /** The options every call uses (a call's own options override them). */
  readonly options: Readonly<BinaryCrossEntropyWithLogitsOptions>;
  /** Checks and fixes the options of every call; a bad one raises a typed error naming `BCEWithLogitsLoss`. */
  constructor(options: BinaryCrossEntropyWithLogitsOptions = {}) {
    checkBinaryCrossEntropyWithLogitsOptions('BCEWithLogitsLoss', options);
    checkTensorOptions('BCEWithLogitsLoss', options);
    this.options = frozenCopy(options);
  }
  /** The loss of logits `input` against probabilities `target` (per-call options override the constructor's). */
  forward(input: Tensor, target: Tensor, options: BinaryCrossEntropyWithLogitsOptions = {}): Tensor {
    return binaryCrossEntropyWithLogits(input, target, { ...this.options, ...options });
  }
}

/**
 * Module form of {@link crossEntropy} (PyTorch's `nn.CrossEntropyLoss`).
 *
 * @example
 * ```ts
 * const criterion = new CrossEntropyLoss({ classWeight, labelSmoothing: 0.1 });
 * const loss = criterion.forward(logits, labels);
 * ```
 */
export class CrossEntropyLoss {
  /** The options every call uses (a call's own options override them). */
  readonly options: Readonly<CrossEntropyOptions>;
  /** Checks and fixes the options of every call; a bad one raises a typed error naming `CrossEntropyLoss`. */
  constructor(options: CrossEntropyOptions = {}) {
    checkCrossEntropyOptions('CrossEntropyLoss', options);
    checkTensorOptions('CrossEntropyLoss', options);
    this.options = frozenCopy(options);
  }
  /** The loss of logits `input` against class indices `target` (per-call options override the constructor's). */
  forward(input: Tensor, target: Tensor, options: CrossEntropyOptions = {}): Tensor {
    return crossEntropy(input, target, { ...this.options, ...options });
  }
}

/**
 * Module form of {@link l1Loss} (PyTorch's `nn.L1Loss`, mmdetection's `L1Loss`).
 *
 * @example
 * ```ts
 * const loss = new L1Loss({ reduction: 'sum' }).forward(pred, target, { weight });
 * ```
 */
export class L1Loss {
  /** The options every call uses (a call's own options override them). */
  readonly options: Readonly<RegressionLossOptions>;
  /** Checks and fixes the options of every call; a bad one raises a typed error naming `L1Loss`. */
  constructor(options: RegressionLossOptions = {}) {
    checkRegressionLossOptions('L1Loss', options);
    checkTensorOptions('L1Loss', options);
    this.options = frozenCopy(options);
  }
  /** The loss of `input` against `target` (per-call options override the constructor's). */
  forward(input: Tensor, target: Tensor, options: RegressionLossOptions = {}): Tensor {
    return l1Loss(input, target, { ...this.options, ...options });
  }
}

/**
 * Module form of {@link smoothL1Loss} (PyTorch's `nn.SmoothL1Loss`, mmdetection's `SmoothL1Loss`).
 *
 * @example
 * ```ts
 * const loss = new SmoothL1Loss({ beta: 1 / 9 }).forward(pred, target, { avgFactor: numPositives });
 * ```
 */
export class SmoothL1Loss {
  /** The options every call uses (a call's own options override them). */
  readonly options: Readonly<SmoothL1LossOptions>;
  /** Checks and fixes the options of every call; a bad one raises a typed error naming `SmoothL1Loss`. */
  constructor(options: SmoothL1LossOptions = {}) {
    checkSmoothL1LossOptions('SmoothL1Loss', options);
    checkTensorOptions('SmoothL1Loss', options);
    this.options = frozenCopy(options);
  }
  /** The loss of `input` against `target` (per-call options override the constructor's). */
  forward(input: Tensor, target: Tensor, options: SmoothL1LossOptions = {}): Tensor {
    return smoothL1Loss(input, target, { ...this.options, ...options });
  }
}

/**
 * Module form of {@link huberLoss} (PyTorch's `nn.HuberLoss`).
 *
 * @example
 * ```ts
 * const loss = new HuberLoss({ delta: 2 }).forward(pred, target);
 * ```
 */
export class HuberLoss {
  /** The options every call uses (a call's own options override them). */
  readonly options: Readonly<HuberLossOptions>;
  /** Checks and fixes the options of every call; a bad one raises a typed error naming `HuberLoss`. */
  constructor(options: HuberLossOptions = {}) {
    checkHuberLossOptions('HuberLoss', options);
    checkTensorOptions('HuberLoss', options);
    this.options = frozenCopy(options);
  }
  /** The loss of `input` against `target` (per-call options override the constructor's). */
  forward(input: Tensor, target: Tensor, options: HuberLossOptions = {}): Tensor {
    return huberLoss(input, target, { ...this.options, ...options });
  }
}

/**
 * Module form of {@link giouLoss} (mmdetection's `GIoULoss`). Its default reduction is the
 * functional form's, 'none' (torchvision's); mmdetection's module defaults to 'mean'.
 *
 * @example
 * ```ts
 * const loss = new GIoULoss({ reduction: 'mean' }).forward(predBoxes, targetBoxes, { weight });
 * ```
 */
export class GIoULoss {
  /** The options every call uses (a call's own options override them). */
  readonly options: Readonly<GiouLossOptions>;
  /** Checks and fixes the options of every call; a bad one raises a typed error naming `GIoULoss`. */
  constructor(options: GiouLossOptions = {}) {
    checkGiouLossOptions('GIoULoss', options);
    checkTensorOptions('GIoULoss', options);
    this.options = frozenCopy(options);
  }
  /** The loss of boxes `boxes1` [N, 4] against `boxes2` (per-call options override the constructor's). */
  forward(boxes1: Tensor, boxes2: Tensor, options: GiouLossOptions = {}): Tensor {
    return giouLoss(boxes1, boxes2, { ...this.options, ...options });
  }
}

/**
 * Module form of {@link softmaxFocalLoss} (mmdetection's `FocalLoss` with `use_sigmoid=False`).
 *
 * @example
 * ```ts
 * const loss = new SoftmaxFocalLoss({ gamma: 2, alpha: 0.25 }).forward(logits, labels);
 * ```
 */
export class SoftmaxFocalLoss {
  /** The options every call uses (a call's own options override them). */
  readonly options: Readonly<SoftmaxFocalLossOptions>;
  /** Checks and fixes the options of every call; a bad one raises a typed error naming `SoftmaxFocalLoss`. */
  constructor(options: SoftmaxFocalLossOptions = {}) {
    checkSoftmaxFocalLossOptions('SoftmaxFocalLoss', options);
    checkTensorOptions('SoftmaxFocalLoss', options);
    this.options = frozenCopy(options);
  }
  /** The loss of logits `input` [N, C] against class indices `target` [N] (per-call options override the constructor's). */
  forward(input: Tensor, target: Tensor, options: SoftmaxFocalLossOptions = {}): Tensor {
    return softmaxFocalLoss(input, target, { ...this.options, ...options });
  }
}

/**
 * Module form of {@link qualityFocalLoss} (mmdetection's `QualityFocalLoss`).
 *
 * @example
 * ```ts
 * const loss = new QualityFocalLoss({ beta: 2 }).forward(clsLogits, [labels, iouScores], { avgFactor: numPositives });
 * ```
 */
export class QualityFocalLoss {
  /** The options every call uses (a call's own options override them). */
  readonly options: Readonly<QualityFocalLossOptions>;
  /** Checks and fixes the options of every call; a bad one raises a typed error naming `QualityFocalLoss`. */
  constructor(options: QualityFocalLossOptions = {}) {
    checkQualityFocalLossOptions('QualityFocalLoss', options);
    checkTensorOptions('QualityFocalLoss', options);
    this.options = frozenCopy(options);
  }
  /** The loss of logits `pred` [N, C] against `[label, score]` (per-call options override the constructor's). */
  forward(pred: Tensor, target: readonly [Tensor, Tensor], options: QualityFocalLossOptions = {}): Tensor {
    return qualityFocalLoss(pred, target, { ...this.options, ...options });
  }
}

/**
 * Module form of {@link distributionFocalLoss} (mmdetection's `DistributionFocalLoss`).
 *
 * @example
 * ```ts
 * const loss = new DistributionFocalLoss().forward(regLogits, regTargets, { weight, avgFactor: 4 * numPositives });
 * ```
 */
export class DistributionFocalLoss {
  /** The options every call uses (a call's own options override them). */
  readonly options: Readonly<DistributionFocalLossOptions>;
  /** Checks and fixes the options of every call; a bad one raises a typed error naming `DistributionFocalLoss`. */
  constructor(options: DistributionFocalLossOptions = {}) {
    checkDistributionFocalLossOptions('DistributionFocalLoss', options);
    checkTensorOptions('DistributionFocalLoss', options);
    this.options = frozenCopy(options);
  }
  /** The loss of logits `pred` [N, n + 1] against continuous targets `label` [N] (per-call options override the constructor's). */
  forward(pred: Tensor, label: Tensor, options: DistributionFocalLossOptions = {}): Tensor {
    return distributionFocalLoss(pred, label, { ...this.options, ...options });
  }
}

/**
 * Module form of {@link varifocalLoss} (mmdetection's `VarifocalLoss`).
 *
 * @example
 * ```ts
 * const loss = new VarifocalLoss({ alpha: 0.75, gamma: 2 }).forward(clsLogits, iouTargets, { avgFactor: numPositives });
 * ```
 */
export class VarifocalLoss {
  /** The options every call uses (a call's own options override them). */
  readonly options: Readonly<VarifocalLossOptions>;
  /** Checks and fixes the options of every call; a bad one raises a typed error naming `VarifocalLoss`. */
  constructor(options: VarifocalLossOptions = {}) {
    checkVarifocalLossOptions('VarifocalLoss', options);
    checkTensorOptions('VarifocalLoss', options);
    this.options = frozenCopy(options);
  }
  /** The loss of logits `pred` [N, C] against IoU targets `target` [N, C] (per-call options override the constructor's). */
  forward(pred: Tensor, target: Tensor, options: VarifocalLossOptions = {}): Tensor {
    return varifocalLoss(pred, target, { ...this.options, ...options });
  }
}
