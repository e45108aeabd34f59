import { expect, it } from 'vitest';
import {
  type DType, type Tensor, DTypeError, ShapeError, full, logSoftmax, logSoftmaxBackward, softmax, softmaxBackward, tensor, zeros,
} from '@kiln/tensor';
import { expectClose, forEachDevice, randomValues, toNumbers, recordOpsInEachTest, expectError } from '@kiln/tensor/testing';

// ---- float64 references ---------------------------------------------------------------------

const numel = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

/** Applies f to every row along `dim` of row-major values of `shape` (f maps a row to a row). */
function alongDim(vals: readonly number[], shape: readonly number[], dim: number, f: (...rows: number[][]) => number[], ...others: (readonly number[])[]): number[] {
  const out = new Array<number>(vals.length);
  if (shape.length === 0) return f([...vals], ...others.map((o) => [...o]));
  const d = dim < 0 ? dim + shape.length : dim;
  const inner = numel(shape.slice(d + 1)), n = shape[d], outer = numel(shape.slice(0, d));
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const at = (j: number) => o * n * inner + j * inner + i;
      const rows = [vals, ...others].map((v) => Array.from({ length: n }, (_, j) => v[at(j)]));
      const r = f(...rows);
      r.forEach((v, j) => { out[at(j)] = v; });
    }
  }
  return out;
}

const rowMax = (r: number[]) => r.reduce((a, b) => (b > a || Number.isNaN(b) ? b : a), -Infinity);
function refSoftmax(r: number[]): number[] {
  const m = rowMax(r);
  if (!Number.isFinite(m)) return r.map(() => NaN);
  const e = r.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}
function refLogSoftmax(r: number[]): number[] {
  const m = rowMax(r);
  if (!Number.isFinite(m)) return r.map(() => NaN);
  const lse = m + Math.log(r.reduce((a, x) => a + Math.exp(x - m), 0));
  return r.map((x) => x - lse);
}
const refSoftmaxBackward = (g: number[], y: number[]) => {
  const dot = g.reduce((a, gi, i) => a + gi * y[i], 0);
  return y.map((yi, i) => yi * (g[i] - dot));
};
const refLogSoftmaxBackward = (g: number[], y: number[]) => {
  const s = g.reduce((a, b) => a + b, 0);
  return g.map((gi, i) => gi - Math.exp(y[i]) * s);
};

const valuesOf = (t: Tensor): number[] => toNumbers(t.toTypedArray());

const tolerance: Record<string, { rtol: number; atol: number }> = {
  float64: { rtol: 1e-12, atol: 1e-14 },
  float32: { rtol: 2e-6, atol: 1e-7 },
  float16: { rtol: 2e-3, atol: 2e-4 },
  bfloat16: { rtol: 1.6e-2, atol: 2e-3 },
};

// rows (last dim), columns (an outer dim with a contiguous inner dim), long rows, long columns
const layouts: { shape: number[]; dim: number }[] = [
  { shape: [9], dim: 0 },
  { shape: [4, 7], dim: 1 },
  { shape: [4, 7], dim: 0 },
  { shape: [4, 7], dim: -2 },
  { shape: [2, 3, 5], dim: 1 },
  { shape: [3, 2000], dim: 1 },
  { shape: [300, 20], dim: 0 },
  { shape: [2, 3, 4, 5], dim: 1 },
];

