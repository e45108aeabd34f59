/**
 * Views: tensors that share their input's storage with other shape/strides/offset. No kernel runs;
 * each is recorded for autograd under its own op name (derivatives in @kiln/autograd).
 */
import { declareOp, recordOp } from '../dispatch.js';
import { ShapeError, ValueError } from '../errors.js';
import { MAX_DIMS, describeValue } from '../check.js';
import { type Shape, checkedNumel, contiguousStrides, fmtShape, normalizeDim, numelOf } from '../shape.js';
import { Tensor } from '../tensor.js';

const viewOp = declareOp('view', ['input']);
const permuteOp = declareOp('permute', ['input']);
const expandOp = declareOp('expand', ['input']);
const narrowOp = declareOp('slice', ['input']);
const selectOp = declareOp('select', ['input']);
const squeezeOp = declareOp('squeeze', ['input']);
const unsqueezeOp = declareOp('unsqueeze', ['input']);

/**
 * @internal a view of t's storage, tracking its base for autograd. Its element count must be a safe
 * integer (an expand to [2^31, 2^31] would give a view no loop over it ever finishes).
 */
export function makeView(t: Tensor, shape: Shape, strides: readonly number[], offset: number, op = 'view'): Tensor {
  t.assertAlive(op);
  // as many dimensions as any tensor may have: a longer view failed only at the next op, under its output's name
  if (shape.length > MAX_DIMS) throw new ShapeError(op, 'shape', `a view of at most ${MAX_DIMS} dimensions`, `${shape.length} dimensions`);
  checkedNumel(op, 'shape', shape);
  const v = new Tensor(t.storage, [...shape], [...strides], offset, t.dtype);
  v.base = t.base ?? t;
  return v;
}

/**
 * @internal t viewed with dim d moved last (a 0-d tensor as one row of one element), not recorded:
 * how ops hand a kernel the rows along one dim (softmax, sort).
 */
export function dimLast(t: Tensor, d: number): Tensor {
  if (t.ndim === 0) return makeView(t, [1], [1], t.offset);
  const order = [...t.shape.keys()].filter((i) => i !== d).concat([d]);
  return makeView(t, order.map((i) => t.shape[i]), order.map((i) => t.strides[i]), t.offset);
}

/**
 * @internal t broadcast to `shape` (which it must broadcast to) as an unrecorded view: always a new
 * Tensor, which the caller disposes.
 */
export function broadcastView(t: Tensor, shape: readonly number[]): Tensor {
  const lead = shape.length - t.ndim;
  const strides = shape.map((s, i) => (i < lead || t.shape[i - lead] !== s ? 0 : t.strides[i - lead]));
  return makeView(t, shape, strides, t.offset);
}

/** select/slice/narrow need a dimension to index (PyTorch: "cannot be applied to a 0-dim tensor"). */
function checkHasDim(op: string, t: Tensor): void {
  if (t.ndim === 0) throw new ShapeError(op, 'dim', 'a tensor with at least one dimension', 'a 0-d tensor');
}

/** Resolves one -1 in a requested shape against numel. */
function inferShape(op: string, shape: readonly number[], numel: number): number[] {
  const out = [...shape];
  let infer = -1;
  let known = 1;
  out.forEach((s, i) => {
    if (s === -1) {
      if (infer >= 0) throw new ShapeError(op, 'shape', 'at most one -1', fmtShape(shape));
      infer = i;
    } else if (typeof s !== 'number' || !Number.isSafeInteger(s) || s < 0) {
      throw new ShapeError(op, 'shape', 'sizes that are non-negative integers or -1', describeValue(shape));
    } else known *= s;
  });
  if (infer >= 0) {
    if (known === 0 || numel % known !== 0) throw new ShapeError(op, 'shape', `a shape with ${numel} elements`, fmtShape(shape));
    out[infer] = numel / known;
  } else if (known !== numel) {
    throw new ShapeError(op, 'shape', `a shape with ${numel} elements (the input's)`, fmtShape(shape));
  }
  return out;
}

