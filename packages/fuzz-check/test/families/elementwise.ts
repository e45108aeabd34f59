/**
 * Elementwise binary ops and their in-place forms with tensors of any two small shapes, or a JS
 * value of any type: broadcasting, scalars, wrong-type operands. float64 results are compared with
 * the same arithmetic in JS (exact for add, sub, mul, div, maximum, minimum).
 */
import fc from 'fast-check';
import { DTypeError, type Tensor, arange } from '@kiln/tensor';
import { family } from '../support/family.js';
import { attempt, expectRefused, expectShape, expectValues, flat } from '../support/outcome.js';
import { indices, numelOf, rowMajor, smallShape, someValue } from '../support/values.js';

const OPS: Record<string, (a: number, b: number) => number> = {
  add: (a, b) => a + b, sub: (a, b) => a - b, mul: (a, b) => a * b, div: (a, b) => a / b,
  maximum: (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.max(a, b)),
  minimum: (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.min(a, b)),
};

/** NumPy broadcasting of two shapes, or null. */
function broadcast(a: number[], b: number[]): number[] | null {
  const n = Math.max(a.length, b.length), out: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1, y = b[b.length - n + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) return null;
    out.push(x === 1 ? y : x);
  }
  return out;
}

/** Values of a row-major tensor of `shape` read at a broadcast index of `out`. */
function reader(values: number[], shape: number[], out: number[]): (idx: number[]) => number {
  const st = rowMajor(shape), lead = out.length - shape.length;
  return (idx) => values[shape.reduce((acc, s, i) => acc + (s === 1 ? 0 : idx[lead + i]) * st[i], 0)];
}

const input = (shape: number[], seed: number): Tensor =>
  arange(numelOf(shape), undefined, 1, { dtype: 'float64' }).sub(seed % 7).mul(0.75).reshape(shape);

export const elementwise = family({
  title: 'elementwise: add, sub, mul, div, maximum, minimum and in-place forms, with any operands (values against JS)',
  arbitrary: fc.record({
    op: fc.constantFrom(...Object.keys(OPS)),
    a: smallShape,
    b: fc.oneof(smallShape.map((s) => ({ shape: s })), someValue.map((v) => ({ value: v }))),
    inplace: fc.boolean(),
    seed: fc.nat(100),
  }),
  check({ op, a, b, inplace, seed }) {
    const x = input(a, seed);
    const other: unknown = 'shape' in b ? input(b.shape, seed + 1) : b.value;
    const name = inplace ? `${op}_` : op;
    const o = attempt(name, () => (x as unknown as Record<string, (o: unknown) => Tensor>)[name].call(x, other));
    if (!('shape' in b)) {
      const v = b.value;
      if (typeof v !== 'number' && typeof v !== 'boolean') {
        if (o.ok || !(o.error instanceof DTypeError)) throw new Error(`${name}(${String(typeof v)}): expected a DTypeError`);
        return;
      }
    }
    const bShape = 'shape' in b ? b.shape : [];
    const out = broadcast(a, bShape);
    if (out === null || (inplace && out.join() !== a.join())) return expectRefused(`${name} of [${a}] and [${bShape}]`, o);
    if (!o.ok) throw new Error(`${name} of [${a}] and [${bShape}]: refused a valid call: ${(o.error as Error).message}`);
    expectShape(name, o.value.shape, out);
    const av = flat(input(a, seed)), read = reader(av, a, out);
    const bv = 'shape' in b ? flat(other as Tensor) : null;
    const scalar = 'value' in b ? Number(b.value) : NaN;
    const readB = bv ? reader(bv, bShape, out) : () => scalar;
    const expected = [...indices(out)].map((idx) => OPS[op](read(idx), readB(idx)));
    expectValues(`${name} of [${a}] and ${'shape' in b ? `[${bShape}]` : String(scalar)}`, flat(o.value), expected);
  },
});
