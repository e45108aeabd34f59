/**
 * RetinaNet's training losses, as torchvision's `RetinaNet.compute_loss` computes them: anchors
 * matched to ground truths by IoU (Matcher 0.5 / 0.4 with low-quality matches), the sigmoid focal
 * loss over every anchor that is not ignored, the box loss over foreground anchors, each image's
 * sums divided by its number of foreground anchors (at least 1), then averaged over the images.
 *
 * torchvision loops over the images; here the whole batch goes through each step at once (the
 * images' ground truths padded to the largest count, `padTargets`), so a step costs the same few
 * dozen kernels whatever the batch size, and nothing is read back to the host (torchvision's box
 * loss indexes the foreground anchors, a read back per image; here the box loss is computed for
 * every anchor and the background's masked out, which costs little next to the head's work).
 * The values are torchvision's up to the order of the floating-point sums.
 */
import { ShapeError, type Tensor, ValueError, arange, cat, fmtShape, fromTypedArray, full, stack, tensor, tidy, where } from '@kiln/tensor';
import { giouLoss, l1Loss, sigmoidFocalLoss, smoothL1Loss } from '@kiln/losses';
import type { Matcher } from '../../anchors/matcher.js';
import { type BoxCoder, batchedBoxIou } from '../../ops/index.js';
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
 * A batch's ground truths padded to the largest count G (at least 1): row g of image b is its box
 * g where `valid[b, g]`, else a placeholder (the unit box, label 0) that matching ignores.
 */
export interface PaddedTargets {
  /** [B, G, 4] boxes in the targets' dtype. */
  boxes: Tensor;
  /** [B, G] int64 labels. */
  labels: Tensor;
  /** [B, G] bool: which rows are real ground truths. */
  valid: Tensor;
}

/** The targets of a batch padded to one tensor each (a few kernels, whatever the batch size). */
export function padTargets(targets: readonly DetectionTarget[]): PaddedTargets {
  if (targets.length === 0) throw new ValueError('padTargets', 'targets', 'one target per image (at least one image)', 'none');
  targets.forEach((t, i) => {
    if (t.labels.shape[0] !== t.boxes.shape[0]) throw new ShapeError('padTargets', `targets[${i}].labels`, `one label per box ([${t.boxes.shape[0]}])`, fmtShape(t.labels.shape));
  });
  const like = targets[0].boxes;
  const counts = targets.map((t) => t.boxes.shape[0]);
  const G = Math.max(1, ...counts), B = targets.length, total = counts.reduce((a, b) => a + b, 0);
  // slot (b, g) takes row `source` of [every image's boxes one after the other; the placeholder]
  const source = new Int32Array(B * G).fill(total), valid = new Uint8Array(B * G);
  let row = 0;
  counts.forEach((n, b) => {
    for (let g = 0; g < n; g++, row++) {
      source[b * G + g] = row;
      valid[b * G + g] = 1;
    }
  });
  return tidy(() => {
    const index = fromTypedArray(source).to(like.device);
    const placeholderBox = tensor([[0, 0, 1, 1]], { dtype: like.dtype, device: like.device });
    const boxes = cat([...targets.map((t) => t.boxes), placeholderBox], 0).indexSelect(0, index).reshape([B, G, 4]);
    const labels = cat([...targets.map((t) => t.labels), full([1], 0, { dtype: 'int64', device: like.device })], 0).indexSelect(0, index).reshape([B, G]);
    return { boxes, labels, valid: fromTypedArray(valid, [B, G], 'bool').to(like.device) };
  });
}

/**
 * The batched losses' arguments agree: B images of A anchors in `matched` [B, A], as many padded
 * targets, and `tensors` (name, the dims after [B, A] or null for any) shaped [B, A, ...].
 */
function checkBatch(op: string, padded: PaddedTargets, matched: Tensor, tensors: readonly [string, Tensor, number | null][]): [number, number] {
  if (matched.ndim !== 2) throw new ShapeError(op, 'matched', 'matches [B, anchors]', fmtShape(matched.shape));
  const [B, A] = matched.shape;
  if (padded.valid.shape[0] !== B) throw new ShapeError(op, 'padded', `targets of the ${B} images of matched ${fmtShape(matched.shape)}`, `targets of ${padded.valid.shape[0]} images`);
  for (const [name, t, last] of tensors) {
    if (t.ndim !== 3 || t.shape[0] !== B || t.shape[1] !== A || (last !== null && t.shape[2] !== last)) {
      throw new ShapeError(op, name, `[${B}, ${A}, ${last ?? 'K'}] (B images and A anchors as matched)`, fmtShape(t.shape));
    }
  }
  return [B, A];
}

/**
 * Every anchor of every image matched to a ground truth at once: int64 [B, anchors], the index of
 * the matched box in its image, -1 for background, -2 between the thresholds (ignored). An image
 * without boxes is all background. `anchors` [B, anchors, 4] (the per-image anchors stacked).
 */
export function matchAnchorsBatched(padded: PaddedTargets, anchors: Tensor, matcher: Matcher): Tensor {
  return tidy(() => matcher.callBatched(batchedBoxIou(padded.boxes, anchors), padded.valid));
}

/**
 * Each image's anchors matched to its ground truths: int64 [anchors], the index of the matched
 * box, -1 for background, -2 between the thresholds (ignored). An image without boxes is all
 * background. (One batched matching, split per image.)
 */
export function matchAnchors(targets: readonly DetectionTarget[], anchors: readonly Tensor[], matcher: Matcher): Tensor[] {
  if (anchors.length !== targets.length) throw new ValueError('matchAnchors', 'anchors', `one anchor tensor per target (${targets.length})`, String(anchors.length));
  return tidy(() => matchAnchorsBatched(padTargets(targets), stack(anchors), matcher).unbind(0));
}

