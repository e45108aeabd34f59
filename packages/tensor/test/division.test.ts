/**
 * fmod, remainder and floorDivide against references written independently of the kernels'
 * formulas: fixed values with Python's and C's answers, JS's own % (C's fmod) and BigInt arithmetic
 * for int64; signed zeros, infinities and NaN; integer division by zero refused; half types; and
 * CUDA against the CPU on strided inputs.
 */
import { expect, it } from 'vitest';
import * as K from '@kiln/tensor';
import { type DType, ValueError, tensor } from '@kiln/tensor';
import { expectError, forEachDevice } from '@kiln/tensor/testing';
import { type Dev, describeCudaVsCpu, expectCudaMatchesCpu, expectValues, make, randomOf, roundTo, values } from './elementwise-cases.js';

/** Python's a % b and a // b for numbers (as Python's float and int operators define them). */
const pyMod = (a: number, b: number): number => {
  const r = a % b;                                  // JS's % is C's fmod: exact, the sign of a
  return r !== 0 && (r < 0) !== (b < 0) ? r + b : r;
};

const ops = { fmod: K.fmod, remainder: K.remainder, floorDivide: K.floorDivide } as const;

forEachDevice('fmod, remainder, floorDivide', (dev: Dev) => {
  it('fixed values: the signs of C and Python, and quotients near whole numbers', () => {
    const a = [7, -7, 7, -7, 5.5, -5.5, 1, -1, 0.3, 1e300];
    const b = [2, 2, -2, -2, 2, 2, 0.1, 0.1, 0.1, 3];
    const fmod = [1, -1, 1, -1, 1.5, -1.5, 1 % 0.1, -(1 % 0.1), 0.3 % 0.1, 1e300 % 3];
    const rem = [1, 1, -1, -1, 1.5, 0.5, 1 % 0.1, 0.1 - (1 % 0.1), 0.3 % 0.1, 1e300 % 3];
    // Python: 1 // 0.1 == 9.0 (the true quotient is 9.99..., 1 / 0.1 rounds to 10), -1 // 0.1 == -10.0, 0.3 // 0.1 == 2.0
    const floordiv = [3, -4, -4, 3, 2, -3, 9, -10, 2, (1e300 - (1e300 % 3)) / 3];
    const x = tensor(a, { dtype: 'float64', device: dev }), y = tensor(b, { dtype: 'float64', device: dev });
    expect(values(K.fmod(x, y))).toEqual(fmod);
    expect(values(K.remainder(x, y))).toEqual(rem);
    expect(values(K.floorDivide(x, y))).toEqual(floordiv);
    const ints = tensor([7, -7, 7, -7, 0, 6], { dtype: 'int32', device: dev }), d = tensor([2, 2, -2, -2, 3, -3], { dtype: 'int32', device: dev });
    expect(values(K.fmod(ints, d))).toEqual([1, -1, 1, -1, 0, 0]);
    expect(values(K.remainder(ints, d))).toEqual([1, 1, -1, -1, 0, 0]);
    expect(values(K.floorDivide(ints, d))).toEqual([3, -4, -4, 3, 0, -2]);
  });

  it('float division by zero and special values follow IEEE and Python', () => {
    const x = tensor([1, -1, 0, -0, Infinity, NaN, 3, -3], { dtype: 'float64', device: dev });
    const y = tensor([0, 0, 0, 2, 2, 2, Infinity, Infinity], { dtype: 'float64', device: dev });
    expectValues(K.fmod(x, y), [NaN, NaN, NaN, -0, NaN, NaN, 3, -3], 'float64', 'fmod specials');
    // Python: -3 % inf == inf, 3 % inf == 3
    expectValues(K.remainder(x, y), [NaN, NaN, NaN, 0, NaN, NaN, 3, Infinity], 'float64', 'remainder specials');
    const q = values(K.floorDivide(x, y));
    expect(q.slice(0, 3)).toEqual([Infinity, -Infinity, NaN]);
    expect(Object.is(q[3], -0), 'floorDivide(-0, 2) is -0').toBe(true);
    expect(Object.is(values(K.floorDivide(tensor([0.5], { dtype: 'float64', device: dev }), -2))[0], -1)).toBe(true);
    expect(Object.is(values(K.floorDivide(tensor([-0.5], { dtype: 'float64', device: dev }), -2))[0], 0)).toBe(true);
    expect(Object.is(values(K.fmod(tensor([-4], { dtype: 'float64', device: dev }), 2))[0], -0), 'fmod keeps the sign of a zero result').toBe(true);
  });

  it('random operands of every dtype against the reference, tensor and scalar divisors', () => {
    for (const dtype of ['float64', 'float32', 'bfloat16', 'float16', 'int32', 'int64'] as DType[]) {
      const float = !dtype.startsWith('int');
      const a = randomOf(1, 600, dtype, -50, 50).map((v) => roundTo(dtype, v));
      const b = randomOf(2, 600, dtype, -7, 7).map((v) => roundTo(dtype, Math.abs(v) < 0.05 ? (float ? 1.5 : 3) : v));
      const x = make(a, [20, 30], dtype, dev), y = make(b, [20, 30], dtype, dev);
      expectValues(K.fmod(x, y), a.map((v, i) => v % b[i]), dtype, `fmod ${dtype}`);
      expectValues(K.remainder(x, y), a.map((v, i) => pyMod(v, b[i])), dtype, `remainder ${dtype}`);
      // floor of the quotient: Math.floor(a / b) is exact where a / b is far from a whole number
      const q = values(K.floorDivide(x, y));
      a.forEach((v, i) => {
        const r = v / b[i];
        if (!float || Math.abs(r - Math.round(r)) > 1e-6 * Math.max(1, Math.abs(r))) expect(q[i], `floorDivide ${dtype} ${v} // ${b[i]}`).toBe(float ? roundTo(dtype, Math.floor(r)) : Math.floor(r) + 0);
      });
      const s = float ? 2.5 : 3;
      expectValues(x.remainder(s), a.map((v) => pyMod(v, s)), dtype, `remainder ${dtype} by a scalar`);
      expectValues(K.remainder(s, y), b.map((v) => pyMod(s, v)), dtype, `a scalar remainder ${dtype}`);
    }
  });

  it('int64 beyond 2^53 is exact; INT_MIN by -1 wraps without trapping', () => {
    const big = [2n ** 62n + 12345n, -(2n ** 62n) - 7n];
    const x = tensor(new BigInt64Array(big), { device: dev }), d = tensor(new BigInt64Array([1000003n, 1000003n]), { device: dev });
    const fdiv = (p: bigint, q: bigint) => (p % q !== 0n && (p < 0n) !== (q < 0n) ? p / q - 1n : p / q);
    expect(Array.from(K.floorDivide(x, d).toTypedArray() as BigInt64Array)).toEqual(big.map((p) => fdiv(p, 1000003n)));
    expect(Array.from(K.remainder(x, d).toTypedArray() as BigInt64Array)).toEqual(big.map((p) => p - fdiv(p, 1000003n) * 1000003n));
    expect(Array.from(K.fmod(x, d).toTypedArray() as BigInt64Array)).toEqual(big.map((p) => p % 1000003n));
    const min = tensor(new Int32Array([-(2 ** 31), 5]), { device: dev });
    expect(values(K.floorDivide(min, -1))).toEqual([-(2 ** 31), -5]);
    expect(values(K.fmod(min, -1))).toEqual([0, 0]);
    expect(values(K.remainder(min, -1))).toEqual([0, 0]);
  });

  it('integer division by zero is a ValueError naming the op (scalar and tensor divisors, in place too)', () => {
    const x = tensor([4, 5], { dtype: 'int32', device: dev });
    for (const [name, f] of Object.entries(ops)) {
      const op = name === 'floorDivide' ? 'floor_divide' : name;
      expectError(() => f(x, 0), ValueError, { op, argument: 'other' });
      expectError(() => f(x, tensor([1, 0], { dtype: 'int64', device: dev })), ValueError, { op, argument: 'other' });
      expectError(() => (x[`${name}_` as 'fmod_']).call(x, 0), ValueError, { op, argument: 'other' });
      expect(values(f(x.to('float32'), 0)).every((v) => !Number.isFinite(v))).toBe(true);   // float: IEEE
    }
    expect(values(x)).toEqual([4, 5]);
  });

  it('in-place forms and the method forms', () => {
    const x = tensor([7.5, -7.5], { dtype: 'float32', device: dev });
    expect(values(x.remainder(2))).toEqual([1.5, 0.5]);
    expect(values(x.fmod(2))).toEqual([1.5, -1.5]);
    expect(values(x.floorDivide(2))).toEqual([3, -4]);
    x.floorDivide_(2);
    expect(values(x)).toEqual([3, -4]);
    expectError(() => tensor([1, 2], { dtype: 'int32', device: dev }).remainder_(1.5), K.DTypeError, { op: 'remainder_' });
  });
});

describeCudaVsCpu('fmod, remainder, floorDivide', () => {
  it('every dtype, strided [129, 130] inputs', () => {
    for (const dtype of ['float64', 'float32', 'bfloat16', 'int32', 'int64'] as DType[]) {
      const a = randomOf(7, 130 * 258, dtype, -100, 100);
      const b = randomOf(8, 130 * 258, dtype, -9, 9).map((v) => (v === 0 ? 3 : v));
      for (const [name, f] of Object.entries(ops)) {
        const on = (dev: Dev) => f(make(a, [130, 258], dtype, dev).slice(1, 0, 258, 2).transpose(0, 1), make(b, [130, 258], dtype, dev).slice(1, 1, 258, 2).transpose(0, 1));
        expectCudaMatchesCpu(on('cuda'), on('cpu'), `${name} ${dtype}`);
      }
    }
  });
});
