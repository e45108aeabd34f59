/**
 * Unary elementwise ops against float64 JS references, one table row per op, on every device: every
 * dtype the op takes, sizes across vector widths and CUDA blocks, special values, non-contiguous
 * inputs, bool and integer inputs, errors; and CUDA against CPU on the same strided inputs.
 */
import { expect, it } from 'vitest';
import * as K from '@kiln/tensor';
import { type DType, type Tensor, DTypeError, tensor } from '@kiln/tensor';
import { expectError } from '@kiln/tensor/testing';
import {
  type Dev, ALL, BASE_SHAPE, FLOATS, INTS, SIZES, VIEWS, describeCudaVsCpu, expectCudaMatchesCpu, expectValues, make, numel,
  randomOf, roundTo, values, viewValues,
} from './elementwise-cases.js';
import { forEachDevice } from '@kiln/tensor/testing';

// ---- float64 references, written independently of the kernels' formulas ---------------------

const sigmoid = (x: number): number => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));
/** log(sigmoid(x)) = -log(1 + e^-x): the e^(-|x|) form never overflows. */
const logsigmoid = (x: number): number => (x >= 0 ? -Math.log1p(Math.exp(-x)) : x - Math.log1p(Math.exp(x)));
/** log(1 + e^x) = x + log(1 + e^-x) for x > 0. */
const softplus = (x: number): number => (x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x)));

/**
 * One unary op. kind: 'float' ops take every dtype and give a float (integers and bool compute in
 * float32); 'same' ops keep the dtype and refuse bool; 'bool' ops take every dtype and give bool.
 * lo/hi: the domain of the random inputs. signedZero: the op must give the reference's zero sign.
 */
interface UnaryCase {
  name: keyof typeof K & keyof Tensor;
  ref: (x: number) => number;
  kind: 'float' | 'same' | 'bool';
  lo: number;
  hi: number;
  signedZero?: boolean;
}

const b = (p: boolean): number => (p ? 1 : 0);
/** The nearest integer, halves to the even one (torch.round, C's rint), keeping the sign of zero. */
const roundHalfEven = (x: number): number => {
  if (!Number.isFinite(x)) return x;
  const f = Math.floor(x), frac = x - f;
  const r = frac > 0.5 || (frac === 0.5 && f % 2 !== 0) ? f + 1 : f;
  return r === 0 && (x < 0 || Object.is(x, -0)) ? -0 : r;
};
const UNARY: readonly UnaryCase[] = [
  { name: 'exp', ref: Math.exp, kind: 'float', lo: -20, hi: 20 },
  { name: 'log', ref: Math.log, kind: 'float', lo: 1e-3, hi: 50 },
  { name: 'log1p', ref: Math.log1p, kind: 'float', lo: -0.999, hi: 50, signedZero: true },
  { name: 'expm1', ref: Math.expm1, kind: 'float', lo: -10, hi: 10, signedZero: true },
  { name: 'sqrt', ref: Math.sqrt, kind: 'float', lo: 0, hi: 100, signedZero: true },
  { name: 'rsqrt', ref: (x) => 1 / Math.sqrt(x), kind: 'float', lo: 1e-3, hi: 100 },
  { name: 'sigmoid', ref: sigmoid, kind: 'float', lo: -30, hi: 30 },
  { name: 'logsigmoid', ref: logsigmoid, kind: 'float', lo: -30, hi: 30 },
  { name: 'softplus', ref: softplus, kind: 'float', lo: -30, hi: 30 },
  { name: 'silu', ref: (x) => x * sigmoid(x), kind: 'float', lo: -20, hi: 20, signedZero: true },
  { name: 'tanh', ref: Math.tanh, kind: 'float', lo: -6, hi: 6, signedZero: true },
  { name: 'sin', ref: Math.sin, kind: 'float', lo: -10, hi: 10, signedZero: true },
  { name: 'cos', ref: Math.cos, kind: 'float', lo: -10, hi: 10 },
  { name: 'log2', ref: Math.log2, kind: 'float', lo: 1e-3, hi: 50 },
  { name: 'atan', ref: Math.atan, kind: 'float', lo: -50, hi: 50, signedZero: true },
  { name: 'neg', ref: (x) => -x, kind: 'same', lo: -100, hi: 100, signedZero: true },
  { name: 'abs', ref: Math.abs, kind: 'same', lo: -100, hi: 100, signedZero: true },
  { name: 'floor', ref: Math.floor, kind: 'same', lo: -100, hi: 100, signedZero: true },
  { name: 'ceil', ref: Math.ceil, kind: 'same', lo: -100, hi: 100, signedZero: true },
  { name: 'trunc', ref: Math.trunc, kind: 'same', lo: -100, hi: 100, signedZero: true },
  { name: 'round', ref: roundHalfEven, kind: 'same', lo: -100, hi: 100, signedZero: true },
  // PyTorch's sign is (0 < x) - (x < 0): 0 for NaN
  { name: 'sign', ref: (x) => (Number.isNaN(x) ? 0 : Math.sign(x) + 0), kind: 'same', lo: -3, hi: 3 },
  // relu keeps NaN, as PyTorch
  { name: 'relu', ref: (x) => (Number.isNaN(x) ? NaN : Math.max(x, 0)), kind: 'same', lo: -100, hi: 100 },
  { name: 'isnan', ref: (x) => b(Number.isNaN(x)), kind: 'bool', lo: -3, hi: 3 },
  { name: 'isfinite', ref: (x) => b(Number.isFinite(x)), kind: 'bool', lo: -3, hi: 3 },
  { name: 'logicalNot', ref: (x) => b(x === 0), kind: 'bool', lo: -1, hi: 1 },
];

