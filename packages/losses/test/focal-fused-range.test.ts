// The fused forward + gradient of the sigmoid focal loss (reduction 'sum'/'mean' with the gradient
// requested: on the CPU the vectorised row loop, on the GPU the 4-wide kernel when C % 4 == 0) over
// the whole logit range, against the float64 reference: logits out to ±1e4, around the points where
// exp(-|x|) leaves the normal range (|x| ~ 87.3) and rounds to 0 (|x| ~ 103.9), and near 0; every
// value both as the positive class and as a negative. C = 80 fills whole vectors (16 and 8 lanes);
// C = 37 leaves a remainder; C = 3 rows are short (the CPU's loop runs contiguous rows as one flat
// run, cut into blocks without regard to where rows end). The per-element checks ('none') are in focal-kernels.test.ts.
import { describe, expect, it } from 'vitest';
import { tensor } from '@kiln/tensor';
import { expectClose, forEachDevice, randomValues } from '@kiln/tensor/testing';
import { focalBackward, focalForward, prepareFocal } from '../src/sigmoid-focal-loss/kernels.js';
import { refBinary } from './focal-reference.js';

const EDGES = [
  -1e4, -1e3, -150, -104, -103.9, -100, -88, -87.3, -87, -50, -30, -17, -10, -3, -1, -1e-3, -1e-30, 0,
  1e-30, 1e-3, 1, 3, 10, 17, 30, 50, 87, 87.3, 88, 100, 103.9, 104, 150, 1e3, 1e4,
];

/**
 * Rows of C logits holding every edge value in the positive column and in a negative one; row n's
 * positive class is n % C (target n % C + 1, the background first). C at least the edges' count: 2C rows, the edge
 * values in the first columns, then random fill. Shorter rows: C rows per edge value, all of it.
 */
function cases(C: number) {
  if (C < EDGES.length) {
    const N = EDGES.length * C;
    const xs = Array.from({ length: N * C }, (_, i) => EDGES[Math.floor(i / (C * C))]);
    const ts = Array.from({ length: N }, (_, n) => (n % C) + 1);
    return { N, xs, ts };
  }
  const N = 2 * C;
  const fill = randomValues(C, N * C, -20, 20);
  // the edge values in the first columns of every row: row n's positive column n % C meets each of them
  const xs = fill.map((v, i) => (i % C < EDGES.length ? EDGES[i % C] : v));
  const ts = Array.from({ length: N }, (_, n) => (n % C) + 1);
  return { N, xs, ts };
}

