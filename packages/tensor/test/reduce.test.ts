import { expect, it } from 'vitest';
import {
  type DType, type Tensor, DTypeError, DisposedError, ShapeError, ValueError,
  all, amax, amin, any, argmax, argmin, full, logsumexp, max, mean, min, prod, std, sum, tensor, variance, zeros,
} from '@kiln/tensor';
import * as kiln from '@kiln/tensor';
import { expectClose, forEachDevice, randomValues, toNumbers, recordOpsInEachTest, expectError } from '@kiln/tensor/testing';

// ---- float64 references ---------------------------------------------------------------------

const numel = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

/**
 * Groups the row-major values of a tensor of `shape` by output position (the kept dims), each
 * group in row-major order of the reduced dims, and applies f to each group.
 */
function refReduce(vals: readonly number[], shape: readonly number[], dims: readonly number[], keepdim: boolean, f: (xs: number[]) => number) {
  const kept = shape.map((_, d) => d).filter((d) => !dims.includes(d));
  const outShape = keepdim ? shape.map((s, d) => (dims.includes(d) ? 1 : s)) : kept.map((d) => shape[d]);
  const groups: number[][] = Array.from({ length: numel(kept.map((d) => shape[d])) }, () => []);
  const idx = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < vals.length; i++) {
    let o = 0;
    for (const d of kept) o = o * shape[d] + idx[d];
    groups[o].push(vals[i]);
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
  return { values: groups.map(f), shape: outShape };
}

const refSum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const refMean = (xs: number[]) => refSum(xs) / xs.length;
const refProd = (xs: number[]) => xs.reduce((a, b) => a * b, 1);
const refMax = (xs: number[]) => (xs.some(Number.isNaN) ? NaN : xs.reduce((a, b) => (b > a ? b : a), -Infinity));
const refMin = (xs: number[]) => (xs.some(Number.isNaN) ? NaN : xs.reduce((a, b) => (b < a ? b : a), Infinity));
const refArgmax = (xs: number[]) => { const n = xs.findIndex(Number.isNaN); return n >= 0 ? n : xs.indexOf(refMax(xs)); };
const refArgmin = (xs: number[]) => { const n = xs.findIndex(Number.isNaN); return n >= 0 ? n : xs.indexOf(refMin(xs)); };
const refVar = (c: number) => (xs: number[]) => {
  const m = refMean(xs);
  return xs.reduce((a, x) => a + (x - m) ** 2, 0) / Math.max(0, xs.length - c);
};
const refLse = (xs: number[]) => {
  const m = refMax(xs);
  if (!Number.isFinite(m)) return m;
  return m + Math.log(xs.reduce((a, x) => a + Math.exp(x - m), 0));
};

/** The values a tensor actually holds (rounded to its dtype), row-major. */
const valuesOf = (t: Tensor): number[] => toNumbers(t.toTypedArray());

function normDims(dim: number | number[] | undefined, ndim: number): number[] {
  if (dim === undefined || (Array.isArray(dim) && dim.length === 0)) return [...Array(ndim).keys()];
  return (typeof dim === 'number' ? [dim] : dim).map((d) => (d < 0 ? d + ndim : d)).sort((a, b) => a - b);
}

const tolerance: Record<string, { rtol: number; atol: number }> = {
  float64: { rtol: 1e-12, atol: 1e-12 },
  float32: { rtol: 2e-6, atol: 1e-6 },
  float16: { rtol: 2e-3, atol: 1e-3 },
  bfloat16: { rtol: 1.6e-2, atol: 1e-2 },
};

// Shapes and dims covering: a vector, rows (innermost dim), columns (outer dim), several dims that
// coalesce and several that do not, negative dims, keepdim, "all dims" as undefined and as [].
const layouts: { shape: number[]; dim: number | number[] | undefined }[] = [
  { shape: [7], dim: undefined },
  { shape: [7], dim: 0 },
  { shape: [3, 5], dim: 0 },
  { shape: [3, 5], dim: 1 },
  { shape: [3, 5], dim: -1 },
  { shape: [3, 5], dim: [0, 1] },
  { shape: [2, 3, 4], dim: [0, 2] },
  { shape: [2, 3, 4], dim: [-1, -2] },
  { shape: [2, 3, 4], dim: 1 },
  { shape: [2, 3, 4], dim: [] },
  { shape: [4, 1, 5, 3], dim: [1, 3] },
  { shape: [37, 300], dim: 1 },
  { shape: [300, 37], dim: 0 },
  { shape: [5, 600, 3], dim: 1 },
];

