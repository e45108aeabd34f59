/**
 * Binary elementwise ops, clamp, where and maskedFill against float64 JS references, one table row
 * per op, on every device: every dtype the op takes, sizes across vector widths and CUDA blocks,
 * special values, broadcasting, non-contiguous operands, JS-number operands on either side, int64
 * beyond 2^53, errors; and CUDA against CPU on the same strided and broadcast inputs.
 */
import { expect, it } from 'vitest';
import * as K from '@kiln/tensor';
import { type DType, type Tensor, DTypeError, DeviceError, ShapeError, ValueError, tensor } from '@kiln/tensor';
import { cudaAvailable, expectError, forEachDevice } from '@kiln/tensor/testing';
import {
  type Dev, ALL, BASE_SHAPE, FLOATS, NUMERIC, SIZES, VIEWS, broadcastRef, describeCudaVsCpu, expectCudaMatchesCpu, expectValues,
  isFloat, make, numel, randomOf, roundTo, values, viewValues,
} from './elementwise-cases.js';

const b = (p: boolean): number => (p ? 1 : 0);
/** C's pow (PyTorch calls std::pow): unlike JS, pow(1, NaN) = 1 and pow(-1, ±inf) = 1. */
const cpow = (x: number, y: number): number => (x === 1 || (x === -1 && Math.abs(y) === Infinity) ? 1 : Math.pow(x, y));
/** NaN-propagating max/min, as PyTorch's maximum/minimum. */
const nanOr = (f: (x: number, y: number) => number) => (x: number, y: number): number => (Number.isNaN(x) || Number.isNaN(y) ? NaN : f(x, y));

/**
 * One binary op. kind: 'same' keeps the promoted dtype and refuses bool; 'float' gives a float
 * (integers and bool compute in float32); 'bool' gives bool. [alo, ahi] and [blo, bhi]: domains of
 * the random operands; ties: operands are rounded to integers so that equal pairs occur.
 */
interface BinaryCase {
  name: 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'maximum' | 'minimum' | 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge' | 'logicalAnd' | 'logicalOr' | 'reluBackward';
  ref: (a: number, b: number) => number;
  kind: 'same' | 'float' | 'bool';
  a: [number, number];
  b: [number, number];
  ties?: boolean;
  /** widens the float32 tolerance: CUDA's powf is within 4 ulp, above 1e-6 relative near 2^k */
  rtolScale?: number;
  /** false: a function only, no Tensor method (as PyTorch's threshold_backward) */
  method?: false;
}

const BINARY: readonly BinaryCase[] = [
  { name: 'add', ref: (x, y) => x + y, kind: 'same', a: [-100, 100], b: [-100, 100] },
  { name: 'sub', ref: (x, y) => x - y, kind: 'same', a: [-100, 100], b: [-100, 100] },
  { name: 'mul', ref: (x, y) => x * y, kind: 'same', a: [-30, 30], b: [-30, 30] },
  { name: 'div', ref: (x, y) => x / y, kind: 'float', a: [-10, 10], b: [-10, 10] },
  { name: 'pow', ref: cpow, kind: 'float', a: [0, 5], b: [-3, 3], rtolScale: 4 },
  { name: 'maximum', ref: nanOr(Math.max), kind: 'same', a: [-5, 5], b: [-5, 5], ties: true },
  { name: 'minimum', ref: nanOr(Math.min), kind: 'same', a: [-5, 5], b: [-5, 5], ties: true },
  { name: 'eq', ref: (x, y) => b(x === y), kind: 'bool', a: [-2, 2], b: [-2, 2], ties: true },
  { name: 'ne', ref: (x, y) => b(x !== y), kind: 'bool', a: [-2, 2], b: [-2, 2], ties: true },
  { name: 'lt', ref: (x, y) => b(x < y), kind: 'bool', a: [-2, 2], b: [-2, 2], ties: true },
  { name: 'le', ref: (x, y) => b(x <= y), kind: 'bool', a: [-2, 2], b: [-2, 2], ties: true },
  { name: 'gt', ref: (x, y) => b(x > y), kind: 'bool', a: [-2, 2], b: [-2, 2], ties: true },
  { name: 'ge', ref: (x, y) => b(x >= y), kind: 'bool', a: [-2, 2], b: [-2, 2], ties: true },
  // nonzero is true, NaN included
  { name: 'logicalAnd', ref: (x, y) => b(x !== 0 && y !== 0), kind: 'bool', a: [-1, 1], b: [-1, 1], ties: true },
  { name: 'logicalOr', ref: (x, y) => b(x !== 0 || y !== 0), kind: 'bool', a: [-1, 1], b: [-1, 1], ties: true },
  // relu's gradient: x where the output y is positive (ties give outputs of exactly 0, masked)
  { name: 'reluBackward', ref: (x, y) => (y > 0 ? x : 0), kind: 'same', a: [-5, 5], b: [-2, 2], ties: true, method: false },
];
/** The kernel's name in errors (reluBackward -> relu_backward). */
const opName = (c: BinaryCase): string => c.name.replace(/[A-Z]/g, (m) => `_${m.toLowerCase()}`);

