/**
 * RetinaNet's training loss for one batch: the sigmoid focal loss over every (anchor, class)
 * pair plus smooth L1 on the box deltas of the positive anchors, both summed and divided by the
 * number of positive anchors (the paper's normalisation, `avgFactor`): with focal loss the
 * ~1000x more numerous easy negatives add little, so the positives are the right count to
 * normalise by.
 *
 * The three classification losses compared are one function with different (gamma, alpha):
 *   focal loss              gamma = 2, alpha = 0.25
 *   cross-entropy (BCE)     gamma = 0, alpha = -1 (no weighting): -log p_t
 *   alpha-balanced CE       gamma = 0, alpha = 0.25: -alpha_t log p_t
 */
import { type Tensor, fromTypedArray } from '@kiln/tensor';
import { sigmoidFocalLoss, smoothL1Loss } from '@kiln/losses';
import type { Targets } from './anchors.js';
import type { DetectorOutput } from './model.js';

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

/** Smooth L1's beta on the deltas (Detectron's RetinaNet: 0.11). */
export const BOX_BETA = 0.11;

export interface BatchLoss {
  classification: Tensor;
  box: Tensor;
  total: Tensor;
}

/** The batch's targets as tensors on `device`. */
export interface TargetTensors {
  labels: Tensor;       // [rows] int32
  deltas: Tensor;       // [rows, 4]
  positiveMask: Tensor; // [rows, 1]
  positives: number;
}

export function targetTensors(t: Targets, device: string): TargetTensors {
  const rows = t.labels.length;
  return {
    labels: fromTypedArray(t.labels).to(device),
    deltas: fromTypedArray(t.deltas, [rows, 4]).to(device),
    positiveMask: fromTypedArray(t.positiveMask, [rows, 1]).to(device),
    positives: t.positives,
  };
}

export function detectionLoss(out: DetectorOutput, targets: TargetTensors, variant: LossVariant): BatchLoss {
  const [n, anchors, k] = out.logits.shape as [number, number, number];
  const avgFactor = Math.max(1, targets.positives);
  const classification = sigmoidFocalLoss(out.logits.reshape([n * anchors, k]), targets.labels, {
    gamma: variant.gamma, alpha: variant.alpha, reduction: 'mean', avgFactor, backgroundClass: 'first',
  });
  const box = smoothL1Loss(out.deltas.reshape([n * anchors, 4]), targets.deltas, {
    beta: BOX_BETA, weight: targets.positiveMask, reduction: 'mean', avgFactor,
  });
  return { classification, box, total: classification.add(box) };
}
