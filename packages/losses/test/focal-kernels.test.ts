// The focal-loss kernels on every device against the float64 reference, through the kernel
// layer (kernels.ts); the autograd Function is tested in sigmoid-focal-loss.test.ts.
import { describe, expect, it } from 'vitest';
import { tensor, zeros, type Tensor } from '@kiln/tensor';
import { expectClose, forEachDevice, randomValues, testRng, expectError } from '@kiln/tensor/testing';
import { focalBackward, focalForward, prepareFocal } from '../src/sigmoid-focal-loss/kernels.js';
import { refBinary, refSoft } from './focal-reference.js';

function refIndex(x: number[], N: number, C: number, t: number[], gamma: number, alpha: number, background: 'first' | 'last') {
  const loss = new Array<number>(N * C).fill(0), grad = new Array<number>(N * C).fill(0);
  let valid = 0;
  for (let n = 0; n < N; n++) {
    if (t[n] < 0) continue;
    valid++;
    const cls = background === 'first' ? t[n] - 1 : t[n] === C ? -1 : t[n];
    for (let c = 0; c < C; c++) {
      const [l, g] = refBinary(x[n * C + c], cls === c, { gamma, alpha });
      loss[n * C + c] = l;
      grad[n * C + c] = g;
    }
  }
  return { loss, grad, valid };
}

const sum = (a: number[]) => a.reduce((p, v) => p + v, 0);

