/** Options of the sigmoid focal loss, shared by the Function, the functional form and the module. */
import type { Tensor } from '@kiln/tensor';
import type { Reduction } from '../reduction.js';

/** Index-target conventions: which value means background. */
export type TargetConvention =
  /** the seed's (early mmdetection): 0 background, 1..C foreground class t - 1 */
  | 'seed'
  /** later mmdetection's: 0..C-1 foreground class t, C background */
  | 'mmdet';

/** Options of {@link sigmoidFocalLoss}, {@link SigmoidFocalLoss} and {@link SigmoidFocalLossFunction}. */
export interface SigmoidFocalLossOptions {
  /** Focusing parameter, >= 0 (default 2). gamma = 0 is binary cross-entropy times the alpha factor. */
  gamma?: number;
  /** Weight of positives (1 - alpha for negatives), in [0, 1]; a negative alpha disables weighting (default 0.25). */
  alpha?: number;
  /**
   * 'none' gives the [N, C] elementwise loss; 'sum' a scalar; 'mean' (default) a scalar equal to the
   * sum divided by the number of non-ignored elements (non-ignored rows × C for index targets,
   * N × C for float targets), or by `avgFactor` when given. With no valid element the loss is 0.
   */
  reduction?: Reduction;
  /** Replaces the mean's divisor (mmdetection's RetinaNet divides by the number of positive anchors). */
  avgFactor?: number;
  /** How index targets name the background (default 'seed'). Negative index targets mark ignored rows in both. */
  targetConvention?: TargetConvention;
  /** Per-element [N, C] or per-row [N] weights, multiplied into the loss and the gradient. */
  weight?: Tensor;
  /** Per-class weights [C] (the background has no entry). */
  classWeight?: Tensor;
  /**
   * Compute the gradient in the forward pass when the input requires grad and the reduction is
   * 'mean' or 'sum' (one read of the logits for both; default true). false runs the separate
   * backward kernel instead.
   */
  fusedGrad?: boolean;
}