/**
 * Strides of t viewed as `shape` without copying, or null when the layout does not allow it
 * (PyTorch's computeStride: each group of merged or split dims must be contiguous within itself).
 */
function viewStrides(t: Tensor, shape: readonly number[]): number[] | null {
  if (t.isContiguous) return contiguousStrides(shape);
  const oldShape = t.shape, oldStrides = t.strides;
  const newStrides = new Array<number>(shape.length);
  if (numelOf(oldShape) === 0) return contiguousStrides(shape);
  let viewD = shape.length - 1;
  let chunkBase = oldStrides[oldStrides.length - 1] ?? 1;
  let tensorNumel = 1, viewNumel = 1;
  for (let d = oldShape.length - 1; d >= 0; d--) {
    tensorNumel *= oldShape[d];
    if (d === 0 || (oldShape[d - 1] !== 1 && oldStrides[d - 1] !== tensorNumel * chunkBase)) {
      while (viewD >= 0 && (viewNumel < tensorNumel || shape[viewD] === 1)) {
        newStrides[viewD] = viewNumel * chunkBase;
        viewNumel *= shape[viewD];
        viewD--;
      }
      if (viewNumel !== tensorNumel) return null;
      if (d > 0) {
        chunkBase = oldStrides[d - 1]!;
        tensorNumel = 1;
        viewNumel = 1;
      }
    }
  }
  if (viewD !== -1) return null;
  return newStrides;
}

/** A view with another shape; a ShapeError if the layout needs a copy (use reshape). */
export function view(t: Tensor, ...shape: number[] | [readonly number[]]): Tensor {
  t.assertAlive('view');
  const s = inferShape('view', flatArgs(shape), t.numel);
  const strides = viewStrides(t, s);
  if (!strides) {
    throw new ShapeError('view', 'shape', `a shape compatible with the input's strides ${fmtShape(t.strides)} (use reshape to copy)`, fmtShape(s));
  }
  return recordOp(viewOp, [t], [makeView(t, s, strides, t.offset)], { shape: t.shape });
}

/**
 * Another shape with the same elements: a view when possible, else a contiguous copy. One size may
 * be -1 (inferred).
 *
 * @example
 * ```ts
 * const x = arange(6).reshape([2, -1]);       // [[0, 1, 2], [3, 4, 5]]
 * const y = x.transpose(0, 1).reshape([6]);   // not viewable: copies, [0, 3, 1, 4, 2, 5]
 * ```
 */
export function reshape(t: Tensor, ...shape: number[] | [readonly number[]]): Tensor {
  t.assertAlive('reshape');
  const s = inferShape('reshape', flatArgs(shape), t.numel);
  const strides = viewStrides(t, s);
  if (strides) return recordOp(viewOp, [t], [makeView(t, s, strides, t.offset, 'reshape')], { shape: t.shape });
  return view(t.contiguous(), s);
}

function flatArgs(a: number[] | [readonly number[]]): number[] {
  return a.length === 1 && Array.isArray(a[0]) ? [...(a[0] as readonly number[])] : (a as number[]);
}

/** Reorders dimensions. */
export function permute(t: Tensor, ...dims: number[] | [readonly number[]]): Tensor {
  const d = flatArgs(dims).map((x) => normalizeDim('permute', x, t.ndim, 'dims'));
  if (d.length !== t.ndim || new Set(d).size !== d.length) {
    throw new ShapeError('permute', 'dims', `a permutation of ${t.ndim} dimensions`, fmtShape(flatArgs(dims)));
  }
  return recordOp(permuteOp, [t], [makeView(t, d.map((i) => t.shape[i]), d.map((i) => t.strides[i]), t.offset, 'permute')], { dims: d });
}