interface Case {
  name: string;
  run: (x: Tensor, dim: number | number[] | undefined, keepdim: boolean) => Tensor;
  ref: (xs: number[]) => number;
  lo?: number;
  hi?: number;
}

const cases: Case[] = [
  { name: 'sum', run: (x, d, k) => sum(x, d, k), ref: refSum },
  { name: 'mean', run: (x, d, k) => mean(x, d, k), ref: refMean },
  { name: 'prod', run: (x, d, k) => prod(x, d, k), ref: refProd, lo: 0.9, hi: 1.1 },
  { name: 'amax', run: (x, d, k) => amax(x, d, k), ref: refMax },
  { name: 'amin', run: (x, d, k) => amin(x, d, k), ref: refMin },
  { name: 'var', run: (x, d, k) => variance(x, d, { keepdim: k }), ref: refVar(1) },
  { name: 'var (correction 0)', run: (x, d, k) => x.var(d, { correction: 0, keepdim: k }), ref: refVar(0) },
  { name: 'std', run: (x, d, k) => std(x, d, { keepdim: k }), ref: (xs) => Math.sqrt(refVar(1)(xs)) },
  { name: 'logsumexp', run: (x, d, k) => logsumexp(x, d, k), ref: refLse, lo: -5, hi: 5 },
];

