/** Test helpers: seeded float64 leaves on a device, contiguous or not. */
import { type Tensor, tensor } from '@kiln/tensor';
import { randomValues } from '@kiln/tensor/testing';

let seedCounter = 1;

/** A float64 leaf of `shape` requiring grad, values uniform in [lo, hi). */
export function leaf(dev: string, shape: readonly number[], lo = -1, hi = 1, seed = seedCounter++): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const t = tensor(Float64Array.from(randomValues(seed, n, lo, hi)), { dtype: 'float64', device: dev }).reshape(shape).clone();
  return t.requiresGrad_();
}

/** As leaf, but a transposed view (non-contiguous) of a [.., b, a] tensor: shape [.., a, b]. */
export function leafT(dev: string, shape: readonly number[], lo = -1, hi = 1, seed = seedCounter++): Tensor {
  const n = shape.length;
  const swapped = [...shape.slice(0, n - 2), shape[n - 1], shape[n - 2]];
  const base = tensor(Float64Array.from(randomValues(seed, swapped.reduce((a, b) => a * b, 1), lo, hi)), { dtype: 'float64', device: dev });
  return base.reshape(swapped).transpose(-1, -2).requiresGrad_();
}

/** As leaf, but every other element of a larger tensor along the first dim (a strided slice). */
export function leafStrided(dev: string, shape: readonly number[], lo = -1, hi = 1, seed = seedCounter++): Tensor {
  const big = [shape[0] * 2, ...shape.slice(1)];
  const base = tensor(Float64Array.from(randomValues(seed, big.reduce((a, b) => a * b, 1), lo, hi)), { dtype: 'float64', device: dev });
  return base.reshape(big).slice(0, 0, undefined, 2).requiresGrad_();
}

/** Values away from 0 by at least `gap` (for kinks of abs, relu, sign): magnitude in [gap, 1]. */
export function leafAwayFromZero(dev: string, shape: readonly number[], gap = 0.1, seed = seedCounter++): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const mags = randomValues(seed, n, gap, 1);
  const signs = randomValues(seed + 1000, n, -1, 1);
  return tensor(Float64Array.from(mags.map((m, i) => (signs[i] < 0 ? -m : m))), { dtype: 'float64', device: dev }).reshape(shape).requiresGrad_();
}

/** A float64 leaf with the given values (a tensor of its own, not a view). */
export function leafOf(dev: string, values: number[], shape: readonly number[] = [values.length]): Tensor {
  return tensor(Float64Array.from(values), { dtype: 'float64', device: dev }).reshape(shape).clone().requiresGrad_();
}