/** Swaps two dimensions. */
export function transpose(t: Tensor, dim0: number, dim1: number): Tensor {
  t.assertAlive('transpose');
  const a = normalizeDim('transpose', dim0, t.ndim, 'dim0'), b = normalizeDim('transpose', dim1, t.ndim, 'dim1');
  const dims = Array.from({ length: t.ndim }, (_, i) => i);
  dims[a] = b;
  dims[b] = a;
  return t.ndim === 0 ? t : permute(t, dims);
}

/** Broadcasts to a larger shape with stride 0 (-1 keeps a size). */
export function expand(t: Tensor, ...shape: number[] | [readonly number[]]): Tensor {
  t.assertAlive('expand');
  const target = flatArgs(shape);
  if (target.some((s) => typeof s !== 'number' || !Number.isSafeInteger(s) || s < -1)) {
    throw new ShapeError('expand', 'shape', 'sizes that are non-negative integers or -1', describeValue(target));
  }
  if (target.length < t.ndim) throw new ShapeError('expand', 'shape', `at least ${t.ndim} dimensions`, fmtShape(target));
  const lead = target.length - t.ndim;
  const outShape: number[] = [], outStrides: number[] = [];
  target.forEach((s, i) => {
    const src = i - lead;
    const size = src >= 0 ? t.shape[src] : 1;
    const want = s === -1 ? size : s;
    if (src < 0 && s === -1) throw new ShapeError('expand', 'shape', 'no -1 for a new leading dimension', fmtShape(target));
    if (size === want) {
      outShape.push(want);
      outStrides.push(src >= 0 ? t.strides[src] : 0);
    } else if (size === 1) {
      outShape.push(want);
      outStrides.push(0);
    } else {
      throw new ShapeError('expand', 'shape', `a shape ${fmtShape(t.shape)} broadcasts to`, fmtShape(target));
    }
  });
  if (outShape.length === t.ndim && outShape.every((s, i) => s === t.shape[i])) return t;
  return recordOp(expandOp, [t], [makeView(t, outShape, outStrides, t.offset, 'expand')], { shape: t.shape });
}

/**
 * Elements start, start+step, ... (< end) along dim, with Python-style negative and clamped bounds:
 * slice(t, 0, -3) takes the last three rows. start and end are integers (end may be ±Infinity, for
 * "to the end"); a fraction or NaN is a ValueError, as Python's slices take only integers.
 */
export function slice(t: Tensor, dim: number, start = 0, end = Infinity, step = 1): Tensor {
  t.assertAlive('slice');
  checkHasDim('slice', t);
  const d = normalizeDim('slice', dim, t.ndim);
  if (typeof step !== 'number' || !Number.isSafeInteger(step) || step <= 0) throw new ValueError('slice', 'step', 'a positive integer', describeValue(step));
  for (const [name, v] of [['start', start], ['end', end]] as const) {
    if (typeof v !== 'number' || !(Number.isSafeInteger(v) || v === Infinity || v === -Infinity)) {
      throw new ValueError('slice', name, 'an integer (or ±Infinity)', describeValue(v));
    }
  }
  const n = t.shape[d];
  const wrap = (i: number) => Math.min(Math.max(i < 0 ? i + n : i, 0), n);
  const s = wrap(start), e = Math.max(wrap(end), s);
  const len = Math.ceil((e - s) / step);
  const shape = [...t.shape], strides = [...t.strides];
  shape[d] = len;
  strides[d] = t.strides[d] * step;
  return recordOp(narrowOp, [t], [makeView(t, shape, strides, t.offset + s * t.strides[d], 'slice')], { dim: d, start: s, step, inputShape: t.shape });
}

/** length elements from start along dim (PyTorch's narrow; bounds must be in range). */
export function narrow(t: Tensor, dim: number, start: number, length: number): Tensor {
  t.assertAlive('narrow');
  checkHasDim('narrow', t);
  const d = normalizeDim('narrow', dim, t.ndim);
  const n = t.shape[d];
  const s = start < 0 ? start + n : start;
  if (!Number.isSafeInteger(s) || s < 0 || s > n) throw new ValueError('narrow', 'start', `an index in [${-n}, ${n}]`, describeValue(start));
  if (!Number.isSafeInteger(length) || length < 0 || s + length > n) {
    throw new ValueError('narrow', 'length', `a length in [0, ${n - s}]`, describeValue(length));
  }
  return slice(t, d, s, s + length);
}

