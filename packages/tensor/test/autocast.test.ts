// autocast: every op with a declared policy, on every device, in both low dtypes: outputs' dtypes,
// values against float64 references (within the low dtype's tolerance for 'lower' ops, float32's for
// 'float32' ops, which compute from the half inputs' exact values), nested and disabled scopes, the
// state per device type, and no memory left behind. Gradients and the weight cast cache need
// autograd: packages/autograd/test/autocast-grad.test.ts.
import { afterEach, expect, it } from 'vitest';
import {
  type AutocastDType, type DType, type Tensor, ValueError, allOps, autocast, bmm, cat, conv2d, conv2dBackwardInput, conv2dBackwardWeight, dot,
  exp, expm1, getAutocastDtype, isAutocastEnabled, linear, log, log1p, log2, logSoftmax, logsumexp, matmul, mean, memoryStats, mm, prod, rsqrt,
  softmax, softplus, stack, std, sum, tensor, variance, where,
} from '@kiln/tensor';
import { expectClose, expectError, forEachDensePath, forEachDevice, randomValues, settledAllocated, toNumbers } from '@kiln/tensor/testing';
import { refMatmul } from './matmul-reference.js';
import { type Win, refConv2d, refConv2dBackward } from './conv-reference.js';

const numel = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);
const valuesOf = (t: Tensor): number[] => toNumbers(t.toTypedArray());
const low: readonly AutocastDType[] = ['bfloat16', 'float16'];
// inputs in [-1, 1], at most 54 terms per output: the inputs' rounding and the output's
const lowTol: Record<AutocastDType, { rtol: number; atol: number }> = {
  bfloat16: { rtol: 1.6e-2, atol: 3e-2 }, float16: { rtol: 2e-3, atol: 6e-3 },
};
const f32Tol = { rtol: 2e-5, atol: 1e-6 };

const win: Win = { k: [3, 3], s: [2, 1], p: [1, 0], d: [1, 1] };
/** 'lower' ops on `dev`: each case runs the op on float32 inputs and returns its result and a float64 reference. */
function lowerCasesOn(dev: 'cpu' | 'cuda'): Record<string, (() => { y: Tensor; ref: number[]; shape: readonly number[] })[]> {
  const rand = (seed: number, shape: number[], dtype: DType = 'float32'): Tensor =>
    tensor(randomValues(seed, numel(shape)), { dtype, device: dev }).reshape(shape);
  const x4 = (): Tensor => rand(11, [2, 6, 7, 5]), w4 = (): Tensor => rand(12, [4, 3, 3, 3]), b1 = (): Tensor => rand(13, [4]);
  return {
    matmul: [
      () => { const a = rand(1, [2, 5, 24]), b = rand(2, [24, 7]); const r = refMatmul(valuesOf(a), a.shape, valuesOf(b), b.shape); return { y: matmul(a, b), ref: r.values, shape: r.shape }; },
      () => { const a = rand(3, [5, 24]), b = rand(4, [24, 3]); const r = refMatmul(valuesOf(a), a.shape, valuesOf(b), b.shape); return { y: mm(a, b), ref: r.values, shape: r.shape }; },
      () => { const a = rand(5, [3, 4, 24]), b = rand(6, [3, 24, 2]); const r = refMatmul(valuesOf(a), a.shape, valuesOf(b), b.shape); return { y: bmm(a, b), ref: r.values, shape: r.shape }; },
      () => { const a = rand(7, [33]), b = rand(8, [33]); return { y: dot(a, b), ref: refMatmul(valuesOf(a), a.shape, valuesOf(b), b.shape).values, shape: [] }; },
      // a non-contiguous operand (a transposed view)
      () => { const a = rand(9, [24, 5]).t(), b = rand(10, [24, 3]); const r = refMatmul(valuesOf(a.contiguous()), a.shape, valuesOf(b), b.shape); return { y: matmul(a, b), ref: r.values, shape: r.shape }; },
    ],
    linear: [() => {
      const x = rand(14, [3, 4, 24]), w = rand(15, [5, 24]), b = rand(16, [5]);
      const r = refMatmul(valuesOf(x), x.shape, valuesOf(w.t().contiguous()), [24, 5]);
      const bv = valuesOf(b);
      return { y: linear(x, w, b), ref: r.values.map((v, i) => v + bv[i % 5]), shape: [3, 4, 5] };
    }],
    conv2d: [() => {
      const x = x4(), w = w4(), b = b1();
      const r = refConv2d(valuesOf(x), x.shape, valuesOf(w), w.shape, valuesOf(b), win, 2);
      return { y: conv2d(x, w, b, { stride: [2, 1], padding: [1, 0], groups: 2 }), ref: r.data, shape: r.shape };
    }],
    conv2d_backward_input: [() => {
      const x = x4(), w = w4(), g = rand(17, [2, 4, 4, 3]);
      return { y: conv2dBackwardInput(g, w, x.shape, { stride: [2, 1], padding: [1, 0], groups: 2 }), ref: refConv2dBackward(valuesOf(x), x.shape, valuesOf(w), w.shape, valuesOf(g), win, 2).gx, shape: x.shape };
    }],
    conv2d_backward_weight: [() => {
      const x = x4(), w = w4(), g = rand(17, [2, 4, 4, 3]);
      return { y: conv2dBackwardWeight(g, x, w.shape, { stride: [2, 1], padding: [1, 0], groups: 2 }), ref: refConv2dBackward(valuesOf(x), x.shape, valuesOf(w), w.shape, valuesOf(g), win, 2).gw, shape: w.shape };
    }],
  };
}

