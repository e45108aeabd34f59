/** Random inputs and conversions between tensors and the reference's dense arrays. */
import { type DType, type Tensor, mulberry32, tensor, toTypedArray } from '@kiln/tensor';
import type { Dense } from './reference.js';

/** Uniform values in [lo, hi) of a shape. */
export function random(shape: readonly number[], seed: number, lo = -1, hi = 1): Dense {
  const next = mulberry32(seed);   // Kiln's seeded generator of uniform numbers in [0, 1)
  const n = shape.reduce((a, b) => a * b, 1);
  return { shape, data: Float64Array.from({ length: n }, () => lo + (hi - lo) * next()) };
}

export function toTensor(d: Dense, dtype: DType, device: string): Tensor {
  return tensor(d.data, { dtype, device }).reshape([...d.shape]);
}

export function dense(t: Tensor): Dense {
  return { shape: [...t.shape], data: Float64Array.from(toTypedArray(t) as Float64Array | Float32Array) };
}

/** The largest |a - b| / (atol + rtol |b|) over the elements (<= 1 is within tolerance). */
export function worstError(a: Float64Array | readonly number[], b: Float64Array | readonly number[], atol: number, rtol: number): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} and ${b.length}`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / (atol + rtol * Math.abs(b[i])));
  return worst;
}