forEachDevice('softmax', (dev) => {
  const make = (vals: number[], shape: number[], dtype: DType = 'float64') => tensor(vals, { dtype, device: dev }).reshape(shape);

  for (const [name, f, ref] of [['softmax', softmax, refSoftmax], ['logSoftmax', logSoftmax, refLogSoftmax]] as const) {
    it(`${name} matches a float64 reference along any dim`, () => {
      let seed = 1;
      for (const { shape, dim } of layouts) {
        const x = make(randomValues(seed++, numel(shape), -4, 4), shape);
        const y = f(x, dim);
        expect(y.shape).toEqual(shape);
        expect(y.dtype).toBe('float64');
        expectClose(y, alongDim(valuesOf(x), shape, dim, ref), { ...tolerance.float64, what: `${name} ${JSON.stringify({ shape, dim })}` });
      }
    });

    it(`${name} in float32, float16 and bfloat16 (half types computed in float32)`, () => {
      for (const dtype of ['float32', 'float16', 'bfloat16'] as const) {
        for (const { shape, dim } of [{ shape: [5, 33], dim: 1 }, { shape: [33, 5], dim: 0 }, { shape: [2, 40, 3], dim: 1 }]) {
          const x = make(randomValues(5, numel(shape), -3, 3), shape, dtype);
          const y = f(x, dim);
          expect(y.dtype).toBe(dtype);
          expectClose(y, alongDim(valuesOf(x), shape, dim, ref), { ...tolerance[dtype], what: `${name} ${dtype} dim ${dim}` });
        }
      }
    });

    it(`${name} reads non-contiguous inputs: transposed, sliced with a step, expanded`, () => {
      const base = make(randomValues(9, 6 * 8 * 5, -2, 2), [6, 8, 5]);
      const views: [string, Tensor][] = [
        ['transposed', base.transpose(0, 2)],
        ['permuted', base.permute(1, 2, 0)],
        ['stepped slice', base.slice(1, 1, 8, 3)],
        ['expanded', make(randomValues(4, 5), [5, 1]).expand(5, 9)],
      ];
      for (const [what, v] of views) {
        for (let d = 0; d < v.ndim; d++) {
          expectClose(f(v, d), alongDim(valuesOf(v), v.shape, d, ref), { ...tolerance.float64, what: `${name} ${what} dim ${d}` });
        }
      }
    });
  }

  it('is stable for large values; -inf entries get probability 0; non-finite rows give NaN (as PyTorch)', () => {
    expectClose(softmax(make([1000, 1001, 1002], [3]), 0), refSoftmax([0, 1, 2]), { rtol: 1e-12 });
    expectClose(softmax(make([-1000, -1001], [2], 'float32'), 0), refSoftmax([0, -1]), { rtol: 1e-6 });
    expectClose(logSoftmax(make([0, -1000], [2]), 0), [0, -1000], { rtol: 1e-12 });   // no log(0) = -inf
    expect(softmax(make([-Infinity, 0, -Infinity], [3]), 0).toArray()).toEqual([0, 1, 0]);
    expect(logSoftmax(make([-Infinity, 0], [2]), 0).toArray()).toEqual([-Infinity, 0]);
    for (const row of [[-Infinity, -Infinity], [NaN, 1], [Infinity, 1]]) {
      expect(valuesOf(softmax(make(row, [2]), 0)).every(Number.isNaN), JSON.stringify(row)).toBe(true);
      expect(valuesOf(logSoftmax(make(row, [2]), 0)).every(Number.isNaN), JSON.stringify(row)).toBe(true);
    }
    // one bad row does not spill into the others
    expect(valuesOf(softmax(make([NaN, 1, 2, 2], [2, 2]), 1)).slice(2)).toEqual([0.5, 0.5]);
  });

  it('rows sum to 1 on long rows and long columns', () => {
    for (const [shape, dim] of [[[2, 100_000], 1], [[50_000, 3], 0]] as const) {
      const x = make(randomValues(3, numel(shape), -10, 10), [...shape], 'float32');
      const s = softmax(x, dim).sum(dim);
      expectClose(s, new Array(s.numel).fill(1), { rtol: 2e-6, atol: 0, what: `sum of softmax ${JSON.stringify(shape)}` });
    }
  });

  it('0-d and empty tensors', () => {
    const s = full([], 3, { dtype: 'float64', device: dev });
    expect(softmax(s, 0).item()).toBe(1);
    expect(softmax(s, -1).shape).toEqual([]);
    expect(logSoftmax(s, 0).item()).toBe(0);
    expect(softmax(zeros([0, 3], { device: dev }), 1).shape).toEqual([0, 3]);
    expect(softmax(zeros([3, 0], { device: dev }), 1).shape).toEqual([3, 0]);
    expect(logSoftmax(zeros([3, 0], { device: dev }), 0).shape).toEqual([3, 0]);
    expect(softmaxBackward(zeros([2, 0], { device: dev }), zeros([2, 0], { device: dev }), 1).shape).toEqual([2, 0]);
  });

  for (const [name, back, fwd, ref] of [
    ['softmaxBackward', softmaxBackward, softmax, refSoftmaxBackward],
    ['logSoftmaxBackward', logSoftmaxBackward, logSoftmax, refLogSoftmaxBackward],
  ] as const) {
    it(`${name} matches the reference formula along any dim, for strided operands and all float dtypes`, () => {
      let seed = 40;
      for (const { shape, dim } of layouts) {
        const x = make(randomValues(seed++, numel(shape), -3, 3), shape);
        const g = make(randomValues(seed++, numel(shape)), shape);
        const y = fwd(x, dim);
        const dx = back(g, y, dim);
        expect(dx.shape).toEqual(shape);
        expectClose(dx, alongDim(valuesOf(g), shape, dim, ref, valuesOf(y)), { ...tolerance.float64, what: `${name} ${JSON.stringify({ shape, dim })}` });
      }
      const x = make(randomValues(1, 24), [4, 6]);
      const gT = make(randomValues(2, 24), [6, 4]).t();   // transposed grad
      const y = fwd(x, 0);
      expectClose(back(gT, y, 0), alongDim(valuesOf(gT), [4, 6], 0, ref, valuesOf(y)), { ...tolerance.float64 });
      for (const dtype of ['float32', 'float16', 'bfloat16'] as const) {
        const xh = make(randomValues(3, 40, -2, 2), [5, 8], dtype), gh = make(randomValues(4, 40), [5, 8], dtype);
        const yh = fwd(xh, 1);
        const dxh = back(gh, yh, 1);
        expect(dxh.dtype).toBe(dtype);
        expectClose(dxh, alongDim(valuesOf(gh), [5, 8], 1, ref, valuesOf(yh)), { rtol: tolerance[dtype].rtol * 4, atol: tolerance[dtype].atol * 4, what: `${name} ${dtype}` });
      }
    });

    it(`${name} is the derivative of ${fwd.name} (finite differences)`, () => {
      const xs = randomValues(77, 5, -2, 2), gs = randomValues(78, 5);
      const loss = (v: number[]) => valuesOf(fwd(make(v, [5]), 0)).reduce((a, yi, i) => a + gs[i] * yi, 0);
      const dx = valuesOf(back(make(gs, [5]), fwd(make(xs, [5]), 0), 0));
      const h = 1e-6;
      const numeric = xs.map((_, i) => {
        const p = [...xs], m = [...xs];
        p[i] += h;
        m[i] -= h;
        return (loss(p) - loss(m)) / (2 * h);
      });
      expectClose(dx, numeric, { rtol: 1e-6, atol: 1e-8 });
    });
  }

  it('errors name the op and the argument', () => {
    const x = make([1, 2, 3, 4], [2, 2]);
    expectError(() => softmax(x, 2), ShapeError, { op: 'softmax', argument: 'dim', expected: 'a dimension in [-2, 1]', got: '2' });
    expectError(() => logSoftmax(x, -3), ShapeError, { op: 'log_softmax', argument: 'dim', expected: 'a dimension in [-2, 1]', got: '-3' });
    expectError(() => softmax(x, undefined as unknown as number), ShapeError, { op: 'softmax', argument: 'dim', expected: 'a dimension (a number)', got: 'undefined' });
    expectError(() => softmax(make([1, 2], [2], 'int64'), 0), DTypeError, { op: 'softmax', argument: 'input', expected: 'a floating-point tensor', got: 'int64' });
    expectError(() => logSoftmax(make([1, 0], [2], 'bool'), 0), DTypeError, { op: 'log_softmax', argument: 'input', expected: 'a floating-point tensor', got: 'bool' });
    const y = softmax(x, 1);
    expectError(() => softmaxBackward(make([1, 2], [2]), y, 1), ShapeError, { op: 'softmax_backward', argument: 'grad', expected: "output's shape [2, 2]", got: '[2]' });
    expectError(() => softmaxBackward(make([1, 2, 3, 4], [2, 2], 'float32'), y, 1), DTypeError, { op: 'softmax_backward', argument: 'grad', expected: "output's dtype (float64)", got: 'float32' });
    expectError(() => logSoftmaxBackward(y, y, 5), ShapeError, { op: 'log_softmax_backward', argument: 'dim', expected: 'a dimension in [-2, 1]', got: '5' });
    expectError(() => logSoftmaxBackward(make([1, 2], [2], 'int32'), make([1, 2], [2], 'int32'), 0), DTypeError, { op: 'log_softmax_backward', argument: 'output', expected: 'a floating-point tensor', got: 'int32' });
  });

  it('methods mirror the functions', () => {
    const x = make([1, 2, 3, 4], [2, 2]);
    expectClose(x.softmax(1), softmax(x, 1), { rtol: 0, atol: 0 });
    expectClose(x.logSoftmax(0), logSoftmax(x, 0), { rtol: 0, atol: 0 });
  });
});

forEachDevice('softmax records for autograd', (dev) => {
  const recorded = recordOpsInEachTest();

  it('records the normalised dim', () => {
    const x = tensor(randomValues(1, 6), { device: dev }).reshape(2, 3).requiresGrad_();
    softmax(x, -1);
    expect(recorded.at(-1)).toMatchObject({ op: 'softmax', attrs: { dim: 1 } });
    expect(recorded.at(-1)!.inputs[0]).toBe(x);
    logSoftmax(x, -2);
    expect(recorded.at(-1)).toMatchObject({ op: 'log_softmax', attrs: { dim: 0 } });
  });
});
