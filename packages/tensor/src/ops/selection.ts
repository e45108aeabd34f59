/**
 * Selections whose output size depends on the values: nonzero, maskedSelect (torch.nonzero,
 * torch.masked_select) and the gradient of maskedSelect.
 *
 * The kernels (native/include/kiln/math/mask.h) first number the selected elements: an int64
 * running count per element (`mask_positions`: a parallel scan on both devices). The op reads the
 * last count back once, one 8-byte device-to-host read that waits for the queued work (on CUDA,
 * as PyTorch's nonzero does), allocates the output, and a second kernel moves each selected
 * element to its slot. Elements are selected in row-major order.
 */
import { checkOptionKeys } from '../check.js';
import { DTypeError, ShapeError } from '../errors.js';
import { commonDevice, declareOp, empty, launchKernel, recordOp } from '../dispatch.js';
import { broadcastShapes, fmtShape, sameShape, type Shape } from '../shape.js';
import { Tensor } from '../tensor.js';
import { broadcastView } from './views.js';
import { item } from './convert.js';

const maskedSelectOp = declareOp('masked_select', ['input', 'mask']);
const maskedSelectBackwardOp = declareOp('masked_select_backward', ['grad', 'mask']);

/** Running counts of the nonzero elements of `mask` (int64, one per element, row-major). */
export interface Numbered {
  /** positions[p] = the number of selected elements up to and including p. */
  positions: Tensor;
  /** The number of selected elements. */
  count: number;
}

/**
 * @internal Numbers the nonzero elements of `mask` (any dtype and strides); reads the count back
 * unless the caller knows it (`knownCount`).
 */
export function numberSelected(mask: Tensor, knownCount?: number): Numbered {
  const positions = empty([mask.numel], 'int64', mask.device);
  if (mask.numel === 0) return { positions, count: 0 };
  launchKernel('mask_positions', [mask], [positions]);
  if (knownCount !== undefined) return { positions, count: knownCount };
  const last = positions.select(0, mask.numel - 1);
  try {
    return { positions, count: item<'int64'>(last) };
  } catch (e) {
    positions.dispose();
    throw e;
  } finally {
    last.dispose();
  }
}

/** Runs f(); disposes the tensors afterwards, also when it throws. */
function disposingAfter<T>(tensors: readonly Tensor[], f: () => T): T {
  try {
    return f();
  } finally {
    for (const t of tensors) t.dispose();
  }
}

/** Options of {@link nonzero}. */
export interface NonzeroOptions {
  /** Return one int64 tensor of indices per dimension instead of one [n, ndim] tensor. */
  asTuple?: boolean;
}

/**
 * The indices of the nonzero elements of `input` (NaN counts as nonzero), in row-major order, as
 * `torch.nonzero`: an int64 tensor of shape [n, ndim], or with `asTuple: true` one int64 tensor
 * of n indices per dimension (a 0-d input counts as 1-d there). On CUDA the count is read back
 * once (one synchronisation).
 *
 * @example
 * ```ts
 * const x = tensor([[0, 1.5], [2, 0]]);
 * nonzero(x).toArray();                    // [[0, 1], [1, 0]]
 * nonzero(x, { asTuple: true })[1].toArray();   // [1, 0]
 * ```
 */
export function nonzero(x: Tensor, options?: { asTuple?: false }): Tensor;
export function nonzero(x: Tensor, options: { asTuple: true }): Tensor[];
export function nonzero(x: Tensor, options?: NonzeroOptions): Tensor | Tensor[];
export function nonzero(x: Tensor, options: NonzeroOptions = {}): Tensor | Tensor[] {
  commonDevice('nonzero', ['input'], [x]);
  checkOptionKeys('nonzero', options, { asTuple: true });
  const { positions, count } = numberSelected(x);
  const out = disposingAfter([positions], () => {
    const r = empty([count, x.ndim], 'int64', x.device);
    if (count > 0 && x.ndim > 0) launchKernel('nonzero', [x, positions], [r]);
    return r;
  });
  if (!options.asTuple) return out;
  if (x.ndim === 0) {
    out.dispose();
    return [empty([count], 'int64', x.device).fill_(0)];
  }
  return disposingAfter([out], () => Array.from({ length: x.ndim }, (_, d) => out.select(1, d).contiguous()));
}

/**
 * The elements of `input` where the bool `mask` is true, as a 1-d tensor in row-major order
 * (`torch.masked_select`). `input` and `mask` broadcast together. Differentiable in `input`. On
 * CUDA the count is read back once (one synchronisation).
 *
 * @example
 * ```ts
 * const scores = tensor([0.9, 0.2, 0.6]);
 * maskedSelect(scores, scores.gt(0.5)).toArray();   // [0.9, 0.6]
 * ```
 */
export function maskedSelect(x: Tensor, mask: Tensor): Tensor {
  const op = 'masked_select';
  const dev = commonDevice(op, ['input', 'mask'], [x, mask]);
  if (mask.dtype !== 'bool') throw new DTypeError(op, 'mask', 'a bool tensor', mask.dtype);
  const shape = broadcastShapes(op, x.shape, mask.shape);
  const xb = broadcastView(x, shape), mb = broadcastView(mask, shape);
  const out = disposingAfter([xb, mb], () => {
    const { positions, count } = numberSelected(mb);
    return disposingAfter([positions], () => {
      const r = empty([count], x.dtype, dev);
      if (count > 0) launchKernel(op, [xb, mb, positions], [r]);
      return r;
    });
  });
  return recordOp(maskedSelectOp, [x, mask], [out], { shape });
}

/**
 * The gradient of {@link maskedSelect}: a tensor of `shape` (the broadcast shape of the input and
 * mask) holding `grad`'s values, in row-major order, where `mask` is true, and zeros elsewhere.
 * Its own gradient is maskedSelect of the upstream gradient.
 *
 * @example
 * ```ts
 * const mask = tensor([true, false, true]);
 * maskedSelectBackward(tensor([1, 2]), mask, [3]).toArray();   // [1, 0, 2]
 * ```
 */
export function maskedSelectBackward(grad: Tensor, mask: Tensor, shape: Shape): Tensor {
  const op = 'masked_select_backward';
  const dev = commonDevice(op, ['grad', 'mask'], [grad, mask]);
  if (mask.dtype !== 'bool') throw new DTypeError(op, 'mask', 'a bool tensor', mask.dtype);
  const mb = broadcastView(mask, broadcastShapes(op, mask.shape, shape));
  const out = disposingAfter([mb], () => {
    if (!sameShape(mb.shape, shape)) throw new ShapeError(op, 'shape', `a shape the mask ${fmtShape(mask.shape)} broadcasts to`, fmtShape(shape));
    const { positions } = numberSelected(mb, grad.numel);
    return disposingAfter([positions], () => {
      const r = empty(shape, grad.dtype, dev);
      if (r.numel > 0) launchKernel(op, [grad.ndim === 1 ? grad : grad.reshape([-1]), mb, positions], [r]);
      return r;
    });
  });
  return recordOp(maskedSelectBackwardOp, [grad, mask], [out], { shape: [...shape] });
}

declare module '../tensor.js' {
  interface Tensor {
    /** Indices of the nonzero elements. See {@link nonzero}. */
    nonzero(options?: { asTuple?: false }): Tensor;
    /** The elements where mask is true, as a 1-d tensor. See {@link maskedSelect}. */
    maskedSelect(mask: Tensor): Tensor;
  }
}

Tensor.prototype.nonzero = function (options) { return nonzero(this, options); };
Tensor.prototype.maskedSelect = function (mask) { return maskedSelect(this, mask); };