forEachDevice('sigmoid focal loss fused gradient over the logit range', (dev) => {
  for (const C of [80, 37, 3]) {
    const { N, xs, ts } = cases(C);
    for (const gamma of [0, 0.25, 2, 5]) {
      const ref = xs.map((v, i) => refBinary(v, ts[Math.floor(i / C)] - 1 === i % C, { gamma, alpha: 0.25 }));
      for (const dtype of ['float32', 'float64'] as const) {
        it(`${dtype} C=${C} gamma=${gamma}: loss and gradient finite and within tolerance`, () => {
          // float32: the spec's 1e-5 relative; in the subnormal range (below 1.2e-38,
          // spaced 1.4e-45) 1e-44
          // absolute, so a kernel that flushed exp(-|x|) to 0 or to FLT_MIN past |x| = 87.3 would fail;
          // float64: the same formula in double, far tighter
          const tol = dtype === 'float32' ? { rtol: 1e-5, atol: 1e-44 } : { rtol: 1e-10, atol: 1e-300 };
          const x = tensor(xs, { dtype, device: dev }).reshape([N, C]);
          const t = tensor(ts, { dtype: 'int64', device: dev });
          const f = prepareFocal(x, t, { gamma, alpha: 0.25, reduction: 'sum' });
          const r = focalForward(f, true);
          const grad = r.grad!.toTypedArray() as Float32Array | Float64Array;
          expect(grad.every((v) => Number.isFinite(v)), 'gradient finite').toBe(true);
          expectClose(grad, ref.map((v) => v[1]), { ...tol, what: 'fused gradient' });
          const loss = r.loss.item();
          expect(Number.isFinite(loss)).toBe(true);
          expectClose([loss], [ref.reduce((s, v) => s + v[0], 0)], { rtol: tol.rtol, what: 'sum' });
          expectClose(focalBackward(f, tensor(1, { dtype, device: dev }), undefined), ref.map((v) => v[1]), { ...tol, what: 'backward kernel' });
        });
      }
    }
  }

  for (const dtype of ['float32', 'float64'] as const) {
    it(`${dtype}: a NaN logit gives NaN at its element and in the sum, and nowhere else`, () => {
      const C = 80, N = 3;
      const xs = randomValues(7, N * C, -5, 5);
      xs[5] = NaN;        // a negative of row 0
      xs[C + 17] = NaN;   // the positive of row 1
      const ts = [3, 18, 0];
      const f = prepareFocal(tensor(xs, { dtype, device: dev }).reshape([N, C]), tensor(ts, { dtype: 'int64', device: dev }), { gamma: 2, alpha: 0.25, reduction: 'sum' });
      const r = focalForward(f, true);
      expect(Number.isNaN(r.loss.item())).toBe(true);
      const g = Array.from(r.grad!.toTypedArray() as Float32Array | Float64Array);
      expect(g.map((v, i) => (Number.isNaN(v) ? i : -1)).filter((i) => i >= 0)).toEqual([5, C + 17]);
    });
  }

  for (const dtype of ['float32', 'float64'] as const) {
    it(`${dtype}: short rows (C = 3) across blocks: ignored rows give 0 whatever their logits, a bad target is an error`, () => {
      const C = 3, N = 1500;   // several of the CPU's blocks of rows
      const xs = randomValues(11, N * C, -8, 8);
      const ts = Array.from({ length: N }, (_, n) => (n % 7 === 3 ? -1 : n % (C + 1)));   // -1 ignored, 0 background
      xs[3 * C] = NaN; xs[3 * C + 1] = Infinity; xs[10 * C + 2] = -Infinity;   // rows 3 and 10 are ignored
      const ref = xs.map((v, i) => {
        const t = ts[Math.floor(i / C)];
        return t < 0 ? [0, 0] : refBinary(v, t - 1 === i % C, { gamma: 2, alpha: 0.25 });
      });
      const f = prepareFocal(tensor(xs, { dtype, device: dev }).reshape([N, C]), tensor(ts, { dtype: 'int64', device: dev }), { gamma: 2, alpha: 0.25, reduction: 'sum' });
      const r = focalForward(f, true);
      const tol = dtype === 'float32' ? { rtol: 1e-5, atol: 1e-7 } : { rtol: 1e-10, atol: 1e-12 };
      expectClose(r.grad!, ref.map((v) => v[1]), { ...tol, what: 'fused gradient' });
      expectClose([Number(r.loss.item())], [ref.reduce((s, v) => s + v[0], 0)], { rtol: tol.rtol, what: 'sum' });
      const bad = [...ts];
      bad[1234] = C + 1;
      expect(() => focalForward(prepareFocal(tensor(xs, { dtype, device: dev }).reshape([N, C]), tensor(bad, { dtype: 'int64', device: dev }), { gamma: 2, alpha: 0.25, reduction: 'sum' }), true).loss.item())
        .toThrow(/target/);
    });
  }

  for (const dtype of ['float32', 'float64'] as const) {
    it(`${dtype}: long rows across the CPU's blocks, rows that are views of wider ones, ignored rows, the loss without its gradient`, () => {
      // [N, C, row stride]: C = 300 and 700 span blocks of 256 logits, a row's positive in any of them
      // (also its last column); a stride above C makes the rows a view (each row on its own)
      for (const [N, C, stride] of [[9, 300, 300], [5, 700, 700], [40, 80, 96], [7, 300, 333]] as const) {
        const xs = randomValues(N + C, N * stride, -8, 8);
        const ts = Array.from({ length: N }, (_, n) => (n % 4 === 2 ? -1 : n === 1 ? C : (n * 37) % (C + 1)));   // -1 ignored, 0 background
        const ref = Array.from({ length: N * C }, (_, i) => {
          const n = Math.floor(i / C), c = i % C;
          return ts[n] < 0 ? [0, 0] : refBinary(xs[n * stride + c], ts[n] - 1 === c, { gamma: 2, alpha: 0.25 });
        });
        const x = tensor(xs, { dtype, device: dev }).reshape([N, stride]).slice(1, 0, C);
        const t = tensor(ts, { dtype: 'int64', device: dev });
        const tol = dtype === 'float32' ? { rtol: 1e-5, atol: 1e-7 } : { rtol: 1e-10, atol: 1e-12 };
        const what = `N=${N} C=${C} stride=${stride}`;
        const f = prepareFocal(x, t, { gamma: 2, alpha: 0.25, reduction: 'sum' });
        const r = focalForward(f, true);
        expectClose(r.grad!, ref.map((v) => v[1]), { ...tol, what: `${what}: fused gradient` });
        const refSum = ref.reduce((s, v) => s + v[0], 0);
        expectClose([r.loss.item()], [refSum], { rtol: tol.rtol, what: `${what}: sum` });
        expectClose([focalForward(f, false).loss.item()], [refSum], { rtol: tol.rtol, what: `${what}: sum without the gradient` });
      }
    });
  }

  for (const dtype of ['float16', 'bfloat16'] as const) {
    it(`${dtype}: the fused mean and gradient are finite for logits out to ±1e4`, () => {
      const C = 80;
      const { N, xs, ts } = cases(C);
      const f = prepareFocal(tensor(xs, { device: dev }).to(dtype).reshape([N, C]), tensor(ts, { dtype: 'int64', device: dev }), { gamma: 2, alpha: 0.25, reduction: 'mean' });
      const r = focalForward(f, true);
      expect(r.grad!.dtype).toBe(dtype);
      expect(Number.isFinite(r.loss.item())).toBe(true);
      expect((r.grad!.to('float32').toTypedArray() as Float32Array).every((v) => Number.isFinite(v))).toBe(true);
    });
  }
});

describe('focal-fused-range cases', () => {
  it('put every edge value in the positive column and in a negative one', () => {
    for (const C of [80, 37, 3]) {
      const { N, xs, ts } = cases(C);
      const pos = new Set<number>(), neg = new Set<number>();
      xs.forEach((v, i) => (ts[Math.floor(i / C)] - 1 === i % C ? pos : neg).add(v));
      for (const e of EDGES) {
        expect(pos.has(e), `C=${C} positive ${e}`).toBe(true);
        expect(neg.has(e), `C=${C} negative ${e}`).toBe(true);
      }
      expect(N).toBe(C < EDGES.length ? EDGES.length * C : 2 * C);
    }
  });
});