forEachDevice('reductions', (dev) => {
  const make = (vals: number[], shape: number[], dtype: DType = 'float64') => tensor(vals, { dtype, device: dev }).reshape(shape);

  for (const c of cases) {
    it(`${c.name} matches a float64 reference over rows, columns and several dims`, () => {
      let seed = 1;
      for (const { shape, dim } of layouts) {
        for (const keepdim of [false, true]) {
          const x = make(randomValues(seed++, numel(shape), c.lo ?? -1, c.hi ?? 1), shape);
          const r = c.run(x, dim, keepdim);
          const e = refReduce(valuesOf(x), shape, normDims(dim, shape.length), keepdim, c.ref);
          expect(r.shape, `${c.name} ${JSON.stringify({ shape, dim, keepdim })}`).toEqual(e.shape);
          expect(r.dtype).toBe('float64');
          expectClose(r, e.values, { ...tolerance.float64, what: `${c.name} ${JSON.stringify({ shape, dim, keepdim })}` });
        }
      }
    });

    it(`${c.name} in float32, float16 and bfloat16 (half types accumulate in float32)`, () => {
      for (const dtype of ['float32', 'float16', 'bfloat16'] as const) {
        for (const { shape, dim } of [{ shape: [6, 70], dim: 1 }, { shape: [70, 6], dim: 0 }, { shape: [3, 4, 5], dim: [0, 2] }]) {
          const x = make(randomValues(11, numel(shape), c.lo ?? -1, c.hi ?? 1), shape, dtype);
          const r = c.run(x, dim, false);
          expect(r.dtype).toBe(dtype);
          const e = refReduce(valuesOf(x), shape, normDims(dim, shape.length), false, c.ref);
          expectClose(r, e.values, { ...tolerance[dtype], what: `${c.name} ${dtype} ${JSON.stringify(dim)}` });
        }
      }
    });
  }

  it('reads non-contiguous inputs: transposed, sliced with a step, expanded', () => {
    const base = make(randomValues(3, 6 * 8 * 5), [6, 8, 5]);
    const views: [string, Tensor][] = [
      ['transposed', base.transpose(0, 2)],
      ['permuted', base.permute(1, 2, 0)],
      ['stepped slice', base.slice(1, 1, 8, 3)],
      ['expanded', make(randomValues(4, 5), [5, 1]).expand(5, 9)],
      ['expanded inner', make(randomValues(5, 4), [1, 4]).expand(7, 4)],
    ];
    for (const [what, v] of views) {
      for (let d = -1; d < v.ndim; d++) {
        const dim = d < 0 ? undefined : d;
        const vals = valuesOf(v);
        for (const [name, got, ref] of [
          ['sum', sum(v, dim), refSum], ['amax', amax(v, dim), refMax], ['var', variance(v, dim), refVar(1)],
          ['argmax', dim === undefined ? argmax(v) : argmax(v, dim), refArgmax],
        ] as const) {
          const e = refReduce(vals, v.shape, normDims(dim, v.ndim), false, ref);
          expectClose(got, e.values, { ...tolerance.float64, what: `${name} ${what} dim ${String(dim)}` });
        }
      }
    }
  });

  it('long reductions: pairwise accuracy, split across threads / blocks, deterministic', () => {
    // rows: few outputs with long rows; columns: few long columns; one output of everything
    for (const [shape, dim] of [[[3, 100_003], 1], [[100_003, 3], 0], [[200_001], 0], [[17, 5000, 3], [0, 1]]] as const) {
      const x = make(randomValues(7, numel(shape), 0, 1), [...shape], 'float32');
      const r = sum(x, dim);
      const e = refReduce(valuesOf(x), shape, normDims(dim as number | number[], shape.length), false, refSum);
      // float32 inputs accumulate in float64: the result is the float64 sum rounded to float32
      expectClose(r, e.values, { rtol: 1e-7, atol: 0, what: `sum ${JSON.stringify(shape)}` });
      expect(valuesOf(sum(x, dim as number | number[]))).toEqual(valuesOf(r));   // bitwise repeatable
      expectClose(mean(x, dim), e.values.map((v) => v / (numel(shape) / e.values.length)), { rtol: 1e-7, atol: 0 });
      const ev = refReduce(valuesOf(x), shape, normDims(dim as number | number[], shape.length), false, refVar(1));
      expectClose(variance(x, dim), ev.values, { rtol: 1e-6, atol: 0, what: `var ${JSON.stringify(shape)}` });
      if (typeof dim === 'number') {
        const ea = refReduce(valuesOf(x), shape, [dim], false, refArgmax);
        expect(valuesOf(argmax(x, dim))).toEqual(ea.values);
        expect(valuesOf(max(x, dim).values)).toEqual(refReduce(valuesOf(x), shape, [dim], false, refMax).values);
      }
    }
  });

  it('reduced dims that do not merge (a conv bias gradient: N, H, W of NCHW) fold as their contiguous copy does, bitwise', () => {
    // the CPU walks them in runs of the innermost dim and folds each leaf as it folds a contiguous
    // one; on CUDA the two layouts may round differently, within the float64 reference's tolerance
    for (const shape of [[8, 16, 16, 16], [3, 5, 7, 9], [2, 4, 1, 300], [5, 3, 17, 1]] as const) {
      // full 53-bit mantissas (randomValues' 32 random bits would sum exactly in any order)
      const x = make(randomValues(11, numel(shape), -1, 1).map((v) => Math.exp(3 * v) - 1.5), [...shape], 'float64');
      const strided = sum(x, [0, 2, 3]);
      const copy = sum(x.permute([1, 0, 2, 3]).contiguous(), [1, 2, 3]);
      if (dev === 'cpu') expect(valuesOf(strided), `sum ${JSON.stringify(shape)}`).toEqual(valuesOf(copy));
      expectClose(strided, refReduce(valuesOf(x), shape, [0, 2, 3], false, refSum).values, { rtol: 1e-12, atol: 1e-12 });
      const m = amax(x, [0, 2, 3]);
      expect(valuesOf(m)).toEqual(valuesOf(amax(x.permute([1, 0, 2, 3]).contiguous(), [1, 2, 3])));
    }
  });

  it('float16 / bfloat16 sums accumulate in float32 (a half accumulator would stall)', () => {
    // 2048 + 1 rounds back to 2048 in float16, 256 + 1 to 256 in bfloat16
    expect(sum(full([5000], 1, { dtype: 'float16', device: dev })).item()).toBe(5000);
    expect(sum(full([1000], 1, { dtype: 'bfloat16', device: dev })).item()).toBe(1000);
    expect(mean(full([3000], 1, { dtype: 'float16', device: dev })).item()).toBe(1);
  });

  it('integer and bool sums and products give int64, exactly', () => {
    const i32 = make([1, 2, 3, 4, 5, 6], [2, 3], 'int32');
    expect(sum(i32).dtype).toBe('int64');
    expect(sum(i32, 0).toArray()).toEqual([5, 7, 9]);
    expect(prod(i32, 1).toArray()).toEqual([6, 120]);
    expect(prod(i32, 1).dtype).toBe('int64');
    // beyond int32 and beyond float64's exact range when accumulated in float64
    const big = make([3e9, 3e9, 3e9, 1], [4], 'int64');
    expect(sum(big).item()).toBe(9e9 + 1);
    const i64 = tensor(new BigInt64Array([2n ** 60n, 1n, -(2n ** 60n), 1n]), { device: dev });
    expect(sum(i64).toTypedArray()[0]).toBe(2n);
    const b = make([1, 0, 1, 1, 0, 1], [2, 3], 'bool');
    expect(sum(b).dtype).toBe('int64');
    expect(sum(b, 1).toArray()).toEqual([2, 2]);
    expect(prod(b, 0).toArray()).toEqual([1, 0, 1]);
    expect(amax(i32, 1).toArray()).toEqual([3, 6]);
    expect(amin(i32, 0).dtype).toBe('int32');
    expect(amax(b, 1).toArray()).toEqual([true, true]);
    expect(amin(b, 1).toArray()).toEqual([false, false]);
    expect(argmax(i32).item()).toBe(5);
    expect(max(make([5, -2, 7, 7], [4], 'int64'), 0).indices.item()).toBe(2);
  });

  it('any and all on bool, integer and float tensors (NaN counts as true)', () => {
    const b = make([0, 0, 1, 1, 0, 1], [3, 2], 'bool');
    expect(any(b, 1).toArray()).toEqual([false, true, true]);
    expect(all(b, 1).toArray()).toEqual([false, true, false]);
    expect(any(b).item()).toBe(true);
    expect(all(b).item()).toBe(false);
    expect(any(make([0, 0, 2], [3], 'int32')).item()).toBe(true);
    expect(all(make([NaN, 1, -1], [3], 'float32')).item()).toBe(true);
    expect(any(make([0, -0, 0], [3], 'float64')).item()).toBe(false);
    expect(any(b, 0, true).shape).toEqual([1, 2]);
    expect(any(b).dtype).toBe('bool');
    expect(x2().any(1).toArray()).toEqual([true, true]);
  });
  const x2 = () => make([1, 0, 3, 0, 5, 0], [2, 3]);

  it('max / min along a dim return values and indices (first occurrence; NaN wins)', () => {
    for (const { shape, dim } of [{ shape: [4, 6], dim: 1 }, { shape: [4, 6], dim: 0 }, { shape: [3, 4, 5], dim: -2 }]) {
      // few distinct values: many ties
      const vals = randomValues(21, numel(shape), 0, 4).map(Math.floor);
      const x = make(vals, shape);
      const d = dim < 0 ? dim + shape.length : dim;
      for (const keepdim of [false, true]) {
        const mx = max(x, dim, keepdim), mn = x.min(dim, keepdim);
        const ev = refReduce(vals, shape, [d], keepdim, refMax), ei = refReduce(vals, shape, [d], keepdim, refArgmax);
        expect(mx.values.shape).toEqual(ev.shape);
        expect(mx.indices.shape).toEqual(ev.shape);
        expect(mx.indices.dtype).toBe('int64');
        expect(valuesOf(mx.values)).toEqual(ev.values);
        expect(valuesOf(mx.indices)).toEqual(ei.values);
        expect(valuesOf(mn.values)).toEqual(refReduce(vals, shape, [d], keepdim, refMin).values);
        expect(valuesOf(mn.indices)).toEqual(refReduce(vals, shape, [d], keepdim, refArgmin).values);
        expect(valuesOf(argmax(x, dim, keepdim))).toEqual(ei.values);
        expect(valuesOf(argmin(x, dim, keepdim))).toEqual(refReduce(vals, shape, [d], keepdim, refArgmin).values);
      }
    }
    const n = make([1, NaN, 3, NaN, -Infinity, 2], [2, 3]);
    expect(toNumbers(max(n, 1).values.toTypedArray())).toEqual([NaN, NaN]);
    expect(max(n, 1).indices.toArray()).toEqual([1, 0]);
    expect(min(n, 1).indices.toArray()).toEqual([1, 0]);
    expect(Number.isNaN(max(n).item())).toBe(true);
    expect(Number.isNaN(amin(n).item())).toBe(true);
    expect(argmax(n).item()).toBe(1);
    expect(argmin(make([3, -Infinity, -Infinity], [3])).item()).toBe(1);
    expect(argmax(make([-Infinity, -Infinity], [2])).item()).toBe(0);
    expect(amax(make([-Infinity, -Infinity], [2])).item()).toBe(-Infinity);
    // with a tensor, max/min are elementwise (torch.max(a, b))
    expect(max(make([1, 5], [2]), make([4, 2], [2])).toArray()).toEqual([4, 5]);
    expect(make([1, 5], [2]).min(make([4, 2], [2])).toArray()).toEqual([1, 2]);
    expect(make([1, 5, 2], [3]).max().item()).toBe(5);
  });

  it('argmax / argmin without dim index the flattened tensor; keepdim keeps every dim as 1', () => {
    const vals = randomValues(31, 24);
    const x = make(vals, [2, 3, 4]);
    expect(argmax(x).item()).toBe(refArgmax(vals));
    expect(argmin(x).item()).toBe(refArgmin(vals));
    expect(argmax(x, undefined, true).shape).toEqual([1, 1, 1]);
    const t = x.transpose(0, 2);   // flattened in the view's own row-major order
    expect(argmax(t).item()).toBe(refArgmax(valuesOf(t)));
  });

  it('var / std with a correction; n <= correction gives NaN or inf (as PyTorch)', () => {
    const x = make([1, 2, 3, 4], [4]);
    expect(variance(x).item()).toBeCloseTo(5 / 3, 12);
    expect(x.var(0, { correction: 0 }).item()).toBeCloseTo(1.25, 12);
    expect(std(x, 0, { correction: 2 }).item()).toBeCloseTo(Math.sqrt(2.5), 12);
    expect(Number.isNaN(variance(make([7], [1])).item())).toBe(true);
    expect(variance(make([7, 9], [2]), 0, { correction: 3 }).item()).toBe(Infinity);
    expect(kiln.var(x).item()).toBeCloseTo(5 / 3, 12);   // exported under torch's name as well
    // large offset: Welford does not cancel catastrophically
    const off = make([1e8 + 1, 1e8 + 2, 1e8 + 3], [3], 'float64');
    expect(variance(off).item()).toBeCloseTo(1, 6);
    expect(std(x, 0, { keepdim: true }).shape).toEqual([1]);
  });

  it('logsumexp is stable for large values and handles infinities; integers become float32', () => {
    expectClose(logsumexp(make([1000, 1000], [2]), 0), [1000 + Math.log(2)], { rtol: 1e-12 });
    expectClose(logsumexp(make([-1000, -1000], [2]), 0), [-1000 + Math.log(2)], { rtol: 1e-12 });
    expect(logsumexp(make([-Infinity, -Infinity], [2]), 0).item()).toBe(-Infinity);
    expect(logsumexp(make([Infinity, 1], [2]), 0).item()).toBe(Infinity);
    expect(logsumexp(make([-Infinity, 0], [2]), 0).item()).toBe(0);
    expect(Number.isNaN(logsumexp(make([NaN, 1], [2]), 0).item())).toBe(true);
    const li = logsumexp(make([1, 2, 3], [3], 'int64'), 0);
    expect(li.dtype).toBe('float32');
    expectClose(li, [refLse([1, 2, 3])], { rtol: 1e-6 });
    expect(x2().logsumexp([0, 1], true).shape).toEqual([1, 1]);
  });

  it('empty reductions: sum 0, prod 1, mean NaN, any false, all true, logsumexp -inf', () => {
    const e = zeros([0, 3], { device: dev, dtype: 'float64' });
    expect(sum(e, 0).toArray()).toEqual([0, 0, 0]);
    expect(prod(e, 0).toArray()).toEqual([1, 1, 1]);
    expect(toNumbers(mean(e, 0).toTypedArray()).every(Number.isNaN)).toBe(true);
    expect(any(e, 0).toArray()).toEqual([false, false, false]);
    expect(all(e, 0).toArray()).toEqual([true, true, true]);
    expect(logsumexp(e, 0).toArray()).toEqual([-Infinity, -Infinity, -Infinity]);
    expect(toNumbers(variance(e, 0).toTypedArray()).every(Number.isNaN)).toBe(true);
    expect(sum(e).item()).toBe(0);
    expect(sum(e, 1).shape).toEqual([0]);
    expect(sum(e, 1, true).shape).toEqual([0, 1]);
    // max-like reductions of a non-empty dim of an empty tensor are fine
    expect(amax(e, 1).shape).toEqual([0]);
    expect(max(e, 1).indices.shape).toEqual([0]);
    expect(sum(zeros([0], { dtype: 'int32', device: dev })).item()).toBe(0);
  });

  it('0-d inputs: the scalar itself; dim 0 / -1 accepted', () => {
    const s = full([], 2.5, { dtype: 'float64', device: dev });
    expect(sum(s).item()).toBe(2.5);
    expect(sum(s, 0).shape).toEqual([]);
    expect(sum(s, -1, true).shape).toEqual([]);
    expect(mean(s).item()).toBe(2.5);
    expect(amax(s, 0).item()).toBe(2.5);
    const m = max(s, 0);
    expect(m.values.item()).toBe(2.5);
    expect(m.indices.item()).toBe(0);
    expect(argmax(s).item()).toBe(0);
    expect(Number.isNaN(variance(s).item())).toBe(true);
    expect(variance(s, undefined, { correction: 0 }).item()).toBe(0);
    expectError(() => sum(s, 1), ShapeError, { op: 'sum', argument: 'dim', expected: 'a dimension in [-1, 0]', got: '1' });
  });

  it('errors name the op and the argument', () => {
    const x = make([1, 2, 3, 4, 5, 6], [2, 3]);
    expectError(() => sum(x, 2), ShapeError, { op: 'sum', argument: 'dim', expected: 'a dimension in [-2, 1]', got: '2' });
    expectError(() => sum(x, -3), ShapeError, { op: 'sum', argument: 'dim', expected: 'a dimension in [-2, 1]', got: '-3' });
    expectError(() => sum(x, [0, -2]), ShapeError, { op: 'sum', argument: 'dim', expected: 'distinct dimensions', got: '[0, -2]' });
    expectError(() => sum(x, 0.5), ShapeError, { op: 'sum', argument: 'dim', expected: 'a dimension in [-2, 1]', got: '0.5' });
    expectError(() => sum(x, 0, 'yes' as unknown as boolean), ValueError, { op: 'sum', argument: 'keepdim', expected: 'a boolean', got: 'yes' });
    expectError(() => mean(make([1, 2], [2], 'int64')), DTypeError, { op: 'mean', argument: 'input', got: 'int64' });
    expectError(() => mean(make([1, 0], [2], 'bool')), DTypeError, { op: 'mean', argument: 'input', got: 'bool' });
    expectError(() => variance(make([1, 2], [2], 'int32')), DTypeError, { op: 'var', argument: 'input', got: 'int32' });
    expectError(() => std(make([1, 2], [2], 'int32')), DTypeError, { op: 'std', argument: 'input', got: 'int32' });
    expectError(() => variance(x, 0, { correction: NaN }), ValueError, { op: 'var', argument: 'correction', expected: 'a finite number', got: 'NaN' });
    const e = zeros([2, 0], { device: dev });
    expectError(() => amax(e, 1), ValueError, { op: 'amax', argument: 'dim', got: 'dimension 1 of size 0 in a tensor of shape [2, 0]' });
    expectError(() => amin(e), ValueError, { op: 'amin', argument: 'dim', got: 'dimension 1 of size 0 in a tensor of shape [2, 0]' });
    expectError(() => max(e), ValueError, { op: 'amax', argument: 'dim', got: 'dimension 1 of size 0 in a tensor of shape [2, 0]' });
    expectError(() => max(e, 1), ValueError, { op: 'max_dim', argument: 'dim', got: 'dimension 1 of size 0 in a tensor of shape [2, 0]' });
    expectError(() => min(e, -1), ValueError, { op: 'min_dim', argument: 'dim', got: 'dimension 1 of size 0 in a tensor of shape [2, 0]' });
    expectError(() => argmax(e), ValueError, { op: 'argmax', argument: 'dim', got: 'dimension 1 of size 0 in a tensor of shape [2, 0]' });
    expectError(() => argmin(e, 1), ValueError, { op: 'argmin', argument: 'dim', got: 'dimension 1 of size 0 in a tensor of shape [2, 0]' });
    expectError(() => max(x, [0, 1] as unknown as number), ShapeError, { op: 'max_dim', argument: 'dim', expected: 'one dimension (a number)', got: '[0, 1]' });
    expectError(() => argmax(x, [0] as unknown as number), ShapeError, { op: 'argmax', argument: 'dim', expected: 'one dimension (a number) or undefined', got: '[0]' });
    const d = make([1], [1]);
    d.dispose();
    expectError(() => sum(d), DisposedError, { op: 'sum' });
  });

  it('methods mirror the functions', () => {
    const x = make([1, 2, 3, 4, 5, 6], [2, 3]);
    expect(x.sum().item()).toBe(21);
    expect(x.sum(1, true).toArray()).toEqual([[6], [15]]);
    expect(x.mean(0).toArray()).toEqual([2.5, 3.5, 4.5]);
    expect(x.prod().item()).toBe(720);
    expect(x.amax(0).toArray()).toEqual([4, 5, 6]);
    expect(x.amin(1).toArray()).toEqual([1, 4]);
    expect(x.max(1).indices.toArray()).toEqual([2, 2]);
    expect(x.min().item()).toBe(1);
    expect(x.argmax().item()).toBe(5);
    expect(x.argmin(1).toArray()).toEqual([0, 0]);
    expect(x.gt(3).all(1).toArray()).toEqual([false, true]);
    expect(x.std(undefined, { correction: 0 }).item()).toBeCloseTo(Math.sqrt(35 / 12), 12);
  });
});

