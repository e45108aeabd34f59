/**
 * Non-maximum suppression (torchvision.ops.nms, batched_nms). The native kernels (nms_cpu.cc,
 * nms_cuda.cu, shared test in nms.h) mark which boxes survive, in score order; the score order
 * comes from the core's stable argsort and the kept indices from maskedSelect, so each call reads
 * one count back from the device (one synchronisation on CUDA) and nothing per box.
 */
import { type Tensor, DTypeError, ShapeError, ValueError, argsort, commonDevice, emptyOn, fmtShape, isFloating, launchKernel, maskedSelect } from '@kiln/tensor';

function checkNmsArgs(op: string, boxes: Tensor, scores: Tensor, iouThreshold: number): void {
  if (boxes.ndim !== 2 || boxes.shape[1] !== 4) throw new ShapeError(op, 'boxes', 'boxes of shape [N, 4] (x1, y1, x2, y2)', `shape ${fmtShape(boxes.shape)}`);
  if (!isFloating(boxes.dtype)) throw new DTypeError(op, 'boxes', 'a floating-point tensor', boxes.dtype);
  if (scores.ndim !== 1 || scores.shape[0] !== boxes.shape[0]) {
    throw new ShapeError(op, 'scores', `one score per box (shape [${boxes.shape[0]}])`, `shape ${fmtShape(scores.shape)}`);
  }
  if (scores.dtype !== boxes.dtype) throw new DTypeError(op, 'scores', `the boxes' dtype (${boxes.dtype})`, scores.dtype);
  if (typeof iouThreshold !== 'number' || Number.isNaN(iouThreshold)) throw new ValueError(op, 'iouThreshold', 'a number', String(iouThreshold));
}

/** The kept indices, by decreasing score: the kernel's keep flags applied to the score order. */
function runNms(boxes: Tensor, scores: Tensor, idxs: Tensor | null, iouThreshold: number): Tensor {
  const dev = boxes.device;
  const n = boxes.shape[0];
  if (n === 0) return emptyOn([0], 'int64', dev);
  const order = argsort(scores, 0, { descending: true, stable: true });
  const keep = emptyOn([n], 'bool', dev);
  try {
    launchKernel('nms', idxs ? [boxes, order, idxs] : [boxes, order], [keep], [iouThreshold]);
    return maskedSelect(order, keep);
  } finally {
    order.dispose();
    keep.dispose();
  }
}

/**
 * Non-maximum suppression (`torchvision.ops.nms`): the int64 indices of the boxes kept, by
 * decreasing score. Boxes are [N, 4] corners (x1, y1, x2, y2), scores [N] of the same dtype. Going
 * down the scores, a box is kept unless a box kept before it overlaps it with IoU >
 * `iouThreshold`. Equal scores go by increasing index (the sort is stable, on every device; so
 * do torchvision's CPU and CUDA kernels in practice, through PyTorch's sorts). Boxes with no area
 * never suppress each other (their IoU is 0 / 0). Not differentiable.
 *
 * @example
 * ```ts
 * const boxes = tensor([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], { dtype: 'float32' });
 * nms(boxes, tensor([0.9, 0.8, 0.7]), 0.5).toArray();   // [0, 2]: box 1 overlaps box 0 by 0.68
 * ```
 */
export function nms(boxes: Tensor, scores: Tensor, iouThreshold: number): Tensor {
  const op = 'nms';
  commonDevice(op, ['boxes', 'scores'], [boxes, scores]);
  checkNmsArgs(op, boxes, scores, iouThreshold);
  return runNms(boxes, scores, null, iouThreshold);
}

/**
 * NMS of each category separately (`torchvision.ops.batched_nms`): boxes with different `idxs`
 * (int32 or int64 [N]: a class, an image, ...) never suppress each other. Returns the kept indices
 * by decreasing score, as torchvision.
 *
 * torchvision gets this from plain NMS by shifting each category's boxes apart (the coordinate
 * trick: + idx × (max coordinate + 1)), or, for large inputs, by a loop over categories on the
 * host. Kiln's kernels compare categories themselves instead: the result is that of NMS on each
 * category alone, with no shifted coordinates (which lose float precision: 80 categories of
 * 1000-pixel images shift to 8e4, where float32's spacing is 0.008) and no per-category
 * synchronisation. The CPU kernel suppresses within each category (work: the sum of the squared
 * category sizes); the CUDA kernel's overlap mask skips pairs of different categories.
 *
 * @example
 * ```ts
 * const boxes = tensor([[0, 0, 10, 10], [1, 1, 11, 11], [1, 1, 11, 11]], { dtype: 'float32' });
 * const scores = tensor([0.9, 0.8, 0.7]);
 * batchedNms(boxes, scores, tensor([0, 0, 1]), 0.5).toArray();   // [0, 2]
 * ```
 */
export function batchedNms(boxes: Tensor, scores: Tensor, idxs: Tensor, iouThreshold: number): Tensor {
  const op = 'batched_nms';
  commonDevice(op, ['boxes', 'scores', 'idxs'], [boxes, scores, idxs]);
  checkNmsArgs(op, boxes, scores, iouThreshold);
  if (idxs.dtype !== 'int32' && idxs.dtype !== 'int64') throw new DTypeError(op, 'idxs', 'an int32 or int64 tensor', idxs.dtype);
  if (idxs.ndim !== 1 || idxs.shape[0] !== boxes.shape[0]) {
    throw new ShapeError(op, 'idxs', `one category per box (shape [${boxes.shape[0]}])`, `shape ${fmtShape(idxs.shape)}`);
  }
  return runNms(boxes, scores, idxs, iouThreshold);
}
