/**
 * The IoU family of torchvision.ops between two sets of boxes: box_iou, generalized_box_iou,
 * distance_box_iou and complete_box_iou, each an [N, M] matrix for [N, 4] and [M, 4] boxes in
 * (x1, y1, x2, y2) form. Composed of tensor ops: they run on every device and are differentiable
 * (the gradient goes to both box sets), with torchvision's formulas term for term.
 */
import { type Tensor, ShapeError, ValueError, commonDevice, fmtShape, maximum, minimum } from '@kiln/tensor';
import '@kiln/autograd';
import { areaOf, checkBoxList, checkBoxes, coord, upcast } from './box-args.js';

/** The checked, upcast pair of box lists. */
function boxPair(op: string, boxes1: Tensor, boxes2: Tensor): [Tensor, Tensor] {
  commonDevice(op, ['boxes1', 'boxes2'], [boxes1, boxes2]);
  checkBoxList(op, 'boxes1', boxes1);
  checkBoxList(op, 'boxes2', boxes2);
  return [upcast(boxes1), upcast(boxes2)];
}

function checkEps(op: string, eps: number): number {
  if (!Number.isFinite(eps) || eps < 0) throw new ValueError(op, 'eps', 'a finite number >= 0', String(eps));
  return eps;
}

const squared = (t: Tensor): Tensor => t.mul(t);

/**
 * The corners of a box made from every pair, [..., N, M, 2] each for boxes [..., N, 4] and
 * [..., M, 4]: their intersection with (low, high) = (maximum, minimum), the box enclosing both
 * with (minimum, maximum).
 */
function pairCorners(b1: Tensor, b2: Tensor, low: typeof maximum, high: typeof minimum): [Tensor, Tensor] {
  const lt = low(b1.narrow(-1, 0, 2).unsqueeze(-2), b2.narrow(-1, 0, 2).unsqueeze(-3));
  const rb = high(b1.narrow(-1, 2, 2).unsqueeze(-2), b2.narrow(-1, 2, 2).unsqueeze(-3));
  return [lt, rb];
}

/** Area of the boxes with corners lt, rb ([..., N, M, 2]), 0 where they are empty. */
function cornerArea(lt: Tensor, rb: Tensor): Tensor {
  const wh = upcast(rb.sub(lt)).clamp(0);
  return wh.select(-1, 0).mul(wh.select(-1, 1));
}

/** torchvision's _box_inter_union: [..., N, M] intersections and unions. */
function interUnion(b1: Tensor, b2: Tensor): [Tensor, Tensor] {
  const [lt, rb] = pairCorners(b1, b2, maximum, minimum);
  const inter = cornerArea(lt, rb);
  const union = areaOf(b1).unsqueeze(-1).add(areaOf(b2).unsqueeze(-2)).sub(inter);
  return [inter, union];
}

/**
 * Intersection over union of every pair of boxes, [N, M] (`torchvision.ops.box_iou`): with I the
 * intersection's area and U = area1 + area2 - I, `I / U` (NaN for two empty boxes, as torchvision).
 *
 * @example
 * ```ts
 * const a = tensor([[0, 0, 2, 2]]), b = tensor([[1, 1, 3, 3], [4, 4, 5, 5]]);
 * boxIou(a, b).toArray();   // [[0.142857..., 0]]: 1 / (4 + 4 - 1)
 * ```
 */
export function boxIou(boxes1: Tensor, boxes2: Tensor): Tensor {
  const [b1, b2] = boxPair('box_iou', boxes1, boxes2);
  const [inter, union] = interUnion(b1, b2);
  return inter.div(union);
}

/**
 * {@link boxIou} of each batch entry in one pass: boxes1 [B, N, 4] and boxes2 [B, M, 4] give the
 * IoU of every pair within each entry, [B, N, M] (entry b is `boxIou(boxes1[b], boxes2[b])`).
 * Detection losses use it to match the anchors of a whole batch at once, the images' ground truths
 * padded to the same count.
 *
 * @example
 * ```ts
 * const gt = tensor([[[0, 0, 2, 2]], [[4, 4, 5, 5]]]);           // [2, 1, 4]
 * const anchors = tensor([[[1, 1, 3, 3]], [[4, 4, 5, 5]]]);      // [2, 1, 4]
 * batchedBoxIou(gt, anchors).toArray();                          // [[[0.142857...]], [[1]]]
 * ```
 */
