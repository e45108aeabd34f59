/** Reductions (sum, mean, amax) over any dims, keepdim of any type; values against JS. */
import fc from 'fast-check';
import { type Tensor, arange } from '@kiln/tensor';
import { family } from '../support/family.js';
import { attempt, expectRefused, expectShape, expectValues, flat } from '../support/outcome.js';
import { indices, isIntIn, nonEmptyShape, numelOf, rowMajor, someNumber } from '../support/values.js';

export const reduce = family({
  title: 'reductions: sum, mean, amax over any dims (values against JS)',
  arbitrary: fc.record({
    shape: nonEmptyShape,
    op: fc.constantFrom('sum', 'mean', 'amax'),
    dims: fc.oneof(fc.constant(undefined), fc.integer({ min: -4, max: 4 }), fc.array(fc.oneof(fc.integer({ min: -4, max: 4 }), someNumber), { maxLength: 3 })),
    keepdim: fc.oneof(fc.boolean(), fc.constant(undefined)),
  }),
  check({ shape, op, dims, keepdim }) {
    const nd = shape.length, n = Math.max(nd, 1);
    const x = arange(numelOf(shape), undefined, 1, { dtype: 'float64' }).mul(0.5).reshape(shape);
    const o = attempt(op, () => (x as unknown as Record<string, (d: unknown, k: unknown) => Tensor>)[op].call(x, dims, keepdim));
    // PyTorch: no dims, or an empty list of dims, reduces over all of them
    const list = dims === undefined || (Array.isArray(dims) && dims.length === 0) ? shape.map((_, i) => i) : typeof dims === 'number' ? [dims] : dims;
    const ok = list.every((d) => isIntIn(d, -n, n - 1));
    const norm = ok ? list.map((d) => ((d) < 0 ? (d) + n : (d))) : [];
    if (!ok || new Set(norm).size !== norm.length) return expectRefused(`${op}(${JSON.stringify(dims)})`, o);
    if (!o.ok) throw new Error(`${op}(${JSON.stringify(dims)}) of [${shape}]: refused a valid call: ${(o.error as Error).message}`);
    const reduced = new Set(nd === 0 ? [] : norm);
    const outShape = keepdim ? shape.map((s, i) => (reduced.has(i) ? 1 : s)) : shape.filter((_, i) => !reduced.has(i));
    expectShape(op, o.value.shape, outShape);
    const vals = flat(x), st = rowMajor(shape);
    const groups = new Map<string, number[]>();
    for (const idx of indices(shape)) {
      const key = idx.filter((_, i) => !reduced.has(i)).join(',');
      const g = groups.get(key) ?? [];
      g.push(vals[idx.reduce((a, v, i) => a + v * st[i], 0)]);
      groups.set(key, g);
    }
    const expected = [...groups.values()].map((g) => (op === 'sum' ? g.reduce((a, b) => a + b, 0) : op === 'mean' ? g.reduce((a, b) => a + b, 0) / g.length : Math.max(...g)));
    expectValues(`${op}(${JSON.stringify(dims)}) of [${shape}]`, flat(o.value), expected, 1e-12);
  },
});