const fnOf = (c: UnaryCase) => K[c.name] as unknown as (x: Tensor) => Tensor;
const dtypesOf = (c: UnaryCase): readonly DType[] => (c.kind === 'same' ? [...FLOATS, ...INTS] : ALL);
/** The dtype the op gives for an input of dtype d. */
const resultDtype = (c: UnaryCase, d: DType): DType => (c.kind === 'bool' ? 'bool' : c.kind === 'float' && !FLOATS.includes(d) ? 'float32' : d);
/** The reference of the op at the input values as stored. */
const refOf = (c: UnaryCase, stored: readonly number[]): number[] => stored.map(c.ref);

/** Seeded input values in the op's domain as stored in dtype d (logicalNot gets zeros too). */
function inputs(c: UnaryCase, seed: number, n: number, d: DType): number[] {
  const raw = randomOf(seed, n, d, c.lo, c.hi);
  const vals = c.name === 'logicalNot' && FLOATS.includes(d) ? raw.map((v) => (v < -0.3 ? 0 : v)) : raw;
  return vals.map((v) => roundTo(d, v));
}

// Special values: signed zeros, infinities, NaN, extreme and tiny magnitudes.
const SPECIALS = [0, -0, Infinity, -Infinity, NaN, 1e4, -1e4, 1e-30, -1e-30, 1e30, -1e30, 88.5, -88.5, 710, -710, 1, -1, 0.5];

