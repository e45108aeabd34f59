/**
 * `pad` (PyTorch's `torch.nn.functional.pad`): widens the last dims of a tensor by a constant, by
 * reflection, by repeating the edge or circularly. Composed of differentiable ops (cat, narrow,
 * indexSelect), so it runs on every device and autograd differentiates it.
 */
import { ValueError } from '../errors.js';
import { checkOptionKeys, describeValue } from '../check.js';
import { Tensor } from '../tensor.js';
import { tensor, full } from './creation.js';
import { cat } from './join.js';
import { indexSelect } from './indexing.js';
import { narrow } from './views.js';
import { tidy } from '../scope.js';
import { needsRecording } from '../dispatch.js';

/** How {@link pad} fills the new elements. */
export type PadMode = 'constant' | 'reflect' | 'replicate' | 'circular';

/** Options of {@link pad}. */
export interface PadOptions {
  /** 'constant' (default), 'reflect' (mirrored, the edge not repeated), 'replicate' (the edge repeated), 'circular' (wrapped around). */
  mode?: PadMode;
  /** The value of 'constant' padding (default 0). */
  value?: number;
}

/**
 * Where element i of a dim padded by `before` comes from in a dim of `size` (i in [-before, size + after)).
 *   reflect:   -1 → 1, size → size - 2 (mirrored about the edge element)
 *   replicate: clamped into [0, size - 1]
 *   circular:  i mod size
 */
function sourceIndex(mode: Exclude<PadMode, 'constant'>, i: number, size: number): number {
  if (mode === 'replicate') return Math.min(Math.max(i, 0), size - 1);
  if (mode === 'circular') return ((i % size) + size) % size;
  return i < 0 ? -i : i >= size ? 2 * (size - 1) - i : i;
}

/**
 * `x` with its last dims padded: `padding` lists (before, after) pairs from the last dim backwards,
 * as PyTorch's (`[left, right]` pads the last dim, `[left, right, top, bottom]` the last two).
 * Constant padding may be negative (it crops); reflect needs padding below the dim's size,
 * circular at most the size, replicate a non-empty dim. Differentiable.
 *
 * @example
 * ```ts
 * const x = arange(0, 3, 1, { dtype: 'float32' });                 // [0, 1, 2]
 * pad(x, [2, 1]).toArray();                                         // [0, 0, 0, 1, 2, 0]
 * pad(x, [2, 1], { mode: 'reflect' }).toArray();                    // [2, 1, 0, 1, 2, 1]
 * pad(x.reshape([1, 1, 3]), [1, 1], { mode: 'replicate' }).shape;   // [1, 1, 5]
 * ```
 */
export function pad(x: Tensor, padding: readonly number[], options: PadOptions = {}): Tensor {
  const op = 'pad';
  x.assertAlive(op);
  checkOptionKeys(op, options, { mode: true, value: true });
  const mode = options.mode ?? 'constant';
  if (!['constant', 'reflect', 'replicate', 'circular'].includes(mode)) {
    throw new ValueError(op, 'mode', "'constant', 'reflect', 'replicate' or 'circular'", describeValue(mode));
  }
  const value = options.value ?? 0;
  if (typeof value !== 'number') throw new ValueError(op, 'value', 'a number', describeValue(value));
  if (mode !== 'constant' && options.value !== undefined) throw new ValueError(op, 'value', `no value with mode '${mode}' (only constant padding has one)`, String(value));
  const given: unknown = padding;   // (typed as numbers; a caller's JS may pass anything)
  if (!Array.isArray(given) || given.length % 2 !== 0 || given.length / 2 > x.ndim || !given.every((p) => Number.isSafeInteger(p))) {
    throw new ValueError(op, 'padding', `(before, after) integer pairs for at most the ${x.ndim} dims, from the last backwards`, describeValue(padding));
  }
  const build = (): Tensor => {
    let y = x;
    for (let k = 0; k < padding.length / 2; k++) {
      const dim = x.ndim - 1 - k, before = padding[2 * k], after = padding[2 * k + 1], size = x.shape[dim];
      if (before === 0 && after === 0) continue;
      y = mode === 'constant' ? padConstant(y, dim, before, after, value) : padByIndex(y, dim, before, after, mode, size);
    }
    // a tensor of its own, also when nothing is padded or it is only cropped (as PyTorch's)
    return y.storage === x.storage ? y.clone() : y;
  };
  // the intermediates are freed at once, unless a graph is recorded (it may keep them for backward:
  // the enclosing scope frees them then)
  return needsRecording([x]) ? build() : tidy(build);
}

/** Constant padding of one dim; negative amounts crop. */
function padConstant(y: Tensor, dim: number, before: number, after: number, value: number): Tensor {
  const size = y.shape[dim];
  if (size + Math.min(before, 0) + Math.min(after, 0) < 0) {
    throw new ValueError('pad', 'padding', `crops of at most the dim's size ${size} (dim ${dim})`, `${before}, ${after}`);
  }
  let t = narrow(y, dim, Math.max(-before, 0), size + Math.min(before, 0) + Math.min(after, 0));
  const block = (n: number) => full(t.shape.map((s, d) => (d === dim ? n : s)), value, { dtype: t.dtype, device: t.device });
  if (before > 0 || after > 0) t = cat([...(before > 0 ? [block(before)] : []), t, ...(after > 0 ? [block(after)] : [])], dim);
  return t;
}

/** Reflect / replicate / circular padding of one dim: a gather of the source indices. */
function padByIndex(y: Tensor, dim: number, before: number, after: number, mode: Exclude<PadMode, 'constant'>, size: number): Tensor {
  const limit = mode === 'reflect' ? size - 1 : mode === 'circular' ? size : Infinity;
  if (before < 0 || after < 0 || before > limit || after > limit || size === 0) {
    const expected = mode === 'reflect' ? `amounts in [0, ${size - 1}] (below the dim's size ${size})` : mode === 'circular' ? `amounts in [0, ${size}] (the dim's size)` : 'amounts >= 0 of a non-empty dim';
    throw new ValueError('pad', 'padding', `${expected} for ${mode} padding of dim ${dim}`, `${before}, ${after}`);
  }
  const sources = Array.from({ length: before + size + after }, (_, i) => sourceIndex(mode, i - before, size));
  return indexSelect(y, dim, tensor(sources, { dtype: 'int64', device: y.device }));
}

declare module '../tensor.js' {
  interface Tensor {
    /** This tensor padded (PyTorch's `F.pad`). See {@link pad}. */
    pad(padding: readonly number[], options?: PadOptions): Tensor;
  }
}

Tensor.prototype.pad = function (p, o) { return pad(this, p, o); };
