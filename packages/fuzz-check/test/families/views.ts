/**
 * Views: slice, narrow, select, expand, reshape, permute, transpose, squeeze, unsqueeze, flatten
 * with any arguments, on a base holding 0, 1, 2, ...; a view's values are compared with a reference
 * that maps each output index to the base's element by the op's documented (PyTorch) semantics.
 */
import fc from 'fast-check';
import { type Tensor, arange } from '@kiln/tensor';
import { family } from '../support/family.js';
import { attempt, expectRefused, expectShape, expectValues, flat } from '../support/outcome.js';
import { indices, isIntIn, nonEmptyShape, numelOf, rowMajor, someNumber } from '../support/values.js';

/** A reference view: its shape and, per output index, the base's flat index. */
interface Ref {
  shape: number[];
  at(out: number[]): number;
}

const wrapDim = (d: unknown, nd: number): number | null => {
  const n = Math.max(nd, 1);
  return isIntIn(d, -n, n - 1) ? (d < 0 ? d + n : d) : null;
};

function reference(op: string, shape: number[], args: unknown[]): Ref | null {
  const nd = shape.length, base = rowMajor(shape);
  const flatAt = (idx: number[]) => idx.reduce((acc, v, i) => acc + v * base[i], 0);
  const same = (s: number[]): Ref | null => (numelOf(s) === numelOf(shape) ? { shape: s, at: (o) => { const k = o.reduce((acc, v, i) => acc + v * rowMajor(s)[i], 0); return k; } } : null);
  switch (op) {
    case 'slice': {
      const [dim, start, end, step] = args;
      if (nd === 0) return null;
      const d = wrapDim(dim, nd);
      const intOrInf = (v: unknown) => isIntIn(v, -(2 ** 53), 2 ** 53) || v === Infinity || v === -Infinity;
      if (d === null || !isIntIn(step, 1, 2 ** 53) || !intOrInf(start) || !intOrInf(end)) return null;
      const n = shape[d];
      const wrap = (i: number) => Math.min(Math.max(i < 0 ? i + n : i, 0), n);
      const s = wrap(start), e = Math.max(wrap(end), s);
      const len = Math.ceil((e - s) / (step));
      const out = [...shape];
      out[d] = len;
      return { shape: out, at: (o) => flatAt(o.map((v, i) => (i === d ? s + v * (step) : v))) };
    }
    case 'narrow': {
      const [dim, start, length] = args;
      if (nd === 0) return null;
      const d = wrapDim(dim, nd);
      if (d === null) return null;
      const n = shape[d];
      if (!isIntIn(start, -n, n)) return null;
      const s = (start) < 0 ? (start) + n : (start);
      if (!isIntIn(length, 0, n - s)) return null;
      const out = [...shape];
      out[d] = length;
      return { shape: out, at: (o) => flatAt(o.map((v, i) => (i === d ? s + v : v))) };
    }
    case 'select': {
      const [dim, index] = args;
      if (nd === 0) return null;
      const d = wrapDim(dim, nd);
      if (d === null) return null;
      const n = shape[d];
      if (!isIntIn(index, -n, n - 1)) return null;
      const i0 = (index) < 0 ? (index) + n : (index);
      return { shape: shape.filter((_, k) => k !== d), at: (o) => flatAt([...o.slice(0, d), i0, ...o.slice(d)]) };
    }
    case 'expand': {
      const target = args[0] as unknown[];
      if (!Array.isArray(target) || target.length < nd || !target.every((v) => isIntIn(v, -1, 2 ** 53))) return null;
      const lead = target.length - nd;
      const out: number[] = [];
      for (let i = 0; i < target.length; i++) {
        const src = i - lead, size = src >= 0 ? shape[src] : 1, want = target[i] === -1 ? size : (target[i]);
        if (src < 0 && target[i] === -1) return null;
        if (size !== want && size !== 1) return null;
        out.push(want);
      }
      if (numelOf(out) > 2 ** 53) return null;
      return { shape: out, at: (o) => flatAt(o.slice(lead).map((v, i) => (shape[i] === 1 ? 0 : v))) };
    }
    case 'reshape': {
      const s = args[0] as unknown[];
      if (!Array.isArray(s) || s.filter((v) => v === -1).length > 1 || !s.every((v) => v === -1 || isIntIn(v, 0, 2 ** 53))) return null;
      const known = (s).filter((v) => v !== -1).reduce((a, b) => a * b, 1);
      const out = (s).map((v) => (v === -1 ? (known === 0 ? NaN : numelOf(shape) / known) : v));
      if (!out.every((v) => Number.isInteger(v))) return null;
      return same(out);
    }
    case 'permute': {
      const dims = args[0] as unknown[];
      if (!Array.isArray(dims) || dims.length !== nd) return null;
      const d = dims.map((v) => wrapDim(v, nd));
      if (d.some((v) => v === null) || new Set(d).size !== nd) return null;
      return { shape: d.map((k) => shape[k!]), at: (o) => { const idx = new Array<number>(nd); d.forEach((k, i) => { idx[k!] = o[i]!; }); return flatAt(idx); } };
    }
    case 'transpose': {
      const [a, b] = args;
      if (nd === 0) return isIntIn(a, -1, 0) && isIntIn(b, -1, 0) ? same([]) : null;
      const da = wrapDim(a, nd), db = wrapDim(b, nd);
      if (da === null || db === null) return null;
      const perm = shape.map((_, i) => (i === da ? db : i === db ? da : i));
      return reference('permute', shape, [perm]);
    }
    case 'squeeze': {
      const dim = args[0];
      if (dim === undefined) return same(shape.filter((s) => s !== 1));
      const d = wrapDim(dim, nd);
      if (d === null) return null;
      return same(shape[d] === 1 ? shape.filter((_, k) => k !== d) : [...shape]);
    }
    case 'unsqueeze': {
      const d = isIntIn(args[0], -(nd + 1), nd) ? ((args[0]) < 0 ? (args[0]) + nd + 1 : (args[0])) : null;
      if (d === null) return null;
      const out = [...shape];
      out.splice(d, 0, 1);
      return same(out);
    }
    default: return null;
  }
}

