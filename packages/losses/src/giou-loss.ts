/**
 * The generalized IoU loss of two sets of boxes (Rezatofighi et al., 2019), as torchvision's
 * `ops.generalized_box_iou_loss`, composed of the tensor core's differentiable ops.
 */
import { type DType, type Tensor, ShapeError, checkOptionKeys, commonDevice, fmtShape, maximum, minimum, where } from '@kiln/tensor';
import { checkAvgFactor, checkReduction, type Reduction } from './reduction.js';
import { broadcastWeight, broadcastsInto, castTo, checkFloating, checkNumber, checkShape, computeDType } from './loss-args.js';
import { reduceLoss } from './weighted-reduce.js';

const OP = 'giou_loss';

/** Options of {@link giouLoss}. */
export interface GiouLossOptions {
  /** 'none' (default, as torchvision): one loss per box pair; 'sum'; 'mean': sum / number of pairs (0 for none). */
  reduction?: Reduction;
  /** Added to the union and to the enclosing box's area before dividing (default 1e-7). */
  eps?: number;
  /**
   * Weight of each box pair, broadcastable to the loss's shape [N]; or, with the boxes' number of
   * dimensions, broadcastable to their shape [N, 4] and averaged over the four coordinates (as
   * mmdetection's GIoULoss), so the [N, 1] or [N, 4] weights of {@link smoothL1Loss} and
   * {@link l1Loss} on the same boxes fit here too.
   */
  weight?: Tensor;
  /** Replaces the mean's divisor (mmdetection's avg_factor). */
  avgFactor?: number;
}

/** Checks the options that need no tensor (reduction, avgFactor, eps), naming `op` in the errors. */
export function checkGiouLossOptions(op: string, options: GiouLossOptions): { reduction: Reduction; avgFactor?: number; eps: number } {
  checkOptionKeys(op, options, { reduction: true, eps: true, weight: true, avgFactor: true });
  const reduction = checkReduction(op, options.reduction ?? 'none');
  const avgFactor = checkAvgFactor(op, options.avgFactor, reduction);
  const eps = checkNumber(op, 'eps', options.eps ?? 1e-7, (e) => Number.isFinite(e) && e >= 0, 'a finite number >= 0');
  return { reduction, avgFactor, eps };
}

/**
 * `1 - GIoU` for each pair of boxes `boxes1[i]`, `boxes2[i]`, given as [N, 4] (or [..., 4])
 * corners (x1, y1, x2, y2) with x1 <= x2 and y1 <= y2 (not checked: it would need a device read).
 * With I the intersection's area (0 when the boxes do not overlap), U = area1 + area2 - I and C the
 * area of the smallest box enclosing both:
 *
 *   loss = 1 - I / (U + eps) + (C - U) / (C + eps)          in [0, 2)
 *
 * The gradient goes to both box sets. Ties in the min/max of the corners split the gradient in
 * half, as PyTorch's minimum/maximum do (torchvision's own gradient).
 *
 * @example
 * ```ts
 * const loss = giouLoss(predBoxes, targetBoxes, { reduction: 'mean' });
 * ```
 */
export function giouLoss(boxes1: Tensor, boxes2: Tensor, options: GiouLossOptions = {}): Tensor {
  const { reduction, avgFactor, eps } = checkGiouLossOptions(OP, options);
  commonDevice(OP, ['boxes1', 'boxes2', 'weight'], [boxes1, boxes2, options.weight]);
  checkFloating(OP, 'boxes1', boxes1);
  checkFloating(OP, 'boxes2', boxes2);
  if (boxes1.ndim < 1 || boxes1.shape[boxes1.ndim - 1] !== 4) {
    throw new ShapeError(OP, 'boxes1', 'boxes of shape [N, 4] (or [..., 4]): x1, y1, x2, y2', fmtShape(boxes1.shape));
  }
  checkShape(OP, 'boxes2', boxes2, boxes1.shape, "boxes1's shape");
  const dtype = computeDType(boxes1.dtype);
  const weight = options.weight && pairWeight(options.weight, boxes1.shape, dtype);

  const [x1, y1, x2, y2] = castTo(boxes1, dtype).unbind(-1, 4);
  const [u1, v1, u2, v2] = castTo(boxes2, dtype).unbind(-1, 4);
  const area1 = x2.sub(x1).mul(y2.sub(y1));
  const area2 = u2.sub(u1).mul(v2.sub(v1));
  // intersection: the overlap of the two boxes, 0 where they do not overlap
  const iw = minimum(x2, u2).sub(maximum(x1, u1));
  const ih = minimum(y2, v2).sub(maximum(y1, v1));
  const inter = where(iw.gt(0).logicalAnd(ih.gt(0)), iw.mul(ih), 0);
  const union = area1.add(area2).sub(inter);
  // the smallest box enclosing both
  const enclosing = maximum(x2, u2).sub(minimum(x1, u1)).mul(maximum(y2, v2).sub(minimum(y1, v1)));
  const iou = inter.div(union.add(eps));
  let loss = iou.neg().add(1).add(enclosing.sub(union).div(enclosing.add(eps)));
  if (weight) loss = loss.mul(weight);
  return castTo(reduceLoss(loss, reduction, loss.numel, avgFactor), boxes1.dtype);
}

/** One weight per box pair from a per-pair weight ([N]) or a per-coordinate one ([N, 1], [N, 4]). */
function pairWeight(w: Tensor, boxesShape: readonly number[], dtype: DType): Tensor {
  const lossShape = boxesShape.slice(0, -1);
  if (w.ndim < boxesShape.length) return broadcastWeight(OP, 'weight', w, lossShape, dtype);
  checkFloating(OP, 'weight', w);
  if (!broadcastsInto(w.shape, boxesShape)) {
    throw new ShapeError(OP, 'weight', `per-pair weights broadcastable to ${fmtShape(lossShape)} or per-coordinate weights broadcastable to the boxes' shape ${fmtShape(boxesShape)}`,
      fmtShape(w.shape));
  }
  const perPair = w.shape[w.ndim - 1] === 1 ? w.squeeze(-1) : w.mean(-1);
  return castTo(perPair, dtype);
}
