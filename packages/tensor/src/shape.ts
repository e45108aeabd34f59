/** Shape arithmetic: sizes, contiguous strides, broadcasting, dimension normalisation. */
import { MAX_DIMS, describeValue } from './check.js';
import { ShapeError, ValueError } from './errors.js';

/** A tensor's sizes, outermost dimension first; `[]` is a 0-d (scalar) tensor. */
export type Shape = readonly number[];

/** A shape as error messages write it: `[2, 3]`. */
export const fmtShape = (s: Shape): string => `[${s.join(', ')}]`;

/** Number of elements of a shape (1 for `[]`, 0 when a size is 0). */
export function numelOf(shape: Shape): number {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}

/** Row-major (C-order) strides of a shape, in elements. */
export function contiguousStrides(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = acc;
    acc *= shape[i];
  }
  return strides;
}

/** True when `strides` are row-major for `shape` (size-1 dims may have any stride). */
export function isContiguous(shape: Shape, strides: readonly number[]): boolean {
  let expected = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && strides[i] !== expected) return false;
    expected *= shape[i];
  }
  return true;
}

/** True when two shapes are equal. */
export function sameShape(a: Shape, b: Shape): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Array.isArray without its narrowing: a caller's value may be anything at run time, and the
 * checks below keep their argument's declared type (Array.isArray would turn it into any[]).
 */
const isArray = (v: unknown): boolean => Array.isArray(v);

/**
 * Validates a user-given shape: an array of at most MAX_DIMS sizes, each a safe non-negative
 * integer (2.5, NaN, -5 or 2^60 are refused, never truncated). Whether that many elements can be
 * allocated is the allocator's question (an OutOfMemoryError).
 */
export function checkShape(op: string, arg: string, shape: readonly number[]): number[] {
  if (!isArray(shape)) throw new ValueError(op, arg, 'a shape (an array of sizes)', describeValue(shape));
  for (const s of shape) {
    if (typeof s !== 'number' || !Number.isSafeInteger(s) || s < 0) {
      throw new ValueError(op, arg, 'a shape of non-negative integers', describeValue(shape));
    }
  }
  if (shape.length > MAX_DIMS) throw new ShapeError(op, arg, `at most ${MAX_DIMS} dimensions`, `${shape.length} dimensions`);
  return [...shape];
}

/**
 * The element count of a shape whose sizes are valid, or a ShapeError when it exceeds 2^53 - 1
 * (beyond which JS numbers cannot count elements exactly; no device holds that many anyway).
 */
export function checkedNumel(op: string, arg: string, shape: Shape): number {
  const n = numelOf(shape);
  if (n > Number.MAX_SAFE_INTEGER) throw new ShapeError(op, arg, 'a shape of at most 2^53 - 1 elements', `${fmtShape(shape)} (${n} elements)`);
  return n;
}

/** The broadcast shape of several shapes (NumPy rules), or a ShapeError naming the op. */
export function broadcastShapes(op: string, ...shapes: Shape[]): number[] {
  const ndim = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array<number>(ndim).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const d = ndim - s.length + i;
      const a = out[d], b = s[i];
      if (a === b || b === 1) continue;
      if (a === 1) out[d] = b;
      else throw new ShapeError(op, null, 'shapes that broadcast together', shapes.map(fmtShape).join(' and '));
    }
  }
  return out;
}

/** Normalises a possibly negative dim against ndim (PyTorch's maybe_wrap_dim). */
export function normalizeDim(op: string, dim: number, ndim: number, arg = 'dim'): number {
  const n = Math.max(ndim, 1);
  if (typeof dim !== 'number' || !Number.isInteger(dim) || dim < -n || dim >= n) {
    throw new ShapeError(op, arg, `a dimension in [${-n}, ${n - 1}]`, describeValue(dim));
  }
  return dim < 0 ? dim + n : dim;
}

/** Normalises a dims argument (undefined: all dims), sorted, without duplicates. */
export function normalizeDims(op: string, dims: number | readonly number[] | undefined, ndim: number): number[] {
  if (dims === undefined) return Array.from({ length: ndim }, (_, i) => i);
  if (typeof dims !== 'number' && !isArray(dims)) throw new ShapeError(op, 'dim', 'a dimension or an array of them', describeValue(dims));
  const list = typeof dims === 'number' ? [dims] : [...dims];
  const out = list.map((d) => normalizeDim(op, d, ndim));
  if (new Set(out).size !== out.length) throw new ShapeError(op, 'dim', 'distinct dimensions', `[${list.join(', ')}]`);
  return out.sort((a, b) => a - b);
}