export function batchedBoxIou(boxes1: Tensor, boxes2: Tensor): Tensor {
  const op = 'batched_box_iou';
  commonDevice(op, ['boxes1', 'boxes2'], [boxes1, boxes2]);
  checkBoxes(op, 'boxes1', boxes1);
  checkBoxes(op, 'boxes2', boxes2);
  if (boxes1.ndim !== 3) throw new ShapeError(op, 'boxes1', 'boxes [B, N, 4]', fmtShape(boxes1.shape));
  if (boxes2.ndim !== 3 || boxes1.shape[0] !== boxes2.shape[0]) {
    throw new ShapeError(op, 'boxes2', `boxes [B, M, 4] with the B of boxes1 ${fmtShape(boxes1.shape)}`, fmtShape(boxes2.shape));
  }
  const [inter, union] = interUnion(upcast(boxes1), upcast(boxes2));
  return inter.div(union);
}

/**
 * Generalized IoU of every pair, [N, M] (`torchvision.ops.generalized_box_iou`): with C the area
 * of the smallest box enclosing both, `IoU - (C - U) / C`, in [-1, 1].
 *
 * @example
 * ```ts
 * generalizedBoxIou(tensor([[0, 0, 1, 1]]), tensor([[2, 0, 3, 1]])).toArray();   // [[-0.333...]]: 0 - (3 - 2) / 3
 * ```
 */
export function generalizedBoxIou(boxes1: Tensor, boxes2: Tensor): Tensor {
  const [b1, b2] = boxPair('generalized_box_iou', boxes1, boxes2);
  const [inter, union] = interUnion(b1, b2);
  const [lti, rbi] = pairCorners(b1, b2, minimum, maximum);
  const enclosing = cornerArea(lti, rbi);
  return inter.div(union).sub(enclosing.sub(union).div(enclosing));
}

/** torchvision's _box_diou_iou: the distance IoU and the IoU, [N, M] each. */
function diouAndIou(b1: Tensor, b2: Tensor, eps: number): [Tensor, Tensor] {
  const [inter, union] = interUnion(b1, b2);
  const iou = inter.div(union);
  // squared diagonal of the enclosing box, and squared distance between the centers
  const [lti, rbi] = pairCorners(b1, b2, minimum, maximum);
  const whi = upcast(rbi.sub(lti)).clamp(0);
  const diagonal = squared(whi.select(2, 0)).add(squared(whi.select(2, 1))).add(eps);
  const center = (b: Tensor, k: number): Tensor => coord(b, k).add(coord(b, k + 2)).div(2);
  const dx = center(b1, 0).unsqueeze(1).sub(center(b2, 0));
  const dy = center(b1, 1).unsqueeze(1).sub(center(b2, 1));
  const distance = squared(upcast(dx)).add(squared(upcast(dy)));
  return [iou.sub(distance.div(diagonal)), iou];
}

/**
 * Distance IoU of every pair, [N, M] (`torchvision.ops.distance_box_iou`, Zheng et al. 2020):
 * `IoU - d² / (c² + eps)`, d the distance between the boxes' centers and c the diagonal of the
 * smallest box enclosing both.
 *
 * @example
 * ```ts
 * distanceBoxIou(tensor([[0, 0, 2, 2]]), tensor([[0, 0, 2, 2]])).toArray();   // [[1]]
 * ```
 */
export function distanceBoxIou(boxes1: Tensor, boxes2: Tensor, eps = 1e-7): Tensor {
  const [b1, b2] = boxPair('distance_box_iou', boxes1, boxes2);
  return diouAndIou(b1, b2, checkEps('distance_box_iou', eps))[0];
}

/**
 * Complete IoU of every pair, [N, M] (`torchvision.ops.complete_box_iou`, Zheng et al. 2020):
 * `DIoU - α v` with the aspect-ratio term `v = 4/π² (atan(w₁/h₁) - atan(w₂/h₂))²` and
 * `α = v / (1 - IoU + v + eps)`, α held constant for the gradient (as torchvision computes it
 * under no_grad).
 *
 * @example
 * ```ts
 * completeBoxIou(tensor([[0, 0, 2, 2]]), tensor([[0, 0, 4, 2]])).toArray();
 * ```
 */
export function completeBoxIou(boxes1: Tensor, boxes2: Tensor, eps = 1e-7): Tensor {
  const op = 'complete_box_iou';
  const [b1, b2] = boxPair(op, boxes1, boxes2);
  const [diou, iou] = diouAndIou(b1, b2, checkEps(op, eps));
  const aspect = (b: Tensor): Tensor => coord(b, 2).sub(coord(b, 0)).div(coord(b, 3).sub(coord(b, 1))).atan();
  const v = squared(aspect(b1).unsqueeze(1).sub(aspect(b2))).mul(4 / Math.PI ** 2);
  const alpha = v.div(iou.neg().add(1).add(v).add(eps)).detach();
  return diou.sub(alpha.mul(v));
}
