/** Argument checks shared by the box utilities. */
import { type Tensor, DTypeError, ShapeError, fmtShape, isFloating } from '@kiln/tensor';

/** boxes must be [N, 4] (a 2-d list of boxes, torchvision's layout). */
export function checkBoxList(op: string, arg: string, boxes: Tensor): void {
  boxes.assertAlive(op);
  if (boxes.ndim !== 2 || boxes.shape[1] !== 4) throw new ShapeError(op, arg, 'boxes of shape [N, 4]', `shape ${fmtShape(boxes.shape)}`);
  if (boxes.dtype === 'bool') throw new DTypeError(op, arg, 'a numeric tensor', 'bool');
}

/** boxes must end in a dim of 4 ([..., 4]). */
export function checkBoxes(op: string, arg: string, boxes: Tensor): void {
  boxes.assertAlive(op);
  if (boxes.ndim < 1 || boxes.shape[boxes.ndim - 1] !== 4) throw new ShapeError(op, arg, 'boxes of shape [..., 4]', `shape ${fmtShape(boxes.shape)}`);
  if (boxes.dtype === 'bool') throw new DTypeError(op, arg, 'a numeric tensor', 'bool');
}

/**
 * torchvision's _upcast: float16 and bfloat16 compute in float32 (products of coordinates
 * overflow float16 quickly); float32, float64 and the integer types as they are.
 */
export function upcast(t: Tensor): Tensor {
  return isFloating(t.dtype) && t.dtype !== 'float32' && t.dtype !== 'float64' ? t.to('float32') : t;
}

/** Column k of [..., 4] boxes (a view). */
export const coord = (boxes: Tensor, k: number): Tensor => boxes.select(-1, k);

/** `(x2 - x1) * (y2 - y1)` of [..., 4] boxes, unchecked: [...] (box_area's formula, for the IoU family too). */
export const areaOf = (b: Tensor): Tensor => coord(b, 2).sub(coord(b, 0)).mul(coord(b, 3).sub(coord(b, 1)));
