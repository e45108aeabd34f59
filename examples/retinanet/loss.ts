/**
 * The classification losses compared. RetinaNet's loss (@kiln/vision's RetinaNet computes it) is
 * the sigmoid focal loss over every (anchor, class) pair that is not ignored plus smooth L1 on the
 * box deltas of the foreground anchors, each image's sums divided by its number of foreground
 * anchors (the paper's normalisation: with focal loss the ~1000x more numerous easy negatives add
 * little, so the positives are the right count to normalise by). The three classification losses
 * are one function with different (gamma, alpha), RetinaNet's focalGamma and focalAlpha:
 *   focal loss              gamma = 2, alpha = 0.25
 *   cross-entropy (BCE)     gamma = 0, alpha = -1: -log p_t (a negative alpha disables the
 *                           weighting, as torchvision's sigmoid_focal_loss with alpha < 0)
 *   alpha-balanced CE       gamma = 0, alpha = 0.25: -alpha_t log p_t
 */

export interface LossVariant {
  /** short name used in tables, legends and file names */
  name: string;
  gamma: number;
  /** weight of positives (1 - alpha for negatives); negative: no weighting */
  alpha: number;
}

export const FOCAL: LossVariant = { name: 'focal', gamma: 2, alpha: 0.25 };
export const CROSS_ENTROPY: LossVariant = { name: 'ce', gamma: 0, alpha: -1 };
export const BALANCED_CE: LossVariant = { name: 'ce-alpha', gamma: 0, alpha: 0.25 };

/**
 * The gamma sweep of the paper's Table 1b: each gamma with the alpha the paper found best for it
 * (lower alpha as gamma grows: the focusing already down-weights the easy negatives).
 */
export const GAMMA_SWEEP: readonly LossVariant[] = [
  { name: 'fl-g0', gamma: 0, alpha: 0.75 },
  { name: 'fl-g0.5', gamma: 0.5, alpha: 0.5 },
  { name: 'fl-g1', gamma: 1, alpha: 0.25 },
  { name: 'fl-g2', gamma: 2, alpha: 0.25 },
  { name: 'fl-g5', gamma: 5, alpha: 0.25 },
];
