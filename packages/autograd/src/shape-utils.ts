/**
 * Undoing broadcasting in backward: an input of shape [3, 1] broadcast to [2, 3, 4] in forward gets
 * the sum of its gradient over the dims it was broadcast along.
 */
import { AutogradError, type Tensor, expand, fmtShape, sameShape, sum } from '@kiln/tensor';

/**
 * Sums `g` down to `shape` (which must broadcast to g's shape): over g's extra leading dims and over
 * the dims where `shape` has size 1. Returns g itself when the shapes already agree.
 */
export function sumToShape(g: Tensor, shape: readonly number[]): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const lead = g.ndim - shape.length;
  const dims: number[] = [];
  for (let d = 0; d < g.ndim; d++) {
    if (d < lead || (shape[d - lead] === 1 && g.shape[d] !== 1)) dims.push(d);
  }
  const reduced = dims.length > 0 ? sum(g, dims, true) : g;
  // keepdim left size-1 dims where `shape` has them; drop the extra leading ones
  return lead > 0 ? reduced.reshape(shape) : reduced;
}

/**
 * A gradient brought to an input's shape: summed when it has the broadcast shape, expanded when it
 * broadcasts to the input's shape (a scalar gradient of a sum), an AutogradError otherwise.
 */
export function matchShape(g: Tensor, shape: readonly number[], where: () => string): Tensor {
  if (sameShape(g.shape, shape)) return g;
  if (broadcastsTo(shape, g.shape)) return sumToShape(g, shape);
  if (broadcastsTo(g.shape, shape)) return expand(g, shape);
  const who = where();
  throw new AutogradError({
    op: who, expected: `a gradient of a shape compatible with ${fmtShape(shape)}`, got: `shape ${fmtShape(g.shape)}`,
    message: `${who} returned an invalid gradient: got shape ${fmtShape(g.shape)} but expected a shape compatible with ${fmtShape(shape)}`,
  });
}

/** True when a tensor of shape `from` broadcasts to `to` (NumPy rules). */
function broadcastsTo(from: readonly number[], to: readonly number[]): boolean {
  if (from.length > to.length) return false;
  for (let i = 1; i <= from.length; i++) {
    const a = from[from.length - i], b = to[to.length - i];
    if (a !== b && a !== 1) return false;
  }
  return true;
}
