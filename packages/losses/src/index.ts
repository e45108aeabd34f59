/**
 * @packageDocumentation
 * `@kiln/losses`: the sigmoid focal loss of RetinaNet as an autograd Function
 * (`SigmoidFocalLossFunction`), its functional and module forms, and the detection loss family.
 *
 * ```ts
 * import { sigmoidFocalLoss } from '@kiln/losses';
 * const loss = sigmoidFocalLoss(logits, labels, { gamma: 2, alpha: 0.25 });
 * loss.backward();
 * ```
 */
export { SigmoidFocalLossFunction } from './sigmoid-focal-loss/function.js';
export { sigmoidFocalLoss, SigmoidFocalLoss } from './sigmoid-focal-loss/api.js';
export type { SigmoidFocalLossOptions, TargetConvention } from './sigmoid-focal-loss/options.js';
export { type Reduction } from './reduction.js';
