/** Generators of the inputs users get wrong: odd numbers, wrong types, odd shapes and dtypes. */
import fc from 'fast-check';
import { DTYPES } from '@kiln/tensor';

/** Numbers a size, an index or an option could be given as, most of them valid for small tensors. */
export const someNumber = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: -4, max: 6 }) },
  { weight: 2, arbitrary: fc.constantFrom(0.5, 2.5, -1.5, NaN, Infinity, -Infinity, -0, 2 ** 31, 2 ** 32, 2 ** 53, -(2 ** 53), 2 ** 60, 1e300) },
  { weight: 1, arbitrary: fc.double() },
);

/** Anything a user might pass where a number or a tensor is expected. */
export const someValue = fc.oneof(
  { weight: 4, arbitrary: someNumber },
  { weight: 1, arbitrary: fc.boolean() },
  { weight: 1, arbitrary: fc.constantFrom<unknown>('x', '3', '', null, undefined, 2n, {}, [1], [], Symbol('s')) },
);

/** A small valid shape (0 to 4 dims of sizes 0 to 4). */
export const smallShape = fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 4 });
/** A small shape without zero sizes. */
export const nonEmptyShape = fc.array(fc.integer({ min: 1, max: 4 }), { maxLength: 4 });

/** Shapes users might write, valid or not. */
export const someShape = fc.oneof(
  { weight: 6, arbitrary: smallShape },
  { weight: 2, arbitrary: fc.array(someNumber, { maxLength: 4 }) },
  { weight: 1, arbitrary: fc.constantFrom<unknown>([2 ** 31, 2 ** 31], [3 * 2 ** 60], [2 ** 53], Array(13).fill(1), [2 ** 40], 5, null, 'x', [[2]]) },
);

/** Dtype names, valid or not. */
export const someDType = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...DTYPES) },
  { weight: 1, arbitrary: fc.constantFrom<unknown>('float128', '', 'int8', 'Float32', null, 3) },
);

export const numelOf = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);
/** Row-major strides of a shape. */
export function rowMajor(shape: readonly number[]): number[] {
  const st = shape.map(() => 1);
  for (let i = shape.length - 2; i >= 0; i--) st[i] = st[i + 1] * shape[i + 1];
  return st;
}
/** Every index of a shape, in row-major order. */
export function* indices(shape: readonly number[]): Generator<number[]> {
  if (shape.some((s) => s === 0)) return;
  const idx = shape.map(() => 0);
  for (;;) {
    yield [...idx];
    let d = shape.length - 1;
    while (d >= 0 && ++idx[d] === shape[d]) idx[d--] = 0;
    if (d < 0) return;
  }
}
/** True for a safe integer in [lo, hi]. */
export const isIntIn = (v: unknown, lo: number, hi: number): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= lo && v <= hi;