const fnOf = (c: BinaryCase) => K[c.name];
const dtypesOf = (c: BinaryCase): readonly DType[] => (c.kind === 'same' ? NUMERIC : ALL);
const resultDtype = (c: BinaryCase, d: DType): DType => (c.kind === 'bool' ? 'bool' : c.kind === 'float' && !isFloat(d) ? 'float32' : d);

/** Seeded operand values of dtype d in the op's domain, as stored. */
function operand(c: BinaryCase, which: 'a' | 'b', seed: number, n: number, d: DType): number[] {
  const [lo, hi] = c[which];
  return randomOf(seed, n, d, lo, hi).map((v) => roundTo(d, c.ties ? Math.round(v) : v));
}

const refOf = (c: BinaryCase, a: readonly number[], bv: readonly number[]): number[] => a.map((x, i) => c.ref(x, bv[i]));

const SPECIALS = [0, -0, Infinity, -Infinity, NaN, 1e30, -1e30, 1e-30, 88.5, -710, 1, -1, 0.5];
const BROADCASTS: [number[], number[], number[]][] = [
  [[3, 1], [1, 4], [3, 4]], [[2, 3, 4], [4], [2, 3, 4]], [[4], [2, 3, 4], [2, 3, 4]], [[], [2, 3], [2, 3]], [[2, 3], [], [2, 3]],
  [[], [], []], [[0, 3], [1, 3], [0, 3]], [[5, 1, 3], [4, 1], [5, 4, 3]], [[1], [7], [7]], [[2, 1, 1], [1, 3, 1], [2, 3, 1]],
];

