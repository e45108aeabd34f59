// Helpers shared by the layer tests: seeded float tensors and flat values.
import { type DType, type Tensor, tensor } from '@kiln/tensor';
import { randomValues, toNumbers } from '@kiln/tensor/testing';

/** A device the tests run on. */
export type Dev = 'cpu' | 'cuda';
/** t's elements, row-major, as numbers. */
export const values = (t: Tensor): number[] => toNumbers(t.toTypedArray());
/** The product of the sizes. */
export const numel = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);
/** A tensor of `shape` with seeded values in [-1, 1). */
export function rand(seed: number, shape: readonly number[], dev: Dev, dtype: DType = 'float64'): Tensor {
  return tensor(randomValues(seed, numel(shape)), { dtype, device: dev }).reshape([...shape]);
}
/** Tolerance of float64 results against float64 references. */
export const f64 = { rtol: 1e-10, atol: 1e-10 };
