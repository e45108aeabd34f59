/** What the test ranks share: deterministic inputs every rank can compute for every rank, and checks. */
import { type DType, type Tensor, tensor } from '@kiln/tensor';

/** Rank r's i-th input value: small multiples of 1/8 (exact in every float dtype), integers for int dtypes. */
export function inputValue(r: number, i: number, dtype: DType): number {
  const v = ((r * 31 + i * 7) % 13) - 6;
  return dtype.startsWith('int') || dtype.startsWith('uint') ? v : v / 8;
}

/** Rank r's input of n elements. */
export function inputOf(r: number, n: number, dtype: DType): Tensor {
  return tensor(Array.from({ length: n }, (_, i) => inputValue(r, i, dtype)), { dtype });
}

/** A tensor's values, flat. */
export function values(t: Tensor): number[] {
  return (t.toArray() as unknown[]).flat(Infinity as 1) as number[];
}

/** Throws (the rank exits non-zero) unless `got` matches `want` within `tol` (relative and absolute). */
export function expectClose(what: string, got: readonly number[], want: readonly number[], tol = 0): void {
  if (got.length !== want.length) throw new Error(`${what}: ${got.length} values, expected ${want.length}`);
  for (let i = 0; i < got.length; i++) {
    if (!(Math.abs(got[i] - want[i]) <= tol * (1 + Math.abs(want[i])))) throw new Error(`${what}: element ${i} is ${got[i]}, expected ${want[i]} (tolerance ${tol})`);
  }
}