function apply(t: Tensor, op: string, args: unknown[]): Tensor {
  const a = args as never[];
  switch (op) {
    case 'slice': return t.slice(a[0], a[1], a[2], a[3]);
    case 'narrow': return t.narrow(a[0], a[1], a[2]);
    case 'select': return t.select(a[0], a[1]);
    case 'expand': return t.expand(a[0]);
    case 'reshape': return t.reshape(a[0]);
    case 'permute': return t.permute(a[0]);
    case 'transpose': return t.transpose(a[0], a[1]);
    case 'squeeze': return t.squeeze(a[0]);
    default: return t.unsqueeze(a[0]);
  }
}

const dimLike = fc.oneof({ weight: 4, arbitrary: fc.integer({ min: -4, max: 4 }) }, { weight: 1, arbitrary: someNumber });
const sizeList = fc.array(fc.oneof({ weight: 4, arbitrary: fc.integer({ min: -1, max: 5 }) }, { weight: 1, arbitrary: someNumber }), { maxLength: 5 });

export const views = family({
  title: 'views: slice, narrow, select, expand, reshape, permute, transpose, squeeze, unsqueeze (values against index maps)',
  arbitrary: fc.record({
    shape: nonEmptyShape,
    op: fc.constantFrom('slice', 'narrow', 'select', 'expand', 'reshape', 'permute', 'transpose', 'squeeze', 'unsqueeze'),
    ints: fc.tuple(dimLike, dimLike, dimLike, fc.oneof(dimLike, fc.constantFrom(Infinity, -Infinity))),
    list: sizeList,
    chain: fc.boolean(),
  }),
  check({ shape, op, ints, list, chain }) {
    const args = op === 'expand' || op === 'reshape' || op === 'permute' ? [list] : op === 'squeeze' && ints[0] === 0 ? [undefined] : [...ints];
    const base = arange(numelOf(shape), undefined, 1, { dtype: 'float64' }).reshape(shape);
    // sometimes on a transposed base, so the op meets non-contiguous strides
    const src = chain && shape.length >= 2 ? base.transpose(0, 1) : base;
    const srcShape = chain && shape.length >= 2 ? [shape[1], shape[0], ...shape.slice(2)] : shape;
    const srcRef = chain && shape.length >= 2 ? reference('transpose', shape, [0, 1])! : null;
    const r = reference(op, srcShape, args);
    const o = attempt(op, () => apply(src, op, args));
    if (r === null) {
      expectRefused(`${op}(${JSON.stringify(args)}) of ${JSON.stringify(srcShape)}`, o);
      return;
    }
    if (!o.ok) throw new Error(`${op}(${JSON.stringify(args)}) of ${JSON.stringify(srcShape)}: refused a valid call: ${(o.error as Error).message}`);
    const v = o.value;
    expectShape(op, v.shape, r.shape);
    if (numelOf(r.shape) <= 4096) {
      const values = flat(v.contiguous());
      const toBase = (idx: number[]) => (srcRef ? srcRef.at(idx) : idx.reduce((acc, x, i) => acc + x * rowMajor(srcShape)[i], 0));
      const expected: number[] = [];
      for (const out of indices(r.shape)) {
        // the op's map gives a flat index into src's row-major order: unflatten it, then map to base
        let k = r.at(out);
        const idx = srcShape.map(() => 0);
        for (let i = srcShape.length - 1; i >= 0; i--) {
          idx[i] = k % srcShape[i];
          k = Math.floor(k / srcShape[i]);
        }
        expected.push(toBase(idx));
      }
      expectValues(`${op}(${JSON.stringify(args)}) of ${JSON.stringify(srcShape)}`, values, expected);
    }
  },
});
