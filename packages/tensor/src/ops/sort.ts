/**
 * Sorting along one dim: sort, argsort and topk (torch.sort, torch.argsort, torch.topk).
 *
 * Both devices order values the same way (native/include/kiln/math/sort_key.h): ascending numbers
 * with NaN after +inf (so NaN comes first in a descending sort and counts as the largest value in
 * topk), -0.0 equal to +0.0, false before true. Every sort is stable: equal values keep their
 * input order, so ties come out by increasing index on the CPU and on CUDA alike (PyTorch
 * promises that only with `stable: true`). The CPU sorts each row with std::sort over (key,
 * index) pairs; CUDA sorts all rows at once with CUB's radix sort.
 *
 * sort and topk record [values, indices] with attribute `dim`; the gradient flows to the input
 * through the indices. argsort records nothing (its result is an index).
 */
import { checkOptionKeys, describeValue } from '../check.js';
import { ValueError } from '../errors.js';
import { type OpSchema, commonDevice, declareOp, empty, launchKernel, recordOp } from '../dispatch.js';
import { normalizeDim } from '../shape.js';
import { Tensor } from '../tensor.js';
import type { ValuesIndices } from './reduce.js';
import { dimLast } from './views.js';

const sortOp = declareOp('sort', ['input']);
const topkOp = declareOp('topk', ['input']);

/** Options of {@link sort} and {@link argsort} (torch.sort's keyword arguments). */
export interface SortOptions {
  /** Largest first (default false: smallest first). */
  descending?: boolean;
  /**
   * Keep equal values in their input order. Kiln's sorts are always stable, on every device; the
   * option is accepted for PyTorch's signature and checked to be a boolean.
   */
  stable?: boolean;
}

/** Options of {@link topk} (torch.topk's keyword arguments). */
export interface TopkOptions {
  /** The k largest (default true) or the k smallest values. */
  largest?: boolean;
  /** Return them in order, largest (or smallest) first. Default true; Kiln always returns them sorted. */
  sorted?: boolean;
}

function checkFlag(op: string, arg: string, v: unknown, fallback: boolean): boolean {
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean') throw new ValueError(op, arg, 'a boolean', describeValue(v));
  return v;
}

/**
 * @internal Runs the sort kernel over the rows along d, keeping the first k of each: new
 * [values, indices], not recorded.
 */
export function runSort(op: string, x: Tensor, d: number, k: number, descending: boolean): [Tensor, Tensor] {
  const shape = [...x.shape];
  if (x.ndim > 0) shape[d] = k;
  const values = empty(shape, x.dtype, x.device);
  const indices = empty(shape, 'int64', x.device);
  if (values.numel === 0) return [values, indices];
  const views = [dimLast(x, d), dimLast(values, d), dimLast(indices, d)] as const;
  try {
    launchKernel(op, [views[0]], [views[1], views[2]], [descending ? 1 : 0]);
  } catch (e) {
    values.dispose();
    indices.dispose();
    throw e;
  } finally {
    for (const v of views) v.dispose();
  }
  return [values, indices];
}

function sortWith(schema: OpSchema | null, x: Tensor, dim: number, options: SortOptions): ValuesIndices {
  const op = schema?.name ?? 'argsort';
  commonDevice(op, ['input'], [x]);
  const d = normalizeDim(op, dim, x.ndim);
  checkOptionKeys(op, options, { descending: true, stable: true });
  const descending = checkFlag(op, 'descending', options.descending, false);
  checkFlag(op, 'stable', options.stable, false);
  const n = x.ndim === 0 ? 1 : x.shape[d];
  const [values, indices] = runSort('sort', x, d, n, descending);
  if (schema) recordOp(schema, [x], [values, indices], { dim: d });
  return { values, indices };
}

/**
 * The values of `input` sorted along `dim` (default: the last), smallest first or, with
 * `descending`, largest first, and their int64 positions in the input (`torch.sort`). The sort is
 * stable on every device: equal values keep their order. NaN sorts as the largest value.
 * Differentiable in `values`.
 *
 * @example
 * ```ts
 * const { values, indices } = sort(tensor([3, 1, 2, 1]), -1, { descending: true });
 * values.toArray();    // [3, 2, 1, 1]
 * indices.toArray();   // [0, 2, 1, 3]: the two 1s in their input order
 * ```
 */
export function sort(x: Tensor, dim = -1, options: SortOptions = {}): ValuesIndices {
  return sortWith(sortOp, x, dim, options);
}

/**
 * The int64 positions that sort `input` along `dim` (`torch.argsort`): `sort(x, dim, options).indices`.
 * Stable on every device (ties by increasing index).
 *
 * @example
 * ```ts
 * argsort(tensor([[0.5, 0.1, 0.9]]), 1, { descending: true }).toArray();   // [[2, 0, 1]]
 * ```
 */
export function argsort(x: Tensor, dim = -1, options: SortOptions = {}): Tensor {
  const { values, indices } = sortWith(null, x, dim, options);
  values.dispose();
  return indices;
}

/**
 * The `k` largest (or, with `largest: false`, smallest) values along `dim` (default: the last) and
 * their int64 positions, largest (smallest) first (`torch.topk`). Among equal values the lower
 * index comes first; NaN counts as the largest value. Differentiable in `values`.
 *
 * @example
 * ```ts
 * const scores = tensor([0.1, 0.7, 0.3, 0.7]);
 * const { values, indices } = topk(scores, 2);
 * values.toArray();    // [0.7, 0.7]
 * indices.toArray();   // [1, 3]
 * ```
 */
export function topk(x: Tensor, k: number, dim = -1, options: TopkOptions = {}): ValuesIndices {
  const op = 'topk';
  commonDevice(op, ['input'], [x]);
  const d = normalizeDim(op, dim, x.ndim);
  checkOptionKeys(op, options, { largest: true, sorted: true });
  const largest = checkFlag(op, 'largest', options.largest, true);
  checkFlag(op, 'sorted', options.sorted, true);
  const n = x.ndim === 0 ? 1 : x.shape[d];
  if (!Number.isInteger(k) || k < 0 || k > n) throw new ValueError(op, 'k', `an integer in [0, ${n}] (the size of dimension ${d})`, String(k));
  if (x.ndim === 0 && k !== 1) throw new ValueError(op, 'k', '1 for a 0-d input (its one element)', String(k));
  const [values, indices] = runSort(op, x, d, k, largest);
  recordOp(topkOp, [x], [values, indices], { dim: d });
  return { values, indices };
}

declare module '../tensor.js' {
  interface Tensor {
    /** Sorted values and their positions along dim. See {@link sort}. */
    sort(dim?: number, options?: SortOptions): ValuesIndices;
    /** The positions that sort this tensor along dim. See {@link argsort}. */
    argsort(dim?: number, options?: SortOptions): Tensor;
    /** The k largest (or smallest) values and their positions along dim. See {@link topk}. */
    topk(k: number, dim?: number, options?: TopkOptions): ValuesIndices;
  }
}

Tensor.prototype.sort = function (dim, options) { return sort(this, dim, options); };
Tensor.prototype.argsort = function (dim, options) { return argsort(this, dim, options); };
Tensor.prototype.topk = function (k, dim, options) { return topk(this, k, dim, options); };