forEachDevice('autocast', (dev) => {
  const rand = (seed: number, shape: number[], dtype: DType = 'float32', lo = -1, hi = 1): Tensor =>
    tensor(randomValues(seed, numel(shape), lo, hi), { dtype, device: dev }).reshape(shape);
  afterEach(() => {
    expect(isAutocastEnabled('cpu') || isAutocastEnabled('cuda'), 'a scope left open').toBe(false);
  });

  /** 'float32' ops on one [3, 5] input: the op and its float64 reference over the input's values (dim 1 where it takes one). */
  const rows = (v: number[], f: (r: number[]) => number[]): number[] => [0, 1, 2].flatMap((i) => f(v.slice(5 * i, 5 * i + 5)));
  const lse = (r: number[]): number => { const m = Math.max(...r); return m + Math.log(r.reduce((s, x) => s + Math.exp(x - m), 0)); };
  const varOf = (r: number[]): number => { const m = r.reduce((a, b) => a + b, 0) / r.length; return r.reduce((s, x) => s + (x - m) ** 2, 0) / (r.length - 1); };
  const f32Cases: Record<string, { run: (x: Tensor) => Tensor; ref: (v: number[]) => number[]; positive?: boolean }> = {
    exp: { run: exp, ref: (v) => v.map(Math.exp) },
    log: { run: log, ref: (v) => v.map(Math.log), positive: true },
    log1p: { run: log1p, ref: (v) => v.map(Math.log1p) },
    expm1: { run: expm1, ref: (v) => v.map(Math.expm1) },
    log2: { run: log2, ref: (v) => v.map(Math.log2), positive: true },
    rsqrt: { run: rsqrt, ref: (v) => v.map((x) => 1 / Math.sqrt(x)), positive: true },
    softplus: { run: softplus, ref: (v) => v.map((x) => Math.log1p(Math.exp(x))) },
    pow: { run: (x) => x.pow(2.5), ref: (v) => v.map((x) => x ** 2.5), positive: true },
    softmax: { run: (x) => softmax(x, 1), ref: (v) => rows(v, (r) => r.map((x) => Math.exp(x - lse(r)))) },
    log_softmax: { run: (x) => logSoftmax(x, 1), ref: (v) => rows(v, (r) => r.map((x) => x - lse(r))) },
    sum: { run: (x) => sum(x), ref: (v) => [v.reduce((a, b) => a + b, 0)] },
    mean: { run: (x) => mean(x, 1), ref: (v) => rows(v, (r) => [r.reduce((a, b) => a + b, 0) / 5]) },
    prod: { run: (x) => prod(x, 1), ref: (v) => rows(v, (r) => [r.reduce((a, b) => a * b, 1)]), positive: true },
    var: { run: (x) => variance(x, 1), ref: (v) => rows(v, (r) => [varOf(r)]) },
    std: { run: (x) => std(x, 1), ref: (v) => rows(v, (r) => [Math.sqrt(varOf(r))]) },
    logsumexp: { run: (x) => logsumexp(x, 1), ref: (v) => rows(v, (r) => [lse(r)]) },
  };

  /** 'promote' ops on a half tensor and a float32 one: the float32 result of the float64 reference. */
  const ew = (f: (a: number, b: number) => number) => (a: number[], b: number[]): number[] => a.map((x, i) => f(x, b[i]));
  const promoteCases: Record<string, { run: (a: Tensor, b: Tensor) => Tensor; ref: (a: number[], b: number[]) => number[] }> = {
    add: { run: (a, b) => a.add(b), ref: ew((x, y) => x + y) },
    sub: { run: (a, b) => a.sub(b), ref: ew((x, y) => x - y) },
    mul: { run: (a, b) => a.mul(b), ref: ew((x, y) => x * y) },
    div: { run: (a, b) => a.div(b), ref: ew((x, y) => x / y) },
    fmod: { run: (a, b) => a.fmod(b), ref: ew((x, y) => x % y) },
    remainder: { run: (a, b) => a.remainder(b), ref: ew((x, y) => x - Math.floor(x / y) * y) },
    floor_divide: { run: (a, b) => a.floorDivide(b), ref: ew((x, y) => Math.floor(x / y)) },
    maximum: { run: (a, b) => a.maximum(b), ref: ew(Math.max) },
    minimum: { run: (a, b) => a.minimum(b), ref: ew(Math.min) },
    where: { run: (a, b) => where(a.gt(0), a, b), ref: ew((x, y) => (x > 0 ? x : y)) },
    cat: { run: (a, b) => cat([a, b]), ref: (a, b) => [...a, ...b] },
  };

  it('every op that declares an autocast policy has its cases here (the lists come from the declarations)', () => {
    const declared = allOps().filter((o) => o.autocast !== undefined);
    const byPolicy = (p: string) => declared.filter((o) => o.autocast === p).map((o) => o.name).sort();
    expect(byPolicy('lower')).toEqual(Object.keys(lowerCasesOn(dev)).sort());
    expect(byPolicy('float32')).toEqual(Object.keys(f32Cases).sort());
    expect(byPolicy('promote')).toEqual(Object.keys(promoteCases).sort());
  });

  for (const dtype of low) {
    it(`'float32' ops compute in float32 from ${dtype} inputs`, () => {
      for (const [name, c] of Object.entries(f32Cases)) {
        const x = rand(21, [3, 5], dtype, c.positive ? 0.5 : -1, c.positive ? 2 : 1);
        const y = autocast({ deviceType: dev, dtype }, () => c.run(x));
        expect(y.dtype, name).toBe('float32');
        expectClose(y, c.ref(valuesOf(x)), { ...f32Tol, what: `${name} (${dtype} input)` });
        // outside a scope the same op stays in the half type
        expect(c.run(x).dtype, `${name} outside the scope`).toBe(dtype);
      }
    });

    it(`'promote' ops run ${dtype} with float32 in float32`, () => {
      for (const [name, c] of Object.entries(promoteCases)) {
        const a = rand(31, [4, 3], dtype), b = rand(32, [4, 3], 'float32', 0.5, 1);
        const y = autocast({ deviceType: dev, dtype }, () => c.run(a, b));
        expect(y.dtype, name).toBe('float32');
        expectClose(y, c.ref(valuesOf(a), valuesOf(b)), { ...f32Tol, what: name });
      }
      const s = autocast({ deviceType: dev, dtype }, () => stack([rand(33, [3], dtype), rand(34, [3])]));
      expect(s.dtype).toBe('float32');
    });
  }

  it('leaves float64 inputs of lower ops, and ops without a policy, as they are', () => {
    const a = rand(41, [3, 4], 'float64'), b = rand(42, [4, 2], 'float64');
    autocast({ deviceType: dev, dtype: 'bfloat16' }, () => {
      expect(matmul(a, b).dtype).toBe('float64');
      const h = rand(43, [3, 4], 'bfloat16');
      expect(h.relu().dtype).toBe('bfloat16');
      expect(h.sigmoid().dtype).toBe('bfloat16');
      expect(h.add(h).dtype).toBe('bfloat16');
    });
  });

  it("outputs of lower ops stay in the low dtype after the scope; in-place ops are left alone", () => {
    const a = rand(51, [3, 4]), b = rand(52, [4, 2]);
    const y = autocast({ deviceType: dev }, () => matmul(a, b));
    expect(y.dtype).toBe(dev === 'cuda' ? 'float16' : 'bfloat16');
    expect(matmul(a, b).dtype).toBe('float32');
    const h = rand(53, [4], 'bfloat16');
    autocast({ deviceType: dev }, () => h.exp_());
    expect(h.dtype).toBe('bfloat16');
  });

  it('nests: an inner scope changes the dtype or turns autocast off until it exits; the state is per device type', () => {
    const a = rand(61, [3, 4]), b = rand(62, [4, 2]);
    const other = dev === 'cpu' ? 'cuda' : 'cpu';
    autocast({ deviceType: dev, dtype: 'bfloat16' }, () => {
      expect(isAutocastEnabled(dev)).toBe(true);
      expect(isAutocastEnabled(other)).toBe(false);
      autocast({ deviceType: dev, dtype: 'float16' }, () => {
        expect(getAutocastDtype(dev)).toBe('float16');
        expect(matmul(a, b).dtype).toBe('float16');
        autocast({ deviceType: dev, enabled: false }, () => {
          expect(isAutocastEnabled(dev)).toBe(false);
          expect(matmul(a, b).dtype).toBe('float32');
        });
        expect(matmul(a, b).dtype).toBe('float16');
      });
      expect(matmul(a, b).dtype).toBe('bfloat16');
      // a scope for the other device type does not touch this one's ops
      autocast({ deviceType: other, enabled: false }, () => expect(matmul(a, b).dtype).toBe('bfloat16'));
    });
    autocast({ deviceType: other, dtype: 'bfloat16' }, () => expect(matmul(a, b).dtype).toBe('float32'));
    expect(getAutocastDtype('cuda')).toBe('float16');
    expect(getAutocastDtype('cpu')).toBe('bfloat16');
  });

  it('has a `using` form, which exits at the end of the block and in reverse order only', () => {
    const a = rand(71, [3, 4]), b = rand(72, [4, 2]);
    {
      using _ = autocast({ deviceType: dev, dtype: 'bfloat16' });
      expect(matmul(a, b).dtype).toBe('bfloat16');
    }
    expect(matmul(a, b).dtype).toBe('float32');
    const outer = autocast({ deviceType: dev });
    const inner = autocast({ deviceType: dev, enabled: false });
    expectError(() => outer.exit(), ValueError, { op: 'autocast', argument: 'scope' });
    inner.exit();
    outer.exit();
    outer.exit();   // a second exit does nothing
    expect(isAutocastEnabled(dev)).toBe(false);
  });

  it('exits when the body throws', () => {
    expect(() => autocast({ deviceType: dev }, () => { throw new Error('body'); })).toThrow('body');
    expect(isAutocastEnabled(dev)).toBe(false);
  });

  it('rejects bad options with typed errors naming the argument', () => {
    expectError(() => autocast({ deviceType: 'tpu' as 'cpu' }), ValueError, { op: 'autocast', argument: 'deviceType' });
    expectError(() => autocast({ deviceType: dev, dtype: 'float32' as 'float16' }), ValueError, { op: 'autocast', argument: 'dtype', got: 'float32' });
    expectError(() => autocast({ deviceType: dev, enabled: 1 as unknown as boolean }), ValueError, { op: 'autocast', argument: 'enabled' });
    expect(isAutocastEnabled(dev)).toBe(false);
  });

  it('frees the casts it made for an op once the op ran (nothing records them without autograd)', async () => {
    const a = rand(81, [64, 32]), b = rand(82, [32, 16]), x = rand(83, [2, 3, 9, 9]), w = rand(84, [4, 3, 3, 3]);
    const h = rand(85, [4, 8], 'bfloat16');
    // settled first: tensors earlier tests dropped must not come back in the middle of the check
    const before = await settledAllocated(dev);
    autocast({ deviceType: dev, dtype: 'bfloat16' }, () => {
      const outs = [matmul(a, b), conv2d(x, w), softmax(h, 1), sum(h), cat([h, a.narrow(0, 0, 4).narrow(1, 0, 8)])];
      for (const o of outs) o.dispose();
    });
    expect(memoryStats(dev).allocated).toBe(before);
  });
});

// On CUDA through every path of the dense families (cuBLASLt / cuDNN, and Kiln's own kernels).
forEachDensePath('autocast: lower ops', 'conv2d', (dev) => {
  const lowerCases = lowerCasesOn(dev);
  for (const dtype of low) {
    it(`'lower' ops compute in ${dtype} from float32 inputs and match float64 within ${dtype}'s tolerance`, () => {
      for (const [name, cases] of Object.entries(lowerCases)) {
        cases.forEach((make, i) => {
          const { y, ref, shape } = autocast({ deviceType: dev, dtype }, make);
          expect(y.dtype, `${name} case ${i}`).toBe(dtype);
          expect(y.shape, `${name} case ${i}`).toEqual(shape);
          expectClose(y, ref, { ...lowTol[dtype], what: `${name} case ${i} (${dtype})` });
        });
      }
    });
  }
});