// ---- what autograd records ------------------------------------------------------------------

forEachDevice('reductions record for autograd', (dev) => {
  const recorded = recordOpsInEachTest();

  it('records dims (sorted, normalised), keepdim, correction, and max_dim outputs', () => {
    const x = tensor(randomValues(1, 24), { device: dev, dtype: 'float32' }).reshape(2, 3, 4).requiresGrad_();
    sum(x, [-1, 0], true);
    expect(recorded.at(-1)).toMatchObject({ op: 'sum', attrs: { dims: [0, 2], keepdim: true } });
    expect(recorded.at(-1)!.inputs[0]).toBe(x);
    mean(x);
    expect(recorded.at(-1)).toMatchObject({ op: 'mean', attrs: { dims: [0, 1, 2], keepdim: false } });
    variance(x, 1, { correction: 0 });
    expect(recorded.at(-1)).toMatchObject({ op: 'var', attrs: { dims: [1], keepdim: false, correction: 0 } });
    std(x);
    expect(recorded.at(-1)).toMatchObject({ op: 'std', attrs: { correction: 1 } });
    const m = max(x, -2);
    const rec = recorded.at(-1)!;
    expect(rec).toMatchObject({ op: 'max_dim', attrs: { dims: [1], dim: 1, keepdim: false } });
    expect(rec.outputs).toEqual([m.values, m.indices]);
    min(x, 0, true);
    expect(recorded.at(-1)).toMatchObject({ op: 'min_dim', attrs: { dims: [0], keepdim: true } });
    max(x);
    expect(recorded.at(-1)).toMatchObject({ op: 'amax', attrs: { dims: [0, 1, 2] } });
    for (const [f, op] of [[prod, 'prod'], [amin, 'amin'], [logsumexp, 'logsumexp']] as const) {
      f(x, 2);
      expect(recorded.at(-1)).toMatchObject({ op, attrs: { dims: [2], keepdim: false } });
    }
  });
});
