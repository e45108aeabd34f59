/** Options of the sigmoid focal loss, shared by the Function, the functional form and the module. */
import type { Tensor } from '@kiln/tensor';
import type { Reduction } from '../reduction.js';

/** Where the background sits among the C + 1 values of an index target (for C classes). */
export type BackgroundClass =
  /** 0 is the background and 1..C the foreground classes (target t is class t - 1) */
  | 'first'
  /** 0..C-1 are the foreground classes and C the background (mmdetection's labels since 2.0) */
  | 'last';

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
  /**
   * Where the background sits in index targets: 'first' (default) for 0 background and 1..C the
   * classes, 'last' for 0..C-1 the classes and C background. Negative index targets mark ignored rows in both.
   */
  backgroundClass?: BackgroundClass;
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
