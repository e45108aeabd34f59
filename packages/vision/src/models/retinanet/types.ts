/** The shapes RetinaNet's parts exchange: head outputs, losses and detections (targets are the data pipeline's DetectionTarget). */
import type { Tensor } from '@kiln/tensor';
export type { DetectionTarget } from '../../data/sample.js';

/** The head's raw outputs for a batch, rows in the anchors' order. */
export interface RetinaNetHeadOutputs {
  /** [N, anchors, K] classification logits. */
  clsLogits: Tensor;
  /** [N, anchors, 4] box deltas relative to the anchors. */
  bboxRegression: Tensor;
}

/** RetinaNet's two training losses (torchvision's `{ classification, bbox_regression }`), 0-d tensors. */
export interface RetinaNetLosses {
  /** Sigmoid focal loss summed over anchors and classes, over foreground anchors, averaged over images. */
  classification: Tensor;
  /** Box loss summed over foreground anchors, over their number, averaged over images. */
  bboxRegression: Tensor;
}

/** The detections of one image (torchvision's output dict). */
export interface Detection {
  /** [D, 4] boxes (x1, y1, x2, y2), clipped to the image. */
  boxes: Tensor;
  /** [D] scores (sigmoid probabilities), decreasing. */
  scores: Tensor;
  /** [D] int64 classes. */
  labels: Tensor;
}
