/**
 * Joining and splitting: cat, stack, split, chunk, unbind.
 *
 * cat needs no kernel of its own: each input is copied into its slice of the output with the
 * 'copy' kernel (which converts dtypes and walks strides). stack is unsqueeze + cat. split, chunk
 * and unbind return views (narrow / select) that share the input's storage.
 */
import { type DType, promoteTypes } from '../dtype.js';
import { ShapeError, ValueError } from '../errors.js';
import { commonDevice, declareOp, empty, launchKernel, needsRecording, recordOp } from '../dispatch.js';
import { fmtShape, normalizeDim } from '../shape.js';
import { Tensor } from '../tensor.js';
import { narrow, select, unsqueeze } from './views.js';

const catOp = declareOp('cat', ['tensors'], { autocast: 'promote' });   // stack is unsqueeze + cat

/** PyTorch's legacy rule: a 1-d empty tensor (shape [0]) may be concatenated with anything. */
const isLegacyEmpty = (t: Tensor): boolean => t.ndim === 1 && t.shape[0] === 0;

function checkList(op: string, tensors: readonly Tensor[]): void {
  if (!Array.isArray(tensors) || tensors.length === 0) throw new ValueError(op, 'tensors', 'a non-empty array of tensors', Array.isArray(tensors) ? '[]' : typeof tensors);
  tensors.forEach((t, i) => {
    if (!(t instanceof Tensor)) throw new ValueError(op, `tensors[${i}]`, 'a Tensor', typeof t);
  });
}

/**
 * Concatenates tensors along an existing dim. Shapes must match except along dim; dtypes promote
 * (int32 with float32 gives float32); all tensors must be on one device.
 */
export function cat(tensors: readonly Tensor[], dim = 0): Tensor {
  checkList('cat', tensors);
  const names = tensors.map((_, i) => `tensors[${i}]`);
  const dev = commonDevice('cat', names, tensors);
  tensors.forEach((t, i) => {
    if (t.ndim === 0) throw new ShapeError('cat', names[i], 'a tensor with at least one dimension (use stack for 0-d tensors)', 'a 0-d tensor');
  });
  // The reference shape: the first tensor that is not a legacy empty one.
  const refIndex = Math.max(0, tensors.findIndex((t) => !isLegacyEmpty(t)));
  const ref = tensors[refIndex];
  const d = normalizeDim('cat', dim, ref.ndim);
  let dtype: DType = tensors[0].dtype;
  for (const t of tensors) dtype = promoteTypes(dtype, t.dtype);
  const parts: Tensor[] = [];
  const sizes: number[] = [];
  tensors.forEach((t, i) => {
    if (isLegacyEmpty(t) && ref.ndim !== 1) {
      sizes.push(0);
      return;
    }
    const ok = t.ndim === ref.ndim && t.shape.every((s, k) => k === d || s === ref.shape[k]);
    if (!ok) {
      const want = ref.shape.map((s, k) => (k === d ? '*' : String(s))).join(', ');
      throw new ShapeError('cat', names[i], `shape [${want}] (as ${names[refIndex]}; sizes may differ only in dimension ${d})`, fmtShape(t.shape));
    }
    parts.push(t);
    sizes.push(t.shape[d]);
  });
  const shape = [...ref.shape];
  shape[d] = sizes.reduce((a, b) => a + b, 0);
  const out = empty(shape, dtype, dev);
  let start = 0;
  for (const t of parts) {
    const n = t.shape[d];
    if (n > 0 && t.numel > 0) {
      // The output's slice for t: a view of out, not recorded (out has no history yet).
      const slot = narrow(out, d, start, n);
      launchKernel('copy', [t], [slot]);
      slot.dispose();
    }
    start += n;
  }
  return recordOp(catOp, tensors, [out], { dim: d, sizes });
}

/** Joins tensors of one shape along a new dim (in [-ndim-1, ndim]). */
export function stack(tensors: readonly Tensor[], dim = 0): Tensor {
  checkList('stack', tensors);
  const first = tensors[0];
  tensors.forEach((t, i) => {
    if (t.ndim !== first.ndim || t.shape.some((s, k) => s !== first.shape[k])) {
      throw new ShapeError('stack', `tensors[${i}]`, `shape ${fmtShape(first.shape)} (as tensors[0]; stacked tensors must have equal shapes)`, fmtShape(t.shape));
    }
  });
  commonDevice('stack', tensors.map((_, i) => `tensors[${i}]`), tensors);
  const d = normalizeDim('stack', dim, first.ndim + 1);
  const expanded = tensors.map((t) => unsqueeze(t, d));
  const out = cat(expanded, d);
  // The unsqueezed views are temporaries unless autograd keeps them in the graph.
  if (!needsRecording(tensors)) for (const v of expanded) v.dispose();
  return out;
}

/**
 * Splits along dim into views: pieces of `size` elements (the last may be smaller), or of the
 * given section sizes (which must add up to the dim's size).
 */
