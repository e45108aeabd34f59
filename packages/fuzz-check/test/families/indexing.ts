/** gather and indexSelect with any indices (out of range, negative) and dims; values against JS. */
import fc from 'fast-check';
import { arange, gather, indexSelect, tensor } from '@kiln/tensor';
import { family } from '../support/family.js';
import { attempt, expectRefused, expectShape, expectValues, flat } from '../support/outcome.js';
import { numelOf } from '../support/values.js';

export const indexing = family({
  title: 'indexing: gather and indexSelect with any indices and dims (values against JS)',
  arbitrary: fc.record({
    rows: fc.integer({ min: 1, max: 4 }),
    cols: fc.integer({ min: 1, max: 5 }),
    dim: fc.integer({ min: -3, max: 2 }),
    idx: fc.array(fc.integer({ min: -7, max: 7 }), { minLength: 0, maxLength: 6 }),
    op: fc.constantFrom('indexSelect', 'gather'),
    dtype: fc.constantFrom('int64', 'int32', 'float32'),
  }),
  check({ rows, cols, dim, idx, op, dtype }) {
    const x = arange(rows * cols, undefined, 1, { dtype: 'float64' }).reshape([rows, cols]);
    const shape = [rows, cols];
    const d = dim >= -2 && dim <= 1 ? (dim < 0 ? dim + 2 : dim) : null;
    if (op === 'indexSelect') {
      const index = tensor(idx, { dtype: dtype as 'int64' });
      const o = attempt(op, () => indexSelect(x, dim, index));
      if (d === null || dtype === 'float32' || idx.some((i) => i < 0 || i >= shape[d])) return expectRefused(`indexSelect(${dim}, [${idx}])`, o);
      if (!o.ok) throw new Error(`indexSelect(${dim}, [${idx}]) refused a valid call: ${(o.error as Error).message}`);
      const out = [...shape];
      out[d] = idx.length;
      expectShape(op, o.value.shape, out);
      const expected: number[] = [];
      for (let r = 0; r < out[0]; r++) for (let c = 0; c < out[1]; c++) expected.push(d === 0 ? idx[r] * cols + c : r * cols + idx[c]);
      return expectValues(`indexSelect(${dim}, [${idx}])`, flat(o.value), expected);
    }
    // gather along d with an index of shape [rows, k] (dim 1) or [k, cols] (dim 0)
    const k = idx.length;
    const ishape = d === 0 ? [Math.min(k, rows), cols] : [rows, Math.min(k, cols)];
    const ivals = Array.from({ length: numelOf(ishape) }, (_, i) => idx[i % Math.max(k, 1)] ?? 0);
    const index = tensor(ivals, { dtype: dtype as 'int64' }).reshape(ishape);
    const o = attempt(op, () => gather(x, dim, index));
    if (d === null || dtype === 'float32' || ivals.some((i) => i < 0 || i >= shape[d])) return expectRefused(`gather(${dim}, [${ivals}])`, o);
    if (!o.ok) throw new Error(`gather(${dim}, [${ivals}]) of [${shape}] refused a valid call: ${(o.error as Error).message}`);
    expectShape(op, o.value.shape, ishape);
    const expected = ivals.map((v, i) => {
      const r = Math.floor(i / ishape[1]), c = i % ishape[1];
      return d === 0 ? v * cols + c : r * cols + v;
    });
    expectValues(`gather(${dim}, [${ivals}])`, flat(o.value), expected);
  },
});
