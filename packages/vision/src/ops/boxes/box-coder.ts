/**
 * BoxCoder: torchvision's detection box coder (torchvision.models.detection._utils.BoxCoder),
 * which turns boxes into regression targets relative to reference boxes (anchors, proposals) and
 * back, the R-CNN parametrisation with per-coordinate weights.
 */
import { ShapeError, Tensor, ValueError, cat, commonDevice, describeValue, fmtShape, stack } from '@kiln/tensor';
import { checkBoxList, coord } from './box-args.js';

/** Widths, heights and centers of [N, 4] boxes (x1, y1, x2, y2), each [N]. */
function geometry(b: Tensor) {
  const width = coord(b, 2).sub(coord(b, 0)), height = coord(b, 3).sub(coord(b, 1));
  return { width, height, cx: coord(b, 0).add(width.mul(0.5)), cy: coord(b, 1).add(height.mul(0.5)) };
}

/**
 * Encodes boxes as offsets from reference boxes and decodes them back, with weights
 * (wx, wy, ww, wh). For a box (center x, y, size w, h) against a reference (xa, ya, wa, ha):
 *
 *   dx = wx (x - xa) / wa,   dy = wy (y - ya) / ha,   dw = ww log(w / wa),   dh = wh log(h / ha)
 *
 * Decoding inverts it, clamping dw / ww and dh / wh at `bboxXformClip` (default log(1000 / 16),
 * torchvision's) before the exponential, so no predicted box is more than 1000/16 times its
 * reference. Differentiable in the codes and the boxes.
 *
 * @example
 * ```ts
 * const coder = new BoxCoder([10, 10, 5, 5]);     // Faster R-CNN's RoI-head weights
 * const anchors = tensor([[0, 0, 10, 10]], { dtype: 'float32' }), gt = tensor([[1, 2, 11, 14]], { dtype: 'float32' });
 * const codes = coder.encodeSingle(gt, anchors);  // [[1, 2.5, 0, 0.9116]]
 * coder.decodeSingle(codes, anchors);             // [[1, 2, 11, 14]]
 * ```
 */
export class BoxCoder {
  /** The weights (wx, wy, ww, wh). */
  readonly weights: readonly [number, number, number, number];
  /** The largest dw / ww and dh / wh that decoding exponentiates. */
  readonly bboxXformClip: number;

  constructor(weights: readonly [number, number, number, number], bboxXformClip = Math.log(1000 / 16)) {
    if (!Array.isArray(weights) || weights.length !== 4 || !weights.every((w) => Number.isFinite(w) && w !== 0)) {
      throw new ValueError('BoxCoder', 'weights', 'four finite, nonzero numbers (wx, wy, ww, wh)', JSON.stringify(weights));
    }
    if (typeof bboxXformClip !== 'number' || Number.isNaN(bboxXformClip)) throw new ValueError('BoxCoder', 'bboxXformClip', 'a number', String(bboxXformClip));
    this.weights = [...weights] as unknown as readonly [number, number, number, number];
    this.bboxXformClip = bboxXformClip;
  }

  /**
   * The [N, 4] regression targets of [N, 4] boxes `referenceBoxes` (the boxes to reach, e.g. the
   * ground truth matched to each proposal) relative to [N, 4] `proposals`.
   */
  encodeSingle(referenceBoxes: Tensor, proposals: Tensor): Tensor {
    const op = 'BoxCoder.encodeSingle';
    commonDevice(op, ['referenceBoxes', 'proposals'], [referenceBoxes, proposals]);
    checkBoxList(op, 'referenceBoxes', referenceBoxes);
    checkBoxList(op, 'proposals', proposals);
    if (proposals.shape[0] !== referenceBoxes.shape[0]) {
      throw new ShapeError(op, 'proposals', `${referenceBoxes.shape[0]} boxes (one per reference box)`, fmtShape(proposals.shape));
    }
    const [wx, wy, ww, wh] = this.weights;
    const ex = geometry(proposals.to(referenceBoxes.dtype)), gt = geometry(referenceBoxes);
    // torchvision's order of operations: w * (difference) / size
    const dx = gt.cx.sub(ex.cx).mul(wx).div(ex.width);
    const dy = gt.cy.sub(ex.cy).mul(wy).div(ex.height);
    const dw = gt.width.div(ex.width).log().mul(ww);
    const dh = gt.height.div(ex.height).log().mul(wh);
    return stack([dx, dy, dw, dh], 1);
  }

