/**
 * meshgrid (torch.meshgrid): coordinate grids from 1-d tensors, as views (expand), so they cost no
 * copy and are differentiable through the views' own derivatives.
 */
import { checkOptionKeys } from '../check.js';
import { ShapeError, ValueError } from '../errors.js';
import { commonDevice } from '../dispatch.js';
import { fmtShape } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { expand, reshape } from './views.js';

/** Options of {@link meshgrid}. */
export interface MeshgridOptions {
  /**
   * 'ij' (default, matrix indexing): output dim i follows tensors[i]. 'xy' (Cartesian indexing, as
   * numpy's default): the first two are swapped, so for two inputs x (width) and y (height) the
   * grids have shape [y.numel, x.numel].
   */
  indexing?: 'ij' | 'xy';
}

/**
 * Grids from N 0-d or 1-d tensors: N tensors of one shape, the sizes of the inputs (the first two
 * swapped with `indexing: 'xy'`), where grid i repeats tensors[i] along its own dim. The grids are
 * views (expanded) of the inputs: write to a copy (`clone()`), not to them.
 *
 * @example
 * ```ts
 * const [ys, xs] = meshgrid([arange(2), arange(3)], { indexing: 'ij' });
 * ys.toArray();   // [[0, 0, 0], [1, 1, 1]]
 * xs.toArray();   // [[0, 1, 2], [0, 1, 2]]
 * ```
 */
export function meshgrid(tensors: readonly Tensor[], options: MeshgridOptions = {}): Tensor[] {
  const op = 'meshgrid';
  checkOptionKeys(op, options, { indexing: true });   // a misspelt indexing gave 'ij' grids where 'xy' was meant
  const indexing = options.indexing ?? 'ij';
  if (indexing !== 'ij' && indexing !== 'xy') throw new ValueError(op, 'indexing', "'ij' or 'xy'", String(indexing));
  if (tensors.length === 0) throw new ValueError(op, 'tensors', 'at least one tensor', 'an empty list');
  commonDevice(op, tensors.map((_, i) => `tensors[${i}]`), tensors);
  tensors.forEach((t, i) => {
    if (t.ndim > 1) throw new ShapeError(op, `tensors[${i}]`, 'a 0-d or 1-d tensor', `shape ${fmtShape(t.shape)}`);
    if (t.dtype !== tensors[0].dtype) throw new ValueError(op, `tensors[${i}]`, `the dtype of tensors[0] (${tensors[0].dtype})`, t.dtype);
  });
  // the output dim of each input: with 'xy' the first two trade places
  const dimOf = (i: number): number => (indexing === 'xy' && tensors.length > 1 && i < 2 ? 1 - i : i);
  const shape = new Array<number>(tensors.length);
  tensors.forEach((t, i) => (shape[dimOf(i)] = t.numel));
  return tensors.map((t, i) => {
    const along = shape.map((_, d) => (d === dimOf(i) ? t.numel : 1));
    const column = reshape(t, along);
    const grid = expand(column, shape);
    if (column !== grid && column !== t) column.dispose();
    return grid;
  });
}
