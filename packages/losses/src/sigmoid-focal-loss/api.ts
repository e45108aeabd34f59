/** The functional and module forms of the sigmoid focal loss. */
import type { Tensor } from '@kiln/tensor';
import { SigmoidFocalLossFunction } from './function.js';
import type { SigmoidFocalLossOptions } from './options.js';
import { checkSigmoidFocalLossOptions } from './kernels.js';
import { LossModule } from '../loss-modules.js';

/**
 * The sigmoid focal loss of RetinaNet (Lin et al., 2017) for logits `input` [N, C] (or [..., C]).
 *
 * For p = sigmoid(x): a positive element costs `-alpha (1 - p)^gamma log p`, a negative one
 * `-(1 - alpha) p^gamma log(1 - p)`; with float targets t in [0, 1] it is torchvision's
 * `BCEWithLogits(x, t) * (1 - p_t)^gamma * alpha_t`. Targets are class indices [N] (int32/int64:
 * with `backgroundClass` 'first' (default) 0 is the background and 1..C class t - 1; with 'last'
 * 0..C-1 are the classes and C the background; negative = ignored row) or float targets of the
 * input's shape.
 *
 * The mean divides by the number of non-ignored elements (non-ignored rows × C for index targets,
 * N × C for float targets), or by `avgFactor`; with no valid element the loss is 0.
 *
 * @example
 * ```ts
 * const loss = sigmoidFocalLoss(logits, labels, { gamma: 2, alpha: 0.25, reduction: 'mean' });
 * loss.backward();
 * ```
 */
export function sigmoidFocalLoss(input: Tensor, target: Tensor, options: SigmoidFocalLossOptions | null = {}): Tensor {
  return SigmoidFocalLossFunction.apply(input, target, options);
}

/**
 * Module form of {@link sigmoidFocalLoss}, with its options fixed at construction.
 *
 * @example
 * ```ts
 * const criterion = new SigmoidFocalLoss({ gamma: 2, alpha: 0.25, backgroundClass: 'last' });
 * const loss = criterion.forward(logits, labels, { avgFactor: numPositives });
 * ```
 */
export class SigmoidFocalLoss extends LossModule<SigmoidFocalLossOptions> {
  /**
   * Fixes the options of every call (see {@link SigmoidFocalLossOptions}); bad options raise here,
   * with the error the functional form would raise, naming `SigmoidFocalLoss`.
   */
  constructor(options: SigmoidFocalLossOptions = {}) {
    super('SigmoidFocalLoss', sigmoidFocalLoss, checkSigmoidFocalLossOptions, options);
  }
}