/** max(1, number of foreground anchors) per image, float [B] in `dtype` (no read back). */
const foregroundCounts = (matched: Tensor, dtype: Tensor['dtype']): Tensor => matched.ge(0).sum(1).to(dtype).clamp(1);

/** The matched ground truth's row of [B, G, C] `values` for each anchor of matched [B, A]: [B, A, C] (background rows take row 0). */
function gatherMatched(values: Tensor, matched: Tensor): Tensor {
  const [B, G] = values.shape;
  const rows = matched.clamp(0).add(arange(0, B, 1, { dtype: 'int64', device: matched.device }).mul(G).unsqueeze(1));
  return values.reshape([B * G, -1]).indexSelect(0, rows.flatten()).reshape([B, matched.shape[1], -1]);
}

/**
 * The classification loss of matched [B, A] anchors: per image, the sigmoid focal loss summed over
 * its anchors and classes (the matched box's class is the positive one; ignored anchors count for
 * nothing), over its foreground count; then the mean over images. One focal-loss call for the
 * batch: each image's rows weighted by 1 / its foreground count, summed, over B.
 */
export function classificationLossBatched(padded: PaddedTargets, clsLogits: Tensor, matched: Tensor, o: RetinaNetLossOptions): Tensor {
  const [B] = checkBatch('classificationLossBatched', padded, matched, [['clsLogits', clsLogits, null]]);
  // the focal loss's index targets: 0 background, c + 1 class c, negative an ignored row
  const background = where(matched.eq(-2), -1, 0).to('int64');
  const classTarget = where(matched.ge(0), gatherMatched(padded.labels.unsqueeze(2), matched).squeeze(2).add(1), background);
  // 1 / count is exact enough in float32 for every logits dtype but float64 (the loss casts the
  // weights to the logits' dtype; under autocast its float32 policy has cast the logits already)
  const weightDtype = clsLogits.dtype === 'float64' ? 'float64' : 'float32';
  const rowWeight = full([B], 1, { dtype: weightDtype, device: matched.device }).div(foregroundCounts(matched, weightDtype)).unsqueeze(1).expand([B, matched.shape[1]]);
  const sum = sigmoidFocalLoss(clsLogits, classTarget, { gamma: o.focalGamma, alpha: o.focalAlpha, reduction: 'sum', weight: rowWeight });
  return sum.div(B);
}

/**
 * The box-regression loss of matched [B, A] anchors: per image, over its foreground anchors, L1 or
 * smooth L1 between the predicted deltas and the matched boxes' encoding (BoxCoder, weights 1), or
 * GIoU between the decoded boxes and the matched boxes, summed, over the foreground count; then
 * the mean over images. Computed for every anchor, the background's deltas replaced by zeros and
 * its terms masked out (`where`: they get no gradient).
 */
export function boxRegressionLossBatched(padded: PaddedTargets, bboxRegression: Tensor, anchors: Tensor, matched: Tensor, boxCoder: BoxCoder, o: RetinaNetLossOptions): Tensor {
  const [B, A] = checkBatch('boxRegressionLossBatched', padded, matched, [['bboxRegression', bboxRegression, 4], ['anchors', anchors, 4]]);
  const foreground = matched.ge(0).reshape([B * A]);
  // the background's deltas are replaced by zeros before they are decoded or compared, not only
  // masked after: an overflow there (float16 deltas times a wide anchor) would send 0 · inf = NaN
  // back through the masked terms
  const pred = where(foreground.unsqueeze(1), bboxRegression.reshape([B * A, 4]), 0), anchorRows = anchors.reshape([B * A, 4]);
  const gt = gatherMatched(padded.boxes, matched).reshape([B * A, 4]).to(pred.dtype);
  let perAnchor: Tensor;
  if (o.boxLoss === 'giou') perAnchor = giouLoss(boxCoder.decodeSingle(pred, anchorRows), gt, { reduction: 'none', eps: 1e-7 });
  else {
    const target = boxCoder.encodeSingle(gt, anchorRows);
    const terms = o.boxLoss === 'l1' ? l1Loss(pred, target, { reduction: 'none' }) : smoothL1Loss(pred, target, { reduction: 'none', beta: o.smoothL1Beta });
    perAnchor = terms.sum(1);
  }
  const perImage = where(foreground, perAnchor, 0).reshape([B, A]).sum(1);
  return perImage.div(foregroundCounts(matched, perImage.dtype)).sum().div(B);
}

/**
 * {@link classificationLossBatched} for per-image targets and matches (as {@link matchAnchors}
 * returns them).
 */
export function classificationLoss(targets: readonly DetectionTarget[], outputs: RetinaNetHeadOutputs, matched: readonly Tensor[], o: RetinaNetLossOptions): Tensor {
  return classificationLossBatched(padTargets(targets), outputs.clsLogits, stack(matched), o);
}

/** {@link boxRegressionLossBatched} for per-image targets, anchors and matches. */
export function boxRegressionLoss(targets: readonly DetectionTarget[], outputs: RetinaNetHeadOutputs, anchors: readonly Tensor[], matched: readonly Tensor[], boxCoder: BoxCoder, o: RetinaNetLossOptions): Tensor {
  return boxRegressionLossBatched(padTargets(targets), outputs.bboxRegression, stack(anchors), stack(matched), boxCoder, o);
}

/** Checks a box-loss name. */
export function checkBoxLoss(op: string, v: unknown): BoxLossType {
  if (v !== 'l1' && v !== 'smoothL1' && v !== 'giou') throw new ValueError(op, 'boxLoss', "'l1', 'smoothL1' or 'giou'", String(v));
  return v;
}
