/**
 * The training-step benchmark's loss (the RetinaNet example's before it used @kiln/vision's
 * RetinaNet losses): the sigmoid focal loss over every (anchor, class) pair plus smooth L1 on the
 * box deltas of the positive anchors, both summed and divided by the number of positive anchors
 * (the paper's normalisation). retinanet_twin.py computes the same in PyTorch.
 */
import type { Tensor } from '@kiln/tensor';
import { sigmoidFocalLoss, smoothL1Loss } from '@kiln/losses';
import type { DetectorOutput } from './model.js';

/** The focal loss's settings the benchmark trains with (the paper's). */
export const FOCAL = { gamma: 2, alpha: 0.25 } as const;

/** Smooth L1's beta on the deltas (Detectron's RetinaNet: 0.11). */
export const BOX_BETA = 0.11;

export interface BatchLoss {
  classification: Tensor;
  box: Tensor;
  total: Tensor;
}

/** The batch's targets as tensors on the step's device. */
export interface TargetTensors {
  labels: Tensor;       // [rows] int32
  deltas: Tensor;       // [rows, 4]
  positiveMask: Tensor; // [rows, 1]
  positives: number;
}

export function detectionLoss(out: DetectorOutput, targets: TargetTensors, variant: { gamma: number; alpha: number } = FOCAL): BatchLoss {
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