/** The slice at `index` along dim, removing that dim (negative indices count from the end). */
export function select(t: Tensor, dim: number, index: number): Tensor {
  checkHasDim('select', t);
  const d = normalizeDim('select', dim, t.ndim);
  const n = t.shape[d];
  if (!Number.isSafeInteger(index) || index < -n || index >= n) throw new ValueError('select', 'index', `an index in [${-n}, ${n - 1}]`, describeValue(index));
  const i = index < 0 ? index + n : index;
  const shape = t.shape.filter((_, k) => k !== d), strides = t.strides.filter((_, k) => k !== d);
  return recordOp(selectOp, [t], [makeView(t, shape, strides, t.offset + i * t.strides[d], 'select')], { dim: d, index: i, inputShape: t.shape });
}

/** Removes size-1 dims (all, or the given ones). */
export function squeeze(t: Tensor, dim?: number | readonly number[]): Tensor {
  const dims = dim === undefined ? t.shape.map((s, i) => (s === 1 ? i : -1)).filter((i) => i >= 0)
    : (typeof dim === 'number' ? [dim] : [...dim]).map((x) => normalizeDim('squeeze', x, t.ndim)).filter((i) => t.shape[i] === 1);
  if (dims.length === 0) return t;
  const keep = (_: number, i: number) => !dims.includes(i);
  return recordOp(squeezeOp, [t], [makeView(t, t.shape.filter(keep), t.strides.filter(keep), t.offset, 'squeeze')], { inputShape: t.shape });
}

/** Inserts a size-1 dim at `dim` (in [-ndim-1, ndim]). */
export function unsqueeze(t: Tensor, dim: number): Tensor {
  const d = normalizeDim('unsqueeze', dim, t.ndim + 1);
  const shape = [...t.shape], strides = [...t.strides];
  shape.splice(d, 0, 1);
  strides.splice(d, 0, d < t.ndim ? t.strides[d] * t.shape[d] : 1);
  return recordOp(unsqueezeOp, [t], [makeView(t, shape, strides, t.offset, 'unsqueeze')], { dim: d });
}

/** Flattens dims startDim..endDim into one. */
export function flatten(t: Tensor, startDim = 0, endDim = -1): Tensor {
  t.assertAlive('flatten');
  if (t.ndim === 0) return reshape(t, [1]);
  const s = normalizeDim('flatten', startDim, t.ndim, 'startDim'), e = normalizeDim('flatten', endDim, t.ndim, 'endDim');
  if (s > e) throw new ShapeError('flatten', 'startDim', `a dim <= endDim (${e})`, String(s));
  const shape = [...t.shape.slice(0, s), t.shape.slice(s, e + 1).reduce((a, b) => a * b, 1), ...t.shape.slice(e + 1)];
  return reshape(t, shape);
}