forEachDevice('binary elementwise ops', (dev: Dev) => {
  for (const c of BINARY) {
    const f = fnOf(c);

    it(`${c.name}: every dtype against the float64 reference`, () => {
      for (const [k, d] of dtypesOf(c).entries()) {
        const a = operand(c, 'a', 10 + k, 1000, d), bv = operand(c, 'b', 20 + k, 1000, d);
        expectValues(f(make(a, [10, 100], d, dev), make(bv, [10, 100], d, dev)), refOf(c, a, bv), resultDtype(c, d), `${c.name} ${d}`, c.rtolScale);
      }
    });

    it(`${c.name}: 0-d, empty, and sizes that cross vector widths and CUDA blocks`, () => {
      for (const shape of SIZES) {
        for (const d of ['float32', 'int32'] as DType[]) {
          const n = numel(shape);
          const a = operand(c, 'a', n, n, d), bv = operand(c, 'b', n + 1, n, d);
          const y = f(make(a, shape, d, dev), make(bv, shape, d, dev));
          expect(y.shape).toEqual(shape);
          expectValues(y, refOf(c, a, bv), resultDtype(c, d), `${c.name} ${d} [${shape}]`, c.rtolScale);
        }
      }
    });

    it(`${c.name}: every pair of special values (±0, ±inf, NaN, huge, tiny)`, () => {
      const a = SPECIALS.flatMap((x) => SPECIALS.map(() => x)), bv = SPECIALS.flatMap(() => SPECIALS);
      for (const d of FLOATS) {
        const ra = a.map((x) => roundTo(d, x)), rb = bv.map((x) => roundTo(d, x));
        expectValues(f(make(ra, [ra.length], d, dev), make(rb, [rb.length], d, dev)), refOf(c, ra, rb), resultDtype(c, d), `${c.name} ${d} specials`, c.rtolScale);
      }
    });

    it(`${c.name}: broadcasts ([3,1]x[1,4], [2,3,4]x[4], 0-d with anything, empty)`, () => {
      for (const [as, bs, out] of BROADCASTS) {
        const a = operand(c, 'a', 3, numel(as), 'float64'), bv = operand(c, 'b', 4, numel(bs), 'float64');
        const y = f(make(a, as, 'float64', dev), make(bv, bs, 'float64', dev));
        const ref = broadcastRef(a, as, bv, bs, c.ref);
        expect(ref.shape).toEqual(out);
        expect(y.shape, `[${as}] with [${bs}]`).toEqual(out);
        expectValues(y, ref.data, resultDtype(c, 'float64'), `${c.name} [${as}] with [${bs}]`);
      }
    });

    it(`${c.name}: non-contiguous operands (both views, and a view with a contiguous tensor)`, () => {
      for (const d of ['float32', 'int64'] as DType[]) {
        if (!dtypesOf(c).includes(d)) continue;
        const baseA = operand(c, 'a', 5, numel(BASE_SHAPE), d), baseB = operand(c, 'b', 6, numel(BASE_SHAPE), d);
        const ta = make(baseA, BASE_SHAPE, d, dev), tb = make(baseB, BASE_SHAPE, d, dev);
        for (const v of VIEWS) {
          const va = viewValues(v, baseA), vb = viewValues(v, baseB);
          expectValues(f(v.make(ta), v.make(tb)), refOf(c, va, vb), resultDtype(c, d), `${c.name} ${d} ${v.name} with ${v.name}`, c.rtolScale);
          expectValues(f(make(va, v.shape, d, dev), v.make(tb)), refOf(c, va, vb), resultDtype(c, d), `${c.name} ${d} contiguous with ${v.name}`, c.rtolScale);
        }
      }
    });

    it(`${c.name}: a JS number on either side`, () => {
      // [tensor dtype, the number, the result dtype (PyTorch: the number does not promote within its category)]
      const rows: [DType, number, DType][] = [['float32', 2.5, 'float32'], ['float64', -0.1, 'float64'], ['float16', 0.1, 'float16'], ['int32', 3, 'int32'], ['int64', -2, 'int64'], ['int32', 2.5, 'float32']];
      for (const [d, s, promoted] of rows) {
        if (!dtypesOf(c).includes(d)) continue;
        const a = operand(c, 'a', 8, 50, d);
        const t = make(a, [5, 10], d, dev);
        const rd = resultDtype(c, promoted);
        // the number is converted to the op's compute type first (float for the half types), as in PyTorch
        const sc = promoted === 'float64' || !isFloat(promoted) ? s : Math.fround(s);
        expectValues(f(t, s), a.map((x) => c.ref(x, sc)), rd, `${c.name}(${d} tensor, ${s})`, c.rtolScale);
        expectValues(f(s, t), a.map((x) => c.ref(sc, x)), rd, `${c.name}(${s}, ${d} tensor)`, c.rtolScale);
      }
    });

    if (c.method !== false) {
      const name = c.name as Exclude<BinaryCase['name'], 'reluBackward'>;
      it(`${c.name}: the method form is the function`, () => {
        const x = make(operand(c, 'a', 1, 6, 'float64'), [2, 3], 'float64', dev), y = make(operand(c, 'b', 2, 3, 'float64'), [3], 'float64', dev);
        expect(values((x[name]).call(x, y))).toEqual(values(f(x, y)));
      });
    }

    it(`${c.name}: bool operands ${c.kind === 'same' ? 'are a DTypeError naming the op' : 'compute on 0 and 1'}`, () => {
      const x = tensor([true, true, false, false], { device: dev }), y = tensor([true, false, true, false], { device: dev });
      if (c.kind === 'same') expectError(() => f(x, y), DTypeError, { op: opName(c), got: 'bool' });
      else expectValues(f(x, y), refOf(c, [1, 1, 0, 0], [1, 0, 1, 0]), c.kind === 'bool' ? 'bool' : 'float32', `${c.name} bool`);
    });
  }

  it('int64 beyond 2^53 is exact (not computed in double), tensors and JS numbers', () => {
    const big = 2n ** 60n + 1n;
    const x = tensor(new BigInt64Array([big, -big]), { device: dev }), one = tensor(new BigInt64Array([1n, 1n]), { device: dev });
    const i64 = (t: Tensor) => Array.from(t.toTypedArray() as BigInt64Array);
    expect(i64(K.add(x, one))).toEqual([big + 1n, -big + 1n]);
    expect(i64(K.sub(x, 1))).toEqual([big - 1n, -big - 1n]);
    expect(i64(K.mul(x, 2))).toEqual([big * 2n, -big * 2n]);
    expect(i64(K.maximum(x, tensor(new BigInt64Array([big - 1n, -big + 1n]), { device: dev })))).toEqual([big, -big + 1n]);
    expect(K.eq(x, tensor(new BigInt64Array([big - 1n, -big]), { device: dev })).toArray()).toEqual([false, true]);
    expect(K.gt(x, tensor(new BigInt64Array([big - 1n, -big - 1n]), { device: dev })).toArray()).toEqual([true, true]);
  });

  it('div of integers is true division in float32 (as PyTorch): 7/2 = 3.5, -7/2 = -3.5, x/0 = ±inf, 0/0 = NaN', () => {
    const y = K.div(tensor([7, -7, 1, -1, 0], { dtype: 'int32', device: dev }), tensor([2, 2, 0, 0, 0], { dtype: 'int64', device: dev }));
    expectValues(y, [3.5, -3.5, Infinity, -Infinity, NaN], 'float32', 'int div');
  });

  it('maximum and minimum propagate NaN from either side (as PyTorch, not fmax)', () => {
    const a = tensor([NaN, 1, NaN, -Infinity], { dtype: 'float32', device: dev }), c = tensor([1, NaN, NaN, NaN], { dtype: 'float32', device: dev });
    expectValues(K.maximum(a, c), [NaN, NaN, NaN, NaN], 'float32', 'maximum NaN');
    expectValues(K.minimum(a, c), [NaN, NaN, NaN, NaN], 'float32', 'minimum NaN');
    expectValues(K.minimum(a, 0), [NaN, 0, NaN, -Infinity], 'float32', 'minimum(x, 0) NaN');
    expectValues(K.maximum(0, c), [1, NaN, NaN, NaN], 'float32', 'maximum(0, x) NaN');
  });

  it('errors: shapes that cannot broadcast (both shapes named), two JS numbers, another device', () => {
    const x = K.zeros([2, 3], { device: dev }), y = K.zeros([4], { device: dev });
    for (const c of BINARY) {
      expectError(() => fnOf(c)(x, y), ShapeError, { expected: 'shapes that broadcast together', got: '[2, 3] and [4]' });
      expectError(() => fnOf(c)(1, 2), ValueError, { expected: 'at least one tensor operand', got: 'number and number' });
    }
    if (cudaAvailable()) {
      const other = K.zeros([2, 3], { device: dev === 'cpu' ? 'cuda' : 'cpu' });
      expectError(() => K.add(x, other), DeviceError, { op: 'add', argument: 'other' });
      expectError(() => K.lt(other, x), DeviceError, { op: 'lt', argument: 'other' });
    }
  });

  // ---- clamp, where, maskedFill ---------------------------------------------------------------

  const clampRef = (lo?: number, hi?: number) => (x: number): number => (Number.isNaN(x) ? NaN : Math.min(Math.max(x, lo ?? -Infinity), hi ?? Infinity));

  it('clamp: every numeric dtype, one or both bounds, NaN stays NaN, non-contiguous input', () => {
    for (const [k, d] of NUMERIC.entries()) {
      const x = randomOf(30 + k, 300, d, -5, 5).map((v) => roundTo(d, v));
      if (isFloat(d)) x.push(NaN, Infinity, -Infinity);
      const t = make(x, [x.length], d, dev);
      for (const [lo, hi] of [[-2, 3], [-1, undefined], [undefined, 2], [1, 1]] as [number | undefined, number | undefined][]) {
        expectValues(K.clamp(t, lo, hi), x.map(clampRef(lo, hi)), d, `clamp ${d} [${String(lo)}, ${String(hi)}]`);
      }
    }
    const base = randomOf(9, 24, 'float32', -5, 5).map(Math.fround);
    for (const v of VIEWS) expectValues(K.clamp(v.make(make(base, BASE_SHAPE, 'float32', dev)), -1, 2), viewValues(v, base).map(clampRef(-1, 2)), 'float32', `clamp ${v.name}`);
    // a fractional bound on an integer tensor gives the default float dtype (the method form too)
    expectValues(tensor([-5, 0, 5], { dtype: 'int32', device: dev }).clamp(-1.5, 2.5), [-1.5, 0, 2.5], 'float32', 'clamp int32 fractional bounds');
  });

  it('clamp: errors name the op and the argument', () => {
    const x = K.zeros([2], { device: dev });
    expectError(() => K.clamp(x), ValueError, { op: 'clamp', expected: 'at least one of min and max', got: 'neither' });
    expectError(() => K.clamp(x, 2, 1), ValueError, { op: 'clamp', argument: 'min', expected: 'a value <= max (1)', got: '2' });
    expectError(() => K.clamp(x, NaN), ValueError, { op: 'clamp', argument: 'min', expected: 'a number, or undefined for no bound', got: 'NaN' });
    expectError(() => x.clamp_(0, NaN), ValueError, { op: 'clamp', argument: 'max', got: 'NaN' });
    expectError(() => K.clamp(tensor([true], { device: dev }), 0, 1), DTypeError, { op: 'clamp', argument: 'input', expected: 'a numeric tensor', got: 'bool' });
  });

  it('where: broadcasts the condition and both operands, takes JS numbers, promotes dtypes, reads strided views', () => {
    const cond = randomOf(40, 12, 'bool'), a = randomOf(41, 4, 'float32', -9, 9).map(Math.fround), bv = randomOf(42, 3, 'int32', -9, 9);
    const y = K.where(make(cond, [3, 4], 'bool', dev), make(a, [1, 4], 'float32', dev), make(bv, [3, 1], 'int32', dev));
    expect(y.shape).toEqual([3, 4]);
    expectValues(y, cond.map((c, i) => (c ? a[i % 4] : bv[Math.floor(i / 4)])), 'float32', 'where broadcast');
    expectValues(K.where(make(cond, [12], 'bool', dev), make(bv.concat(bv, bv, bv), [12], 'int32', dev), 2.5), cond.map((c, i) => (c ? bv[i % 3] : 2.5)), 'float32', 'where int32 with 2.5');
    expectValues(K.where(make(cond, [12], 'bool', dev), 1, 2), cond.map((c) => (c ? 1 : 2)), 'int64', 'where(cond, 1, 2)');
    expectValues(K.where(tensor(true, { device: dev }), K.zeros([2, 2], { dtype: 'float64', device: dev }), 7), [0, 0, 0, 0], 'float64', 'where 0-d condition');
    const base = randomOf(43, 24, 'float64', -1, 1), bcond = randomOf(44, 24, 'bool');
    for (const v of VIEWS) {
      const y2 = K.where(v.make(make(bcond, BASE_SHAPE, 'bool', dev)), v.make(make(base, BASE_SHAPE, 'float64', dev)), -7);
      expectValues(y2, viewValues(v, bcond).map((c, i) => (c ? viewValues(v, base)[i] : -7)), 'float64', `where ${v.name}`);
    }
    expectError(() => K.where(tensor([1, 0], { device: dev }), 1, 2), DTypeError, { op: 'where', argument: 'condition', expected: 'a bool tensor', got: 'int64' });
    expectError(() => K.where(K.zeros([2], { dtype: 'bool', device: dev }), K.zeros([3], { device: dev }), 0), ShapeError, { op: 'where', expected: 'shapes that broadcast together', got: '[2] and [3] and []' });
  });

  it('where: every dtype, a random mask over sizes that cross vector widths, the chosen values bit for bit (NaN, -0, ±inf)', () => {
    for (const d of ALL) {
      for (const n of [1, 7, 33, 1000]) {
        const cond = randomOf(60 + n, n, 'bool');
        const specials = isFloat(d) ? [NaN, -0, Infinity, -Infinity] : [];
        const xs = randomOf(61 + n, n, d, -9, 9).map((v, i) => (i < specials.length ? specials[i] : v));
        const ys = randomOf(62 + n, n, d, -9, 9).map((v, i) => (i < specials.length ? specials[specials.length - 1 - i] : v));
        const y = K.where(make(cond, [n], 'bool', dev), make(xs, [n], d, dev), make(ys, [n], d, dev));
        const got = values(y), want = cond.map((c, i) => (c ? xs[i] : ys[i])).map((v) => roundTo(d, v));
        // Object.is: -0 stays -0, NaN stays NaN
        expect(got.every((v, i) => Object.is(v, want[i])), `where ${d} [${n}]`).toBe(true);
      }
    }
  });

  it('maskedFill: fills where the mask is true, broadcasting the mask, leaving the input unchanged', () => {
    const x = randomOf(50, 12, 'float32', -3, 3).map(Math.fround), mask = randomOf(51, 4, 'bool');
    const t = make(x, [3, 4], 'float32', dev);
    const y = K.maskedFill(t, make(mask, [4], 'bool', dev), -Infinity);
    expectValues(y, x.map((v, i) => (mask[i % 4] ? -Infinity : v)), 'float32', 'maskedFill');
    expectValues(t, x, 'float32', 'maskedFill input untouched');
    expectValues(t.transpose(0, 1).maskedFill(make(mask, [4, 1], 'bool', dev), 0), [0, 1, 2, 3].flatMap((j) => [0, 1, 2].map((i) => (mask[j] ? 0 : x[i * 4 + j]))), 'float32', 'maskedFill transposed');
  });

  // ---- JS numbers an integer dtype cannot hold ------------------------------------------------

  it('a JS number outside an integer dtype (or a fraction, NaN for a fill) is a ValueError naming the op and the argument, not a wrap', () => {
    const i32 = () => tensor([1, -1], { dtype: 'int32', device: dev });
    const i64 = () => tensor([1, -1], { dtype: 'int64', device: dev });
    const flags = () => tensor([true, false], { device: dev });
    const mask = () => tensor([true, false], { device: dev });
    // [call, op, argument, the value as the message shows it]
    const refusals: [() => unknown, string, string, string][] = [
      [() => K.add(i32(), 3e9), 'add', 'other', '3000000000'],
      [() => K.add(3e9, i32()), 'add', 'input', '3000000000'],
      [() => K.sub(i32(), -(2 ** 31) - 1), 'sub', 'other', '-2147483649'],
      [() => K.mul(i64(), 2 ** 64), 'mul', 'other', '18446744073709552000'],
      [() => K.add(i64(), 2 ** 63), 'add', 'other', '9223372036854776000'],
      [() => K.maximum(i64(), -(2 ** 64)), 'maximum', 'other', '-18446744073709552000'],
      [() => K.lt(i32(), 2 ** 31), 'lt', 'other', '2147483648'],
      [() => K.eq(flags(), 2 ** 63), 'eq', 'other', '9223372036854776000'],       // bool with an integer computes in int64
      [() => i32().add_(3e9), 'add_', 'other', '3000000000'],
      [() => i64().mul_(-(2 ** 63) - 4096), 'mul_', 'other', '-9223372036854780000'],
      [() => K.clamp(i32(), 0, 3e9), 'clamp', 'max', '3000000000'],
      [() => K.clamp(i32(), -3e9), 'clamp', 'min', '-3000000000'],
      [() => K.clamp(i64(), undefined, 2 ** 63), 'clamp', 'max', '9223372036854776000'],
      [() => K.where(mask(), i32(), 3e9), 'where', 'other', '3000000000'],
      [() => K.where(mask(), -3e9, i32()), 'where', 'input', '-3000000000'],
      [() => K.where(mask(), 2 ** 63, 1), 'where', 'input', '9223372036854776000'],  // two JS integers: int64
      [() => K.maskedFill(i64(), mask(), 1.5), 'maskedFill', 'value', '1.5'],
      [() => K.maskedFill(i32(), mask(), NaN), 'maskedFill', 'value', 'NaN'],
      [() => K.maskedFill(i64(), mask(), Infinity), 'maskedFill', 'value', 'Infinity'],
      [() => K.maskedFill(i32(), mask(), 2 ** 31), 'maskedFill', 'value', '2147483648'],
      [() => K.maskedFill(flags(), mask(), 2), 'maskedFill', 'value', '2'],
      [() => i64().maskedFill_(mask(), 0.5), 'maskedFill_', 'value', '0.5'],
      [() => i32().fill_(3e9), 'fill_', 'value', '3000000000'],
      [() => i32().fill_(0.5), 'fill_', 'value', '0.5'],
      [() => K.full([2], 3e9, { dtype: 'int32', device: dev }), 'full', 'value', '3000000000'],
      [() => K.full([2], 2 ** 63, { dtype: 'int64', device: dev }), 'full', 'value', '9223372036854776000'],
      [() => K.full([2], NaN, { dtype: 'int64', device: dev }), 'full', 'value', 'NaN'],
      [() => K.fullLike(i32(), 1.5), 'fullLike', 'value', '1.5'],
      [() => K.scalarTensor(-(2 ** 31) - 1, { dtype: 'int32', device: dev }), 'scalarTensor', 'value', '-2147483649'],
    ];
    for (const [call, op, argument, got] of refusals) expectError(call, ValueError, { op, argument, got });
    // the in-place forms leave their target unchanged
    const x = i32();
    expectError(() => x.add_(3e9), ValueError, { op: 'add_', argument: 'other', got: '3000000000' });
    expectError(() => x.maskedFill_(mask(), 1.5), ValueError, { op: 'maskedFill_', argument: 'value', expected: 'an integer for an int32 tensor', got: '1.5' });
    expectError(() => x.fill_(2 ** 31), ValueError, { op: 'fill_', argument: 'value', got: '2147483648' });
    expect([x.toArray(), x.version]).toEqual([[1, -1], 0]);
  });

  it('JS numbers at the ends of an integer dtype\'s range are exact', () => {
    const max = 2 ** 31 - 1, min = -(2 ** 31);
    const x = tensor([0, -1, 1], { dtype: 'int32', device: dev });
    expectValues(K.add(x, max), [max, max - 1, min], 'int32', 'int32 + (2^31 - 1) (the last element wraps, as int32 arithmetic does)');
    expectValues(K.sub(x, -min - 1), [min + 1, min, min + 2], 'int32', 'int32 - (2^31 - 1)');
    expectValues(K.clamp(x, min, max), [0, -1, 1], 'int32', 'clamp to the whole int32 range');
    expectValues(K.where(tensor([true, false, true], { device: dev }), x, min), [0, min, 1], 'int32', 'where with -2^31');
    expectValues(K.maskedFill(x, tensor([false, true, false], { device: dev }), max), [0, max, 1], 'int32', 'maskedFill with 2^31 - 1');
    expectValues(K.full([2], min, { dtype: 'int32', device: dev }), [min, min], 'int32', 'full -2^31');
    // int64: -2^63 is a double, and the largest double below 2^63 is 2^63 - 1024
    const big = K.full([1], -(2 ** 63), { dtype: 'int64', device: dev });
    expect(Array.from(big.toTypedArray() as BigInt64Array)).toEqual([-(2n ** 63n)]);
    const top = K.full([1], 2 ** 63 - 1024, { dtype: 'int64', device: dev });
    expect(Array.from(top.toTypedArray() as BigInt64Array)).toEqual([2n ** 63n - 1024n]);
    expect(Array.from(tensor([0n], { device: dev }).add(2 ** 62).toTypedArray() as BigInt64Array)).toEqual([2n ** 62n]);
    // a fraction or an out-of-range number with an integer tensor in an arithmetic op promotes to float: no error
    expectValues(K.add(x, 3e9 + 0.5), [3e9 + 0.5, 3e9 - 0.5, 3e9 + 1.5].map(Math.fround), 'float32', 'int32 + 3e9 + 0.5');
  });
});

