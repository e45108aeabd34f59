/**
 * RetinaNet's training losses, as torchvision's `RetinaNet.compute_loss` computes them: anchors
 * matched to ground truths by IoU (Matcher 0.5 / 0.4 with low-quality matches), the sigmoid focal
 * loss over every anchor that is not ignored, the box loss over foreground anchors, each image's
 * sums divided by its number of foreground anchors (at least 1), then averaged over the images.
 */
import { type Tensor, ValueError, cat, clamp, full, nonzero, where } from '@kiln/tensor';
import { giouLoss, l1Loss, sigmoidFocalLoss, smoothL1Loss } from '@kiln/losses';
import type { Matcher } from '../../anchors/matcher.js';
import { type BoxCoder, boxIou } from '../../ops/index.js';
import type { DetectionTarget, RetinaNetHeadOutputs } from './types.js';

/** The box loss: torchvision's `_box_loss` types ('smoothL1' is its 'smooth_l1'). */
export type BoxLossType = 'l1' | 'smoothL1' | 'giou';

/** How the losses are computed. */
export interface RetinaNetLossOptions {
  /** The box loss (torchvision's RetinaNet v1: 'l1'; its v2: 'giou'). */
  boxLoss: BoxLossType;
  /** Smooth L1's beta (torchvision's default 1; Detectron's RetinaNet 1/9). */
  smoothL1Beta: number;
  /** The focal loss's alpha (0.25). */
  focalAlpha: number;
  /** The focal loss's gamma (2). */
  focalGamma: number;
}

/**
 * Each image's anchors matched to its ground truths: int64 [anchors], the index of the matched
 * box, -1 for background, -2 between the thresholds (ignored). An image without boxes is all
 * background.
 */
export function matchAnchors(targets: readonly DetectionTarget[], anchors: readonly Tensor[], matcher: Matcher): Tensor[] {
  return anchors.map((a, i) => {
    const boxes = targets[i].boxes;
    if (boxes.shape[0] === 0) return full([a.shape[0]], -1, { dtype: 'int64', device: a.device });
    return matcher.call(boxIou(boxes, a));
  });
}

/** max(1, number of foreground anchors) as a float 0-d tensor (no read back). */
const foregroundCount = (matched: Tensor, like: Tensor): Tensor => clamp(matched.ge(0).sum().to(like.dtype), 1);

/**
 * The classification loss: per image, the sigmoid focal loss summed over its anchors and classes
 * (the matched box's class is the positive one; ignored anchors count for nothing), over its
 * foreground count; then the mean over images.
 */
export function classificationLoss(targets: readonly DetectionTarget[], outputs: RetinaNetHeadOutputs, matched: readonly Tensor[], o: RetinaNetLossOptions): Tensor {
  const losses = matched.map((m, i) => {
    const logits = outputs.clsLogits.select(0, i);
    const labels = targets[i].labels;
    // the focal loss's index targets: 0 background, c + 1 class c, negative an ignored row
    const background = where(m.eq(-2), -1, 0).to('int64');
    const classTarget = labels.shape[0] === 0 ? background : where(m.ge(0), labels.indexSelect(0, clamp(m, 0)).add(1), background);
    const sum = sigmoidFocalLoss(logits, classTarget, { gamma: o.focalGamma, alpha: o.focalAlpha, reduction: 'sum' });
    return sum.div(foregroundCount(m, sum));
  });
  return cat(losses.map((l) => l.reshape([1])), 0).sum().div(losses.length);
}

/**
 * The box-regression loss: per image, over its foreground anchors, L1 or smooth L1 between the
 * predicted deltas and the matched boxes' encoding (BoxCoder, weights 1), or GIoU between the
 * decoded boxes and the matched boxes, summed, over the foreground count; then the mean over images.
 */
export function boxRegressionLoss(targets: readonly DetectionTarget[], outputs: RetinaNetHeadOutputs, anchors: readonly Tensor[], matched: readonly Tensor[], boxCoder: BoxCoder, o: RetinaNetLossOptions): Tensor {
  const losses = matched.map((m, i) => {
    const deltas = outputs.bboxRegression.select(0, i);
    const [fg] = nonzero(m.ge(0), { asTuple: true }) as [Tensor];
    const count = fg.shape[0];
    if (count === 0) return deltas.narrow(0, 0, 0).sum();      // 0, still part of the graph
    const pred = deltas.indexSelect(0, fg), anchorsFg = anchors[i].indexSelect(0, fg);
    const gt = targets[i].boxes.indexSelect(0, m.indexSelect(0, fg)).to(pred.dtype);
    let sum: Tensor;
    if (o.boxLoss === 'giou') sum = giouLoss(boxCoder.decodeSingle(pred, anchorsFg), gt, { reduction: 'sum', eps: 1e-7 });
    else {
      const target = boxCoder.encodeSingle(gt, anchorsFg);
      sum = o.boxLoss === 'l1' ? l1Loss(pred, target, { reduction: 'sum' }) : smoothL1Loss(pred, target, { reduction: 'sum', beta: o.smoothL1Beta });
    }
    return sum.div(count);
  });
  return cat(losses.map((l) => l.reshape([1])), 0).sum().div(Math.max(1, losses.length));
}

/** Checks a box-loss name. */
export function checkBoxLoss(op: string, v: unknown): BoxLossType {
  if (v !== 'l1' && v !== 'smoothL1' && v !== 'giou') throw new ValueError(op, 'boxLoss', "'l1', 'smoothL1' or 'giou'", String(v));
  return v;
}