  /** {@link encodeSingle} over per-image lists of boxes: one [Ni, 4] tensor of targets per image. */
  encode(referenceBoxes: readonly Tensor[], proposals: readonly Tensor[]): Tensor[] {
    if (referenceBoxes.length !== proposals.length) {
      throw new ValueError('BoxCoder.encode', 'proposals', `${referenceBoxes.length} tensors (one per image, as referenceBoxes)`, `${proposals.length}`);
    }
    if (referenceBoxes.length === 0) return [];
    const targets = this.encodeSingle(cat(referenceBoxes, 0), cat(proposals, 0));
    return targets.split(referenceBoxes.map((b) => b.shape[0]), 0);
  }

  /**
   * Boxes [N, K * 4] (x1, y1, x2, y2 for each of K sets of codes, e.g. one per class) from codes
   * `relCodes` [N, K * 4] relative to [N, 4] reference `boxes`.
   */
  decodeSingle(relCodes: Tensor, boxes: Tensor): Tensor {
    const op = 'BoxCoder.decodeSingle';
    commonDevice(op, ['relCodes', 'boxes'], [relCodes, boxes]);
    checkBoxList(op, 'boxes', boxes);
    if (relCodes.ndim !== 2 || relCodes.shape[1] % 4 !== 0 || relCodes.shape[0] !== boxes.shape[0]) {
      throw new ShapeError(op, 'relCodes', `codes of shape [${boxes.shape[0]}, K * 4] (one row per box)`, fmtShape(relCodes.shape));
    }
    const [wx, wy, ww, wh] = this.weights;
    const a = geometry(boxes.to(relCodes.dtype));
    const codes = (k: number): Tensor => relCodes.slice(1, k, undefined, 4);
    const dx = codes(0).div(wx), dy = codes(1).div(wy);
    // no exp of a huge value: exp(bboxXformClip) = 1000 / 16 at most
    const dw = codes(2).div(ww).clamp(undefined, this.bboxXformClip), dh = codes(3).div(wh).clamp(undefined, this.bboxXformClip);
    const w = a.width.unsqueeze(1), h = a.height.unsqueeze(1);
    const cx = dx.mul(w).add(a.cx.unsqueeze(1)), cy = dy.mul(h).add(a.cy.unsqueeze(1));
    const halfW = dw.exp().mul(w).mul(0.5), halfH = dh.exp().mul(h).mul(0.5);
    return stack([cx.sub(halfW), cy.sub(halfH), cx.add(halfW), cy.add(halfH)], 2).flatten(1);
  }

  /**
   * {@link decodeSingle} over per-image lists of reference boxes: codes [sum Ni, K * 4] (or any
   * shape with that many elements) give boxes [sum Ni, K, 4].
   */
  decode(relCodes: Tensor, boxes: readonly Tensor[]): Tensor {
    const given: unknown = boxes;   // a caller without types may pass anything
    if (!Array.isArray(given)) throw new ValueError('BoxCoder.decode', 'boxes', 'a list of [Ni, 4] tensors, one per image', describeValue(given));
    given.forEach((b: unknown, i) => {
      if (!(b instanceof Tensor)) throw new ValueError('BoxCoder.decode', `boxes[${i}]`, 'a Tensor', describeValue(b));
    });
    const total = boxes.reduce((n, b) => n + (b.shape[0] ?? 0), 0);
    const concat = boxes.length === 1 ? boxes[0] : cat(boxes, 0);
    const codes = total > 0 ? relCodes.reshape([total, -1]) : relCodes;
    const pred = this.decodeSingle(codes, concat);
    return total > 0 ? pred.reshape([total, -1, 4]) : pred;
  }
}