declare module '../tensor.js' {
  interface Tensor {
    /** A view with another shape (one size may be -1); a ShapeError if it needs a copy. See {@link view}. */
    view(...shape: number[] | [readonly number[]]): Tensor;
    /** Another shape with the same elements: a view when possible, else a copy. See {@link reshape}. */
    reshape(...shape: number[] | [readonly number[]]): Tensor;
    /** Reorders the dimensions (a view). See {@link permute}. */
    permute(...dims: number[] | [readonly number[]]): Tensor;
    /** Swaps two dimensions (a view). See {@link transpose}. */
    transpose(dim0: number, dim1: number): Tensor;
    /** 2-D transpose (PyTorch's .t()); 0-D and 1-D tensors are returned as is. */
    t(): Tensor;
    /** The transpose of a matrix (a view; PyTorch's `.T`); 0-D and 1-D tensors as they are; beyond 2-D a ShapeError (use `.mT` or `permute`). */
    readonly T: Tensor;
    /** The last two dims swapped (a view; PyTorch's `.mT`): each matrix of a batch transposed. */
    readonly mT: Tensor;
    /** The shape, as a new array (PyTorch's `size()`). */
    size(): number[];
    /** The size of one dim (negative counts from the end; PyTorch's `size(dim)`). */
    size(dim: number): number;
    /** Broadcasts size-1 dims to a larger shape with stride 0 (a view; -1 keeps a size). See {@link expand}. */
    expand(...shape: number[] | [readonly number[]]): Tensor;
    /** As {@link expand}, with the shape as one array. */
    broadcastTo(shape: readonly number[]): Tensor;
    /** Expands to `other`'s shape. */
    expandAs(other: Tensor): Tensor;
    /** Elements start, start+step, ... (< end) along dim, Python-style bounds (a view). See {@link slice}. */
    slice(dim: number, start?: number, end?: number, step?: number): Tensor;
    /** `length` elements from `start` along dim (a view). See {@link narrow}. */
    narrow(dim: number, start: number, length: number): Tensor;
    /** The slice at `index` along dim, without that dim (a view). See {@link select}. */
    select(dim: number, index: number): Tensor;
    /** Removes size-1 dims, all or the given ones (a view). See {@link squeeze}. */
    squeeze(dim?: number | readonly number[]): Tensor;
    /** Inserts a size-1 dim at `dim` (a view). See {@link unsqueeze}. */
    unsqueeze(dim: number): Tensor;
    /** Merges dims startDim..endDim into one. See {@link flatten}. */
    flatten(startDim?: number, endDim?: number): Tensor;
  }
}

Tensor.prototype.view = function (...s) { return view(this, ...s); };
Tensor.prototype.reshape = function (...s) { return reshape(this, ...s); };
Tensor.prototype.permute = function (...d) { return permute(this, ...d); };
Tensor.prototype.transpose = function (a, b) { return transpose(this, a, b); };
Tensor.prototype.t = function () {
  if (this.ndim > 2) throw new ShapeError('t', null, 'a tensor with at most 2 dimensions', `${this.ndim} dimensions`);
  return this.ndim < 2 ? this : transpose(this, 0, 1);
};
Object.defineProperty(Tensor.prototype, 'T', {
  get(this: Tensor) {
    // PyTorch deprecates .T beyond 2-D (it reversed every dim): .mT or permute say what is meant
    if (this.ndim > 2) throw new ShapeError('T', null, 'a tensor with at most 2 dimensions (.mT transposes the last two, permute reorders any)', `${this.ndim} dimensions`);
    return this.t();
  },
});
Object.defineProperty(Tensor.prototype, 'mT', {
  get(this: Tensor) {
    if (this.ndim < 2) throw new ShapeError('mT', null, 'a tensor with at least 2 dimensions', `${this.ndim} dimensions`);
    return transpose(this, -2, -1);
  },
});
Tensor.prototype.size = function (this: Tensor, dim?: number) {
  return dim === undefined ? [...this.shape] : this.shape[normalizeDim('size', dim, this.ndim)];
} as Tensor['size'];
Tensor.prototype.expand = function (...s) { return expand(this, ...s); };
Tensor.prototype.broadcastTo = function (s) { return expand(this, s); };
Tensor.prototype.expandAs = function (o) { return expand(this, o.shape); };
Tensor.prototype.slice = function (d, s, e, st) { return slice(this, d, s, e, st); };
Tensor.prototype.narrow = function (d, s, l) { return narrow(this, d, s, l); };
Tensor.prototype.select = function (d, i) { return select(this, d, i); };
Tensor.prototype.squeeze = function (d) { return squeeze(this, d); };
Tensor.prototype.unsqueeze = function (d) { return unsqueeze(this, d); };
Tensor.prototype.flatten = function (s, e) { return flatten(this, s, e); };

export { expand as broadcastTo };