forEachDevice('sigmoid focal loss kernels', (dev) => {
  for (const dtype of ['float64', 'float32'] as const) {
    const tol = dtype === 'float64' ? { rtol: 1e-10, atol: 1e-12 } : { rtol: 1e-5, atol: 1e-7 };
    for (const [N, C] of [[7, 5], [64, 80], [3, 1], [1000, 4]] as const) {
      for (const gamma of [0, 0.5, 2, 5]) {
        it(`${dtype} index targets N=${N} C=${C} gamma=${gamma}: none/sum/mean loss and gradient`, () => {
          const rng = testRng(N * 31 + C + gamma * 7);
          const xs = randomValues(N + C, N * C, -6, 6);
          const ts = Array.from({ length: N }, () => Math.floor(rng() * (C + 2)) - 1);   // -1..C
          const x = tensor(xs, { dtype, device: dev }).reshape([N, C]);
          const t = tensor(ts, { dtype: 'int64', device: dev });
          const ref = refIndex(xs, N, C, ts, gamma, 0.25, 'first');
          const none = prepareFocal(x, t, { gamma, alpha: 0.25, reduction: 'none' });
          expectClose(focalForward(none, false).loss, ref.loss, { ...tol, what: 'loss' });
          const go = randomValues(5, N * C);
          const gNone = focalBackward(none, tensor(go, { dtype, device: dev }).reshape([N, C]), undefined);
          expectClose(gNone, ref.grad.map((g, i) => g * go[i]), { ...tol, what: 'grad (none)' });
          for (const reduction of ['sum', 'mean'] as const) {
            const f = prepareFocal(x, t, { gamma, alpha: 0.25, reduction });
            const div = reduction === 'sum' ? 1 : ref.valid * C;
            const scale = div > 0 ? 1 / div : 0;
            const r = focalForward(f, true);
            expectClose([r.loss.item()], [sum(ref.loss) * scale], { ...tol, what: `${reduction} loss` });
            expectClose(r.grad!, ref.grad.map((g) => g * scale), { ...tol, what: `${reduction} fused grad` });
            const g2 = focalBackward(f, tensor(0.5, { dtype, device: dev }), r.count);
            expectClose(g2, ref.grad.map((g) => 0.5 * g * scale), { ...tol, what: `${reduction} backward kernel` });
          }
        });
      }
    }
    it(`${dtype} float (soft) targets, weights and class weights`, () => {
      const N = 9, C = 6;
      const xs = randomValues(1, N * C, -8, 8), ts = randomValues(2, N * C, 0, 1);
      const ws = randomValues(3, N * C, 0, 2), cws = randomValues(4, C, 0, 2);
      const rowW = randomValues(5, N, 0, 2);
      const x = tensor(xs, { dtype, device: dev }).reshape([N, C]);
      const t = tensor(ts, { dtype, device: dev }).reshape([N, C]);
      for (const alpha of [0.25, -1]) {
        const ref = xs.map((v, i) => refSoft(v, ts[i], { gamma: 2, alpha }).map((r) => r * ws[i] * cws[i % C]));
        const f = prepareFocal(x, t, { gamma: 2, alpha, reduction: 'mean', weight: tensor(ws, { dtype, device: dev }).reshape([N, C]), classWeight: tensor(cws, { dtype, device: dev }) });
        const r = focalForward(f, true);
        expectClose([r.loss.item()], [sum(ref.map((v) => v[0])) / (N * C)], { ...tol, what: 'soft mean' });
        expectClose(r.grad!, ref.map((v) => v[1] / (N * C)), { ...tol, what: 'soft grad' });
        const refRow = xs.map((v, i) => refSoft(v, ts[i], { gamma: 2, alpha }).map((q) => q * rowW[Math.floor(i / C)]));
        const fr = prepareFocal(x, t, { gamma: 2, alpha, reduction: 'none', weight: tensor(rowW, { dtype, device: dev }) });
        expectClose(focalForward(fr, false).loss, refRow.map((v) => v[0]), { ...tol, what: 'per-row weight' });
      }
    });
  }

  it('matches the spec reference values (background last, divided by N rows)', () => {
    const x = tensor([[1, 0], [0, 1]], { dtype: 'float32', device: dev });
    const t = tensor([0, 1], { dtype: 'int64', device: dev });
    const f = prepareFocal(x, t, { gamma: 2, alpha: 0.25, reduction: 'sum', backgroundClass: 'last' });
    const r = focalForward(f, true);
    expect(r.loss.item()).toBeCloseTo(0.27125922, 7);
    expectClose(r.grad!, [-0.01314528, 0.2237151, 0.2237151, -0.01314528], { rtol: 1e-6, atol: 1e-8 });
    // mmcv's mean divides by N = 2 rows: avgFactor reproduces it
    const m = focalForward(prepareFocal(x, t, { gamma: 2, alpha: 0.25, reduction: 'mean', backgroundClass: 'last', avgFactor: 2 }), true);
    expect(m.loss.item()).toBeCloseTo(0.13562961, 7);
    expectClose(m.grad!, [-0.00657264, 0.11185755, 0.11185755, -0.00657264], { rtol: 1e-6, atol: 1e-8 });
  });

  it('is finite for logits in [-1e4, 1e4] with every gamma, including gamma = 0 at p = 1', () => {
    const xs = [-1e4, -1e3, -100, -88, -30, -10, 0, 10, 30, 88, 100, 1e3, 1e4];
    for (const dtype of ['float32', 'float64'] as const) {
      for (const gamma of [0, 0.25, 1, 2]) {
        const x = tensor(xs.map((v) => [v, v]), { dtype, device: dev });
        const t = tensor(xs.map((_, i) => (i % 3) - 0), { dtype: 'int64', device: dev });   // 0, 1, 2: background and both classes
        const f = prepareFocal(x, t, { gamma, alpha: 0.25, reduction: 'none' });
        const loss = focalForward(f, false).loss.toTypedArray() as Float32Array;
        const grad = focalBackward(f, tensor(1, { dtype, device: dev }).reshape([1, 1]).expand([xs.length, 2]), undefined).toTypedArray();
        for (const v of [...loss, ...(grad as Float32Array)]) expect(Number.isFinite(v)).toBe(true);
        const ref = xs.flatMap((v, i) => [0, 1].map((c) => refBinary(v, (i % 3) - 1 === c, { gamma, alpha: 0.25 })));
        expectClose(loss, ref.map((r) => r[0]), { rtol: 1e-5, atol: 1e-30, what: `loss gamma=${gamma} ${dtype}` });
        expectClose(grad, ref.map((r) => r[1]), { rtol: 1e-5, atol: 1e-30, what: `grad gamma=${gamma} ${dtype}` });
      }
    }
  });

  it('gives the same result for non-contiguous inputs', () => {
    const N = 33, C = 12;
    const xs = randomValues(9, N * C, -5, 5);
    const base = tensor(xs, { device: dev }).reshape([C, N]);
    const xT = base.t();   // [N, C], strides [1, N]
    const t = tensor(Array.from({ length: 2 * N }, (_, i) => i % (C + 1)), { dtype: 'int32', device: dev }).slice(0, 0, undefined, 2);
    const a = focalForward(prepareFocal(xT, t, { gamma: 2, alpha: 0.25, reduction: 'mean' }), true);
    const b = focalForward(prepareFocal(xT.contiguous(), t.contiguous(), { gamma: 2, alpha: 0.25, reduction: 'mean' }), true);
    expectClose(a.loss, b.loss, { rtol: 1e-6 });
    expectClose(a.grad!, b.grad!, { rtol: 1e-6 });
    const n1 = focalForward(prepareFocal(xT, t, { gamma: 2, alpha: 0.25, reduction: 'none' }), false).loss;
    const n2 = focalForward(prepareFocal(xT.contiguous(), t.contiguous(), { gamma: 2, alpha: 0.25, reduction: 'none' }), false).loss;
    expectClose(n1, n2, { rtol: 1e-6 });
  });

  it('handles N = 0, C = 0, all-ignored rows (loss 0, zero gradient) and leading dims', () => {
    const empty = focalForward(prepareFocal(zeros([0, 80], { device: dev }), zeros([0], { dtype: 'int64', device: dev }), { gamma: 2, alpha: 0.25, reduction: 'mean' }), true);
    expect(empty.loss.item()).toBe(0);
    expect(empty.grad!.shape).toEqual([0, 80]);
    // no classes: every row is background only, nothing to sum (the CPU's row loop once divided by C)
    for (const reduction of ['mean', 'sum'] as const) {
      for (const fuse of [true, false]) {
        const noClasses = focalForward(prepareFocal(zeros([4, 0], { device: dev }), tensor([0, 0, 0, 0], { dtype: 'int64', device: dev }), { gamma: 2, alpha: 0.25, reduction }), fuse);
        expect(noClasses.loss.item(), `${reduction}, fused gradient ${fuse}`).toBe(0);
        if (fuse) expect(noClasses.grad!.shape).toEqual([4, 0]);
      }
    }
    const ign = focalForward(prepareFocal(tensor([[1, 2], [3, 4]], { dtype: 'float32', device: dev }), tensor([-1, -5], { dtype: 'int64', device: dev }), { gamma: 2, alpha: 0.25, reduction: 'mean' }), true);
    expect(ign.loss.item()).toBe(0);
    expect(ign.grad!.toArray()).toEqual([[0, 0], [0, 0]]);
    const x3 = tensor(randomValues(3, 2 * 3 * 4), { device: dev }).reshape([2, 3, 4]);
    const t3 = tensor([[0, 1, 2], [3, 4, -1]], { dtype: 'int64', device: dev });
    const r3 = focalForward(prepareFocal(x3, t3, { gamma: 2, alpha: 0.25, reduction: 'none' }), false).loss;
    expect(r3.shape).toEqual([2, 3, 4]);
    expectClose(r3.reshape([6, 4]), focalForward(prepareFocal(x3.reshape([6, 4]), t3.reshape([6]), { gamma: 2, alpha: 0.25, reduction: 'none' }), false).loss, { rtol: 1e-7 });
  });

  it('rejects out-of-range targets, bad shapes, dtypes and options with typed errors', async () => {
    const { ValueError, ShapeError, DTypeError } = await import('@kiln/tensor');
    const x = tensor([[1, 2, 3]], { dtype: 'float32', device: dev });
    const sync = (r: { loss: Tensor }) => r.loss.item();
    expectError(() => sync(focalForward(prepareFocal(x, tensor([4], { dtype: 'int64', device: dev }), { gamma: 2, alpha: 0.25, reduction: 'sum' }), false)), ValueError, { op: 'sigmoid_focal_loss', argument: 'target', expected: 'a negative value (ignored row), 0 (background) or 1..3 (class t - 1)', got: '4' });
    expectError(() => sync(focalForward(prepareFocal(x, tensor([[0, 2, 1]], { dtype: 'float32', device: dev }), { gamma: 2, alpha: 0.25, reduction: 'sum' }), false)), ValueError, { op: 'sigmoid_focal_loss', argument: 'target', expected: '[0, 1]', got: '2.000000' });
    expectError(() => prepareFocal(x, tensor([1, 2], { dtype: 'int64', device: dev }), { gamma: 2, alpha: 0.25, reduction: 'sum' }), ShapeError, { op: 'sigmoid_focal_loss', argument: 'target', expected: 'class indices of shape [1] (input is [1, 3])', got: '[2]' });
    expectError(() => prepareFocal(x, tensor([[0, 1]], { dtype: 'float32', device: dev }), { gamma: 2, alpha: 0.25, reduction: 'sum' }), ShapeError, { op: 'sigmoid_focal_loss', argument: 'target', expected: "float targets of the input's shape [1, 3]", got: '[1, 2]' });
    expectError(() => prepareFocal(tensor([[1, 2]], { dtype: 'int64', device: dev }), tensor([1], { dtype: 'int64', device: dev }), { gamma: 2, alpha: 0.25, reduction: 'sum' }), DTypeError, { op: 'sigmoid_focal_loss', argument: 'input', expected: 'a floating-point tensor (logits)', got: 'int64' });
    expectError(() => prepareFocal(x, tensor([1], { dtype: 'int64', device: dev }), { gamma: -1, alpha: 0.25, reduction: 'sum' }), ValueError, { op: 'sigmoid_focal_loss', argument: 'gamma', expected: 'a finite number >= 0', got: '-1' });
    expectError(() => prepareFocal(x, tensor([1], { dtype: 'int64', device: dev }), { gamma: 2, alpha: 1.5, reduction: 'sum' }), ValueError, { op: 'sigmoid_focal_loss', argument: 'alpha', expected: 'a number <= 1 (negative disables the weighting)', got: '1.5' });
    expectError(() => prepareFocal(x, tensor([1], { dtype: 'int64', device: dev }), { gamma: 2, alpha: 0.25, reduction: 'avg' as 'sum' }), ValueError, { op: 'sigmoid_focal_loss', argument: 'reduction', expected: "'none', 'mean' or 'sum'", got: '"avg"' });
    expectError(() => prepareFocal(x, tensor([1], { dtype: 'int64', device: dev }), { gamma: 2, alpha: 0.25, reduction: 'mean', avgFactor: 0 }), ValueError, { op: 'sigmoid_focal_loss', argument: 'avgFactor', expected: 'a finite number > 0', got: '0' });
    expectError(() => prepareFocal(x, tensor([1], { dtype: 'int64', device: dev }), { gamma: 2, alpha: 0.25, reduction: 'sum', weight: tensor([1, 2], { dtype: 'float32', device: dev }) }), ShapeError, { op: 'sigmoid_focal_loss', argument: 'weight', expected: 'per-element weights [1, 3] or per-row weights [1]', got: '[2]' });
    expectError(() => prepareFocal(x, tensor([1], { dtype: 'int64', device: dev }), { gamma: 2, alpha: 0.25, reduction: 'sum', classWeight: tensor([1, 2], { dtype: 'float32', device: dev }) }), ShapeError, { op: 'sigmoid_focal_loss', argument: 'classWeight', expected: 'one weight per class: shape [3]', got: '[2]' });
  });
});

describe('sigmoid focal loss kernels: devices', () => {
  it('rejects targets on another device', async () => {
    const { cudaAvailable } = await import('@kiln/tensor/testing');
    if (!cudaAvailable()) return;
    const { DeviceError } = await import('@kiln/tensor');
    expectError(() => prepareFocal(tensor([[1, 2]], { dtype: 'float32', device: 'cuda' }), tensor([1], { dtype: 'int64' }), { gamma: 2, alpha: 0.25, reduction: 'sum' }),
      DeviceError, { op: 'sigmoid_focal_loss', argument: 'target' });
  });
});