// The same random inputs on both devices: strided and stride-0 broadcast operands, contiguous
// sizes past several CUDA blocks, and JS numbers. CUDA within the dtype's tolerance of the CPU
// (exact for integer and bool results).
describeCudaVsCpu('binary elementwise ops', () => {
  for (const c of BINARY) {
    it(`${c.name}: every dtype, strided with broadcast, contiguous [65537], JS numbers`, () => {
      for (const [k, d] of dtypesOf(c).entries()) {
        const a = operand(c, 'a', 700 + k, 130 * 258, d), bv = operand(c, 'b', 800 + k, 129, d);
        const flatA = operand(c, 'a', 1000 + k, 65537, d), flatB = operand(c, 'b', 900 + k, 65537, d);
        const onDev = (dev: Dev) => {
          const ta = make(a, [130, 258], d, dev);
          const strided = ta.slice(1, 0, 258, 2).transpose(0, 1);                     // [129, 130], non-contiguous
          const bcast = make(bv, [129, 1], d, dev).expand([129, 130]);                 // stride 0
          const flat = make(flatA, [65537], d, dev);
          return [fnOf(c)(strided, bcast), fnOf(c)(flat, make(flatB, [65537], d, dev)), fnOf(c)(strided, 2), fnOf(c)(3, flat)];
        };
        const cpu = onDev('cpu'), cuda = onDev('cuda');
        cuda.forEach((t, i) => expectCudaMatchesCpu(t, cpu[i], `${c.name} ${d} case ${i}`, c.rtolScale));
      }
    });
  }

  it('clamp and where: strided inputs, every numeric dtype', () => {
    for (const [k, d] of NUMERIC.entries()) {
      const x = randomOf(950 + k, 130 * 258, d, -4, 4), cond = randomOf(960 + k, 130 * 258, 'bool');
      const onDev = (dev: Dev) => {
        const t = make(x, [130, 258], d, dev).slice(1, 1, 258, 2).transpose(0, 1);
        const m = make(cond, [130, 258], 'bool', dev).slice(1, 0, 258, 2).transpose(0, 1);
        return [K.clamp(t, -1, 2), K.clamp(t, undefined, 0), K.where(m, t, t.neg()), K.maskedFill(t, m, 5)];
      };
      const cpu = onDev('cpu'), cuda = onDev('cuda');
      cuda.forEach((t, i) => expectCudaMatchesCpu(t, cpu[i], `clamp/where ${d} case ${i}`));
    }
  });
});
