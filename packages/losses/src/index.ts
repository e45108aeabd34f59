/**
 * @packageDocumentation
 * `@kiln/losses`: the sigmoid focal loss of RetinaNet as an autograd Function
 * (`SigmoidFocalLossFunction`), its functional and module forms, and the detection loss family
 * (functional forms, and module forms such as `CrossEntropyLoss` that fix their options).
 *
 * ```ts
 * import { sigmoidFocalLoss } from '@kiln/losses';
 * const loss = sigmoidFocalLoss(logits, labels, { gamma: 2, alpha: 0.25 });
 * loss.backward();
 * ```
 */
export { SigmoidFocalLossFunction, type SigmoidFocalLossCtx } from './sigmoid-focal-loss/function.js';
export type { FocalArgs } from './sigmoid-focal-loss/kernels.js';
export { sigmoidFocalLoss, SigmoidFocalLoss } from './sigmoid-focal-loss/api.js';
export type { SigmoidFocalLossOptions, BackgroundClass } from './sigmoid-focal-loss/options.js';
export { type Reduction } from './reduction.js';
export { binaryCrossEntropyWithLogits, type BinaryCrossEntropyWithLogitsOptions } from './binary-cross-entropy-with-logits.js';
export { crossEntropy, type CrossEntropyOptions } from './cross-entropy.js';
export { l1Loss, smoothL1Loss, huberLoss, type RegressionLossOptions, type SmoothL1LossOptions, type HuberLossOptions } from './regression-losses.js';
export { giouLoss, type GiouLossOptions } from './giou-loss.js';
export { softmaxFocalLoss, type SoftmaxFocalLossOptions } from './softmax-focal-loss.js';
export { qualityFocalLoss, type QualityFocalLossOptions } from './quality-focal-loss.js';
export { distributionFocalLoss, type DistributionFocalLossOptions } from './distribution-focal-loss.js';
export { varifocalLoss, type VarifocalLossOptions } from './varifocal-loss.js';
export {
  LossModule,
  BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, SmoothL1Loss, HuberLoss, GIoULoss, SoftmaxFocalLoss, QualityFocalLoss,
  DistributionFocalLoss, VarifocalLoss,
} from './loss-modules.js';