export function split(x: Tensor, sizeOrSections: number | readonly number[], dim = 0): Tensor[] {
  x.assertAlive('split');
  if (x.ndim === 0) throw new ShapeError('split', 'input', 'a tensor with at least one dimension', 'a 0-d tensor');
  const d = normalizeDim('split', dim, x.ndim);
  const n = x.shape[d];
  let sections: number[];
  if (typeof sizeOrSections === 'number') {
    const size = sizeOrSections;
    if (!Number.isInteger(size) || size < 0 || (size === 0 && n > 0)) {
      throw new ValueError('split', 'sizeOrSections', `a positive integer size${n === 0 ? ' (or 0)' : ''}`, String(size));
    }
    const count = size === 0 ? 1 : Math.max(1, Math.ceil(n / size));
    sections = Array.from({ length: count }, (_, i) => Math.min(size, n - i * size));
  } else {
    sections = [...sizeOrSections];
    if (sections.some((s) => !Number.isInteger(s) || s < 0)) {
      throw new ValueError('split', 'sizeOrSections', 'section sizes that are non-negative integers', fmtShape(sections));
    }
    const total = sections.reduce((a, b) => a + b, 0);
    if (total !== n) throw new ValueError('split', 'sizeOrSections', `section sizes adding up to ${n} (the size of dimension ${d})`, `${fmtShape(sections)} (sum ${total})`);
  }
  let start = 0;
  return sections.map((len) => {
    const v = narrow(x, d, start, len);
    start += len;
    return v;
  });
}

/**
 * Splits into `chunks` views of (nearly) equal size along dim, as torch.chunk: each of
 * ceil(n / chunks) elements but the last, so fewer than `chunks` pieces may come back.
 */
export function chunk(x: Tensor, chunks: number, dim = 0): Tensor[] {
  x.assertAlive('chunk');
  if (!Number.isInteger(chunks) || chunks < 1) throw new ValueError('chunk', 'chunks', 'a positive integer', String(chunks));
  if (x.ndim === 0) throw new ShapeError('chunk', 'input', 'a tensor with at least one dimension', 'a 0-d tensor');
  const d = normalizeDim('chunk', dim, x.ndim);
  const n = x.shape[d];
  // An empty dim gives `chunks` empty pieces (torch.chunk's special case), not one.
  if (n === 0) return split(x, new Array<number>(chunks).fill(0), d);
  return split(x, Math.ceil(n / chunks), d);
}

/** `n` tensors as a tuple type: `Tensors<4>` is `[Tensor, Tensor, Tensor, Tensor]` (a plain array when n is not a literal). */
export type Tensors<N extends number, Acc extends Tensor[] = []> =
  number extends N ? Tensor[] : Acc['length'] extends N ? Acc : Tensors<N, [...Acc, Tensor]>;

/**
 * The slices along dim, each without that dim (views). Given `size`, the size of `dim` is checked
 * against it (a ShapeError otherwise) and the result is typed as a tuple of that many tensors, so
 * destructuring needs no casts even under `noUncheckedIndexedAccess`.
 *
 * @example
 * ```ts
 * const [x1, y1, x2, y2] = boxes.unbind(-1, 4);   // boxes [N, 4]: four [N] tensors
 * const rows = unbind(m);                         // Tensor[]
 * ```
 */
export function unbind<N extends number>(x: Tensor, dim: number, size: N): Tensors<N>;
export function unbind(x: Tensor, dim?: number): Tensor[];
export function unbind(x: Tensor, dim = 0, size?: number): Tensor[] {
  x.assertAlive('unbind');
  if (x.ndim === 0) throw new ShapeError('unbind', 'input', 'a tensor with at least one dimension', 'a 0-d tensor');
  const d = normalizeDim('unbind', dim, x.ndim);
  const n = x.shape[d];
  if (size !== undefined && n !== size) {
    throw new ShapeError('unbind', 'input', `size ${size} in dimension ${d} (the size asked for)`, `shape ${fmtShape(x.shape)}`);
  }
  return Array.from({ length: n }, (_, i) => select(x, d, i));
}

declare module '../tensor.js' {
  interface Tensor {
    /** Views of pieces along `dim`: of one size each, or of the given sizes. See {@link split}. */
    split(sizeOrSections: number | readonly number[], dim?: number): Tensor[];
    /** Views of `chunks` nearly equal pieces along `dim`. See {@link chunk}. */
    chunk(chunks: number, dim?: number): Tensor[];
    /** The slices along `dim`, without that dim; given `size`, checked and typed as a tuple of `size` tensors. See {@link unbind}. */
    unbind<N extends number>(dim: number, size: N): Tensors<N>;
    /** The slices along `dim`, without that dim. See {@link unbind}. */
    unbind(dim?: number): Tensor[];
  }
}

Tensor.prototype.split = function (s, d) { return split(this, s, d); };
Tensor.prototype.chunk = function (c, d) { return chunk(this, c, d); };
Tensor.prototype.unbind = function (this: Tensor, d?: number, size?: number) {
  return size === undefined ? unbind(this, d) : unbind(this, d ?? 0, size);
};