forEachDevice('unary elementwise ops', (dev: Dev) => {
  for (const c of UNARY) {
    const f = fnOf(c);

    it(`${c.name}: every dtype against the float64 reference`, () => {
      for (const [k, d] of dtypesOf(c).entries()) {
        const x = inputs(c, 100 + k, 1000, d);
        expectValues(f(make(x, [10, 100], d, dev)), refOf(c, x), resultDtype(c, d), `${c.name} ${d}`);
      }
    });

    it(`${c.name}: 0-d, empty, and sizes that cross vector widths and CUDA blocks`, () => {
      for (const shape of SIZES) {
        for (const d of ['float32', c.kind === 'same' ? 'int32' : 'float64'] as DType[]) {
          const x = inputs(c, numel(shape), numel(shape), d);
          const y = f(make(x, shape, d, dev));
          expect(y.shape, `${c.name} ${d} [${shape}]`).toEqual(shape);
          expectValues(y, refOf(c, x), resultDtype(c, d), `${c.name} ${d} [${shape}]`);
        }
      }
    });

    it(`${c.name}: special values (±0, ±inf, NaN, huge and tiny) give the reference, zero signs included`, () => {
      for (const d of ['float64', 'float32', 'float16', 'bfloat16'] as DType[]) {
        const x = SPECIALS.map((v) => roundTo(d, v));
        const y = f(make(x, [x.length], d, dev));
        const ref = refOf(c, x);
        expectValues(y, ref, resultDtype(c, d), `${c.name} ${d} specials`);
        if (c.signedZero) {
          values(y).forEach((v, i) => {
            if (v === 0) expect(Object.is(v, roundTo(d, ref[i])), `${c.name}(${Object.is(x[i], -0) ? '-0' : x[i]}) ${d}: sign of zero`).toBe(true);
          });
        }
      }
    });

    it(`${c.name}: non-contiguous inputs (transposed, strided, narrowed, selected, permuted, stride-0 expanded)`, () => {
      for (const d of ['float32', c.kind === 'same' ? 'int64' : 'float16'] as DType[]) {
        const base = inputs(c, 7, numel(BASE_SHAPE), d);
        const bt = make(base, BASE_SHAPE, d, dev);
        for (const v of VIEWS) {
          const view = v.make(bt);
          expect(view.isContiguous, v.name).toBe(false);
          expectValues(f(view), refOf(c, viewValues(v, base)), resultDtype(c, d), `${c.name} ${d} ${v.name}`);
        }
      }
    });

    it(`${c.name}: the method form is the function`, () => {
      const x = make(inputs(c, 3, 12, 'float64'), [3, 4], 'float64', dev);
      const m = (x[c.name] as unknown as () => Tensor).call(x);
      expect(values(m)).toEqual(values(f(x)));
    });

    if (c.kind === 'same') {
      it(`${c.name}: bool input is a DTypeError naming the op`, () => {
        expectError(() => f(tensor([true, false], { device: dev })), DTypeError, { op: c.name, got: 'bool' });
      });
    } else {
      it(`${c.name}: bool input computes on 0 and 1`, () => {
        const y = f(tensor([true, false], { device: dev }));
        expectValues(y, [c.ref(1), c.ref(0)], c.kind === 'bool' ? 'bool' : 'float32', `${c.name} bool`);
      });
    }
  }

  it('integers beyond 2^53 stay exact in neg, abs and sign (int64 is not computed in double)', () => {
    const big = 2n ** 60n + 1n;
    const x = tensor(new BigInt64Array([big, -big]), { device: dev });
    expect(Array.from(K.neg(x).toTypedArray() as BigInt64Array)).toEqual([-big, big]);
    expect(Array.from(K.abs(x).toTypedArray() as BigInt64Array)).toEqual([big, big]);
    expect(Array.from(K.sign(x).toTypedArray() as BigInt64Array)).toEqual([1n, -1n]);
  });

  it('round sends halves to the even neighbour (torch.round), not up as Math.round', () => {
    for (const dtype of ['float64', 'float32', 'bfloat16'] as DType[]) {
      const y = K.round(tensor([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.5000001, 2.4999999], { dtype, device: dev }));
      expect(values(y).slice(0, 6), dtype).toEqual([0, 2, 2, -0, -2, -2]);
    }
    expect(values(K.round(tensor([3.5000001, 2.4999999], { dtype: 'float64', device: dev })))).toEqual([4, 2]);
  });

  it('logicalNot treats NaN and ±inf as true (nonzero), like PyTorch', () => {
    expect(K.logicalNot(tensor([NaN, Infinity, -0, 0, 1e-30], { dtype: 'float32', device: dev })).toArray()).toEqual([false, false, true, true, false]);
  });

  it('integer inputs of float ops compute in float32', () => {
    const x = tensor([-3, 0, 1, 4], { dtype: 'int64', device: dev });
    expectValues(K.sqrt(x), [NaN, 0, 1, 2], 'float32', 'sqrt int64');
    expectValues(K.log(x), [NaN, -Infinity, 0, Math.log(4)], 'float32', 'log int64');
    expectValues(K.exp(tensor([2], { dtype: 'int32', device: dev })), [Math.exp(2)], 'float32', 'exp int32');
  });

  it('a disposed input is a typed error naming the op', () => {
    const x = tensor([1, 2], { dtype: 'float32', device: dev });
    x.dispose();
    expectError(() => K.exp(x), K.DisposedError, { op: 'exp' });
  });
});

// The same random strided inputs on both devices; CUDA's result within the dtype's tolerance of
// the CPU's (exact for integer and bool results).
describeCudaVsCpu('unary elementwise ops', () => {
  for (const c of UNARY) {
    it(`${c.name}: every dtype, strided [129, 130] and contiguous [65537] inputs`, () => {
      for (const [k, d] of dtypesOf(c).entries()) {
        const strided = inputs(c, 500 + k, 130 * 258, d);
        const flat = inputs(c, 600 + k, 65537, d);
        const onDev = (dev: Dev) => [
          fnOf(c)(make(strided, [130, 258], d, dev).slice(1, 0, 258, 2).transpose(0, 1)),
          fnOf(c)(make(flat, [65537], d, dev)),
        ];
        const [cpu, cuda] = [onDev('cpu'), onDev('cuda')];
        cuda.forEach((t, i) => expectCudaMatchesCpu(t, cpu[i], `${c.name} ${d} ${i ? 'contiguous' : 'strided'}`));
      }
    });
  }
});
