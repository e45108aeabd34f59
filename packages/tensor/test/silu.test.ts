/**
 * silu(x) = x * sigmoid(x): the elementwise op added by docs/adding-an-op.md, against a float64
 * reference on every device (its gradient is gradchecked in packages/autograd/test/derivatives-unary.test.ts).
 */
import { expect, it } from 'vitest';
import { type DType, type Tensor, DTypeError, DisposedError, silu, tensor } from '@kiln/tensor';
import { expectClose, forEachDevice, randomValues, toNumbers, expectError } from '@kiln/tensor/testing';

/** The reference, in float64: x / (1 + e^-x) for x >= 0 and x e^x / (1 + e^x) below (no overflow). */
function refSilu(x: number): number {
  if (x >= 0) return x / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return (x * e) / (1 + e);
}

const tolerance: Record<string, { rtol: number; atol: number }> = {
  float64: { rtol: 1e-14, atol: 1e-15 },
  float32: { rtol: 2e-6, atol: 1e-7 },
  float16: { rtol: 2e-3, atol: 1e-3 },
  bfloat16: { rtol: 1.6e-2, atol: 8e-3 },
};

const valuesOf = (t: Tensor): number[] => toNumbers(t.toTypedArray());

forEachDevice('silu', (dev) => {
  it('matches the float64 reference in every float dtype', () => {
    const xs = randomValues(1, 257, -8, 8);
    for (const dtype of ['float64', 'float32', 'float16', 'bfloat16'] as DType[]) {
      const x = tensor(xs, { dtype, device: dev });
      const y = silu(x);
      expect(y.dtype).toBe(dtype);
      expect(y.shape).toEqual([257]);
      // the reference of the values as stored (rounded to the dtype)
      expectClose(y, valuesOf(x).map(refSilu), { ...tolerance[dtype], what: dtype });
    }
  });

  it('is the method form too, and gives x * sigmoid(x)', () => {
    const x = tensor(randomValues(2, 12, -3, 3), { dtype: 'float64', device: dev }).reshape([3, 4]);
    expectClose(x.silu(), silu(x), { rtol: 0, atol: 0 });
    expectClose(x.silu(), x.mul(x.sigmoid()), { rtol: 1e-15, atol: 1e-16 });
  });

  it('does not overflow for large |x|, keeps NaN, and silu(+inf) = inf', () => {
    const vals = [-1000, -100, -30, 0, 30, 100, 1000, NaN, Infinity];
    for (const dtype of ['float64', 'float32'] as DType[]) {
      const y = silu(tensor(vals, { dtype, device: dev }));
      expectClose(y, vals.map(refSilu), { ...tolerance[dtype], what: dtype });
    }
  });

  it('reads non-contiguous views: transposed, strided slices, expanded', () => {
    const base = tensor(randomValues(3, 24, -5, 5), { dtype: 'float64', device: dev }).reshape([4, 6]);
    const views: [string, Tensor][] = [
      ['transposed', base.transpose(0, 1)],
      ['strided slice', base.slice(1, 1, undefined, 2)],
      ['expanded', base.slice(0, 0, 1).expand([3, 6])],
    ];
    for (const [what, v] of views) {
      expect(v.isContiguous, what).toBe(false);
      expectClose(silu(v), valuesOf(v).map(refSilu), { ...tolerance.float64, what });
    }
  });

  it('handles empty tensors and 0-d scalars', () => {
    const e = silu(tensor([], { dtype: 'float32', device: dev }).reshape([0, 3]));
    expect(e.shape).toEqual([0, 3]);
    const s = silu(tensor(1.5, { dtype: 'float64', device: dev }));
    expect(s.shape).toEqual([]);
    expect(s.item()).toBeCloseTo(refSilu(1.5), 14);
  });

  it('computes integer and bool inputs in the default float dtype', () => {
    const i = silu(tensor([-2, 0, 3], { dtype: 'int64', device: dev }));
    expect(i.dtype).toBe('float32');
    expectClose(i, [-2, 0, 3].map(refSilu), tolerance.float32);
    const b = silu(tensor([true, false], { device: dev }));
    expect(b.dtype).toBe('float32');
    expectClose(b, [refSilu(1), 0], tolerance.float32);
  });

  it('errors: a disposed input, and silu_ into an integer tensor', () => {
    const x = tensor([1, 2], { dtype: 'float32', device: dev });
    x.dispose();
    expectError(() => silu(x), DisposedError, { op: 'silu', message: /silu/ });
    const n = tensor([1, 2], { dtype: 'int32', device: dev }) as Tensor & { silu_(): Tensor };
    expectError(() => n.silu_(), DTypeError, { op: 'silu_', argument: 'self', expected: 'a dtype the result (float32) can be cast to', got: 'int32' });
  });

  it('silu_ writes in place', () => {
    const x = tensor([-1, 0.5, 2], { dtype: 'float64', device: dev }) as Tensor & { silu_(): Tensor };
    const before = x.version;
    expect(x.silu_()).toBe(x);
    expect(x.version).toBe(before + 1);
    expectClose(x, [-1, 0.5, 2].map(refSilu), tolerance.float64);
  });
});
