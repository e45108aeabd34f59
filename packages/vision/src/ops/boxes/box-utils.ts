/**
 * Box utilities of torchvision.ops: area, format conversion, clipping to the image and removing
 * small boxes. Composed of tensor ops, so they run on every device and are differentiable where
 * torchvision's are (area, conversion, clipping).
 */
import { type Tensor, ValueError, stack } from '@kiln/tensor';
import { areaOf, checkBoxList, checkBoxes, coord, upcast } from './box-args.js';

/** A box format: corners ('xyxy'), corner and size ('xywh'), or center and size ('cxcywh'). */
export type BoxFormat = 'xyxy' | 'xywh' | 'cxcywh';

/**
 * The areas of [N, 4] boxes in (x1, y1, x2, y2) form: `(x2 - x1) * (y2 - y1)`, shape [N]
 * (`torchvision.ops.box_area`). float16 and bfloat16 boxes compute in float32.
 *
 * @example
 * ```ts
 * boxArea(tensor([[0, 0, 2, 3], [1, 1, 2, 2]])).toArray();   // [6, 1]
 * ```
 */
export function boxArea(boxes: Tensor): Tensor {
  checkBoxList('box_area', 'boxes', boxes);
  return areaOf(upcast(boxes));
}

function checkFormat(arg: string, fmt: string): BoxFormat {
  if (fmt !== 'xyxy' && fmt !== 'xywh' && fmt !== 'cxcywh') throw new ValueError('box_convert', arg, "'xyxy', 'xywh' or 'cxcywh'", JSON.stringify(fmt));
  return fmt;
}

/** [..., 4] boxes of `fmt` as (x1, y1, x2, y2). */
function toXyxy(b: Tensor, fmt: BoxFormat): Tensor {
  const [p, q, r, s] = [0, 1, 2, 3].map((k) => coord(b, k)) as [Tensor, Tensor, Tensor, Tensor];
  if (fmt === 'xywh') return stack([p, q, p.add(r), q.add(s)], -1);
  // cxcywh: the corners are the center -+ half the size
  const hw = r.mul(0.5), hh = s.mul(0.5);
  return stack([p.sub(hw), q.sub(hh), p.add(hw), q.add(hh)], -1);
}

/** [..., 4] boxes (x1, y1, x2, y2) in `fmt`. */
function fromXyxy(b: Tensor, fmt: BoxFormat): Tensor {
  const [x1, y1, x2, y2] = [0, 1, 2, 3].map((k) => coord(b, k)) as [Tensor, Tensor, Tensor, Tensor];
  const w = x2.sub(x1), h = y2.sub(y1);
  if (fmt === 'xywh') return stack([x1, y1, w, h], -1);
  return stack([x1.add(x2).div(2), y1.add(y2).div(2), w, h], -1);
}

/**
 * Converts [..., 4] boxes from one format to another (`torchvision.ops.box_convert`): 'xyxy'
 * (x1, y1, x2, y2), 'xywh' (x1, y1, width, height) or 'cxcywh' (center x, center y, width,
 * height). Always a new tensor (a copy when the formats are equal).
 *
 * @example
 * ```ts
 * boxConvert(tensor([[10, 20, 4, 6]]), 'cxcywh', 'xyxy').toArray();   // [[8, 17, 12, 23]]
 * ```
 */
export function boxConvert(boxes: Tensor, inFmt: BoxFormat, outFmt: BoxFormat): Tensor {
  checkBoxes('box_convert', 'boxes', boxes);
  const from = checkFormat('inFmt', inFmt), to = checkFormat('outFmt', outFmt);
  if (from === to) return boxes.clone();
  if (from === 'xyxy') return fromXyxy(boxes, to);
  if (to === 'xyxy') return toXyxy(boxes, from);
  const xyxy = toXyxy(boxes, from);
  const out = fromXyxy(xyxy, to);
  xyxy.dispose();
  return out;
}

/**
 * Clamps [..., 4] boxes (x1, y1, x2, y2) into an image of `size` = [height, width]: x into
 * [0, width], y into [0, height] (`torchvision.ops.clip_boxes_to_image`).
 *
 * @example
 * ```ts
 * clipBoxesToImage(tensor([[-5, 2, 30, 12]]), [10, 20]).toArray();   // [[0, 2, 20, 10]]
 * ```
 */
export function clipBoxesToImage(boxes: Tensor, size: readonly [number, number]): Tensor {
  const op = 'clip_boxes_to_image';
  checkBoxes(op, 'boxes', boxes);
  if (!Array.isArray(size) || size.length !== 2 || !size.every((s) => Number.isFinite(s) && s >= 0)) {
    throw new ValueError(op, 'size', '[height, width], two non-negative numbers', JSON.stringify(size));
  }
  const [height, width] = size;
  const limit = [width, height, width, height];
  return stack([0, 1, 2, 3].map((k) => coord(boxes, k).clamp(0, limit[k])), -1);
}

/**
 * The int64 indices of the [N, 4] boxes (x1, y1, x2, y2) whose width and height are both at least
 * `minSize`, ascending (`torchvision.ops.remove_small_boxes`). Reads the count back (one
 * synchronisation on CUDA).
 *
 * @example
 * ```ts
 * removeSmallBoxes(tensor([[0, 0, 1, 5], [0, 0, 4, 4]]), 2).toArray();   // [1]
 * ```
 */
export function removeSmallBoxes(boxes: Tensor, minSize: number): Tensor {
  const op = 'remove_small_boxes';
  checkBoxList(op, 'boxes', boxes);
  if (!Number.isFinite(minSize)) throw new ValueError(op, 'minSize', 'a finite number', String(minSize));
  const ws = coord(boxes, 2).sub(coord(boxes, 0)), hs = coord(boxes, 3).sub(coord(boxes, 1));
  const keep = ws.ge(minSize).logicalAnd(hs.ge(minSize));
  const index = keep.nonzero().reshape([-1]);
  for (const t of [ws, hs, keep]) t.dispose();
  return index;
}
