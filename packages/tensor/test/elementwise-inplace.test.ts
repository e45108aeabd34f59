/**
 * The in-place elementwise methods of Tensor (exp_ ... relu_, add_ ... pow_, clamp_, maskedFill_,
 * zero_, fill_), one table row each, on every device: values against float64 JS references written
 * into x itself (contiguous and non-contiguous x, the rest of the base untouched), x returned, the
 * version counter bumped; a result dtype x cannot hold, a broadcast that would change x's shape and
 * an expanded (stride-0) x refused with typed errors naming the op and 'self', x left unchanged.
 */
import { expect, it } from 'vitest';
import { type DType, type Tensor, DTypeError, ValueError, profile, tensor } from '@kiln/tensor';
import { expectError, forEachDevice } from '@kiln/tensor/testing';
import { type Dev, BASE_SHAPE, VIEWS, expectValues, indices, make, numel, randomOf, roundTo, values, viewValues } from './elementwise-cases.js';

const sigmoid = (x: number): number => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));

/**
 * One in-place method. `call(x, other)` runs it on x; `other` is the second operand's values laid
 * out in x's shape (binary rows; `scalar` rows use a JS number instead). `ref(x, other)` is the
 * value x takes. `ints`: the method also works on integer x (the others give a float result, which
 * an integer x must refuse: see the DTypeError test).
 */
interface InplaceCase {
  name: string;
  call: (x: Tensor, other: Tensor) => Tensor;
  ref: (x: number, o: number) => number;
  lo: number;
  hi: number;
  ints: boolean;
}

const CASES: readonly InplaceCase[] = [
  { name: 'exp_', call: (x) => x.exp_(), ref: Math.exp, lo: -5, hi: 5, ints: false },
  { name: 'log_', call: (x) => x.log_(), ref: Math.log, lo: 0.01, hi: 10, ints: false },
  { name: 'sqrt_', call: (x) => x.sqrt_(), ref: Math.sqrt, lo: 0, hi: 10, ints: false },
  { name: 'sigmoid_', call: (x) => x.sigmoid_(), ref: sigmoid, lo: -10, hi: 10, ints: false },
  { name: 'tanh_', call: (x) => x.tanh_(), ref: Math.tanh, lo: -4, hi: 4, ints: false },
  { name: 'neg_', call: (x) => x.neg_(), ref: (x) => -x, lo: -9, hi: 9, ints: true },
  { name: 'abs_', call: (x) => x.abs_(), ref: Math.abs, lo: -9, hi: 9, ints: true },
  { name: 'relu_', call: (x) => x.relu_(), ref: (x) => Math.max(x, 0), lo: -9, hi: 9, ints: true },
  { name: 'add_', call: (x, o) => x.add_(o), ref: (x, o) => x + o, lo: -9, hi: 9, ints: true },
  { name: 'sub_', call: (x, o) => x.sub_(o), ref: (x, o) => x - o, lo: -9, hi: 9, ints: true },
  { name: 'mul_', call: (x, o) => x.mul_(o), ref: (x, o) => x * o, lo: -9, hi: 9, ints: true },
  { name: 'div_', call: (x, o) => x.div_(o), ref: (x, o) => x / o, lo: 0.5, hi: 9, ints: false },
  { name: 'pow_', call: (x, o) => x.pow_(o), ref: (x, o) => Math.pow(x, o), lo: 0.5, hi: 3, ints: false },
  { name: 'add_ (JS number)', call: (x) => x.add_(3), ref: (x) => x + 3, lo: -9, hi: 9, ints: true },
  { name: 'mul_ (JS number)', call: (x) => x.mul_(-2), ref: (x) => x * -2, lo: -9, hi: 9, ints: true },
  { name: 'pow_ (JS number)', call: (x) => x.pow_(2), ref: (x) => x * x, lo: -3, hi: 3, ints: false },
  { name: 'clamp_', call: (x) => x.clamp_(-1, 2), ref: (x) => Math.min(Math.max(x, -1), 2), lo: -4, hi: 4, ints: true },
  { name: 'maskedFill_', call: (x, o) => x.maskedFill_(o.gt(0), 7), ref: (x, o) => (o > 0 ? 7 : x), lo: -4, hi: 4, ints: true },
  { name: 'fill_', call: (x) => x.fill_(-3), ref: () => -3, lo: -4, hi: 4, ints: true },
  { name: 'zero_', call: (x) => x.zero_(), ref: () => 0, lo: -4, hi: 4, ints: true },
];

/** The op name an error must carry (the method's name without the "(JS number)" note). */
const opName = (c: InplaceCase): string => c.name.split(' ')[0];

forEachDevice('in-place elementwise methods', (dev: Dev) => {
  for (const c of CASES) {
    const dtypes: DType[] = c.ints ? ['float32', 'float64', 'float16', 'int32', 'int64'] : ['float32', 'float64', 'bfloat16'];

    it(`${c.name}: writes the reference into x, returns x, bumps the version`, () => {
      for (const [k, d] of dtypes.entries()) {
        const xv = randomOf(10 + k, 24, d, c.lo, c.hi).map((v) => roundTo(d, v));
        const ov = randomOf(20 + k, 24, d, c.lo, c.hi).map((v) => roundTo(d, v));
        const x = make(xv, [4, 6], d, dev), o = make(ov, [4, 6], d, dev);
        const v0 = x.version;
        const r = c.call(x, o);
        expect(r, `${c.name} ${d} returns x`).toBe(x);
        expect(x.version, `${c.name} ${d} version`).toBe(v0 + 1);
        expect(x.shape).toEqual([4, 6]);
        expectValues(x, xv.map((a, i) => c.ref(a, ov[i])), d, `${c.name} ${d}`);
        expectValues(o, ov, d, `${c.name} ${d}: the other operand is untouched`);
      }
    });

    it(`${c.name}: a non-contiguous x (a view) gets the values, the rest of its base is untouched`, () => {
      for (const v of VIEWS.filter((w) => !w.name.startsWith('expand'))) {
        const xv = randomOf(30, numel(BASE_SHAPE), 'float64', c.lo, c.hi), ov = randomOf(31, numel(v.shape), 'float64', c.lo, c.hi);
        const base = make(xv, BASE_SHAPE, 'float64', dev);
        const x = v.make(base);
        expect(x.isContiguous, v.name).toBe(false);
        const v0 = base.version;
        expect(c.call(x, make(ov, v.shape, 'float64', dev))).toBe(x);
        expect(base.version, `${c.name} ${v.name}: the version is shared with the base`).toBe(v0 + 1);
        const expected = [...xv];
        indices(v.shape).forEach((idx, i) => { expected[v.at(idx)] = c.ref(xv[v.at(idx)], ov[i]); });
        expectValues(base, expected, 'float64', `${c.name} through ${v.name}`);
        expectValues(x, viewValues(v, expected), 'float64', `${c.name} ${v.name} read back`);
      }
    });

    // fill_ and zero_ may write through a stride-0 view (every write stores one value), as PyTorch's
    if (opName(c) !== 'fill_' && opName(c) !== 'zero_') {
      it(`${c.name}: an expanded (stride-0) x is refused, as PyTorch`, () => {
        const base = make([1, 2, 3, 4, 5, 6], [1, 6], 'float32', dev);
        const x = base.expand([4, 6]);
        expectError(() => c.call(x, make(randomOf(1, 24, 'float32', 1, 2), [4, 6], 'float32', dev)), ValueError, { op: opName(c), argument: 'self', got: /stride 0/ });
        expectValues(base, [1, 2, 3, 4, 5, 6], 'float32', `${c.name}: expanded base unchanged`);
      });
    }
  }

  it('a result dtype x cannot hold is a DTypeError naming the op and self; x is unchanged', () => {
    const x = tensor([1, 2, 3], { dtype: 'int32', device: dev });
    const f = tensor([0.5, 0.5, 0.5], { dtype: 'float32', device: dev });
    const refusals: [string, () => unknown][] = [
      ['exp_', () => x.exp_()], ['log_', () => x.log_()], ['sqrt_', () => x.sqrt_()], ['sigmoid_', () => x.sigmoid_()], ['tanh_', () => x.tanh_()],
      ['div_', () => x.div_(2)], ['div_', () => x.div_(tensor([2, 2, 2], { dtype: 'int32', device: dev }))], ['pow_', () => x.pow_(2)],
      ['add_', () => x.add_(1.5)], ['add_', () => x.add_(f)], ['sub_', () => x.sub_(f)], ['mul_', () => x.mul_(0.5)], ['clamp_', () => x.clamp_(0, 2.5)],
    ];
    for (const [_op, call] of refusals) expectError(call, DTypeError, { argument: 'self', expected: 'a dtype the result (float32) can be cast to', got: 'int32' });
    expect(x.version).toBe(0);
    expect(values(x)).toEqual([1, 2, 3]);
    const flags = tensor([true, false], { device: dev });
    expectError(() => flags.add_(tensor([1, 1], { dtype: 'int32', device: dev })), DTypeError, { op: 'add_', argument: 'self', expected: 'a dtype the result (int32) can be cast to', got: 'bool' });
    expectError(() => flags.neg_(), DTypeError, { op: 'neg', expected: 'numeric operands (bool tensors are not supported; cast first)', got: 'bool' });
    expect(flags.toArray()).toEqual([true, false]);
  });

  it('same-kind results are cast into x (float64 into float32, int64 into int32, bool into int)', () => {
    const x = tensor([1.5, -2], { dtype: 'float32', device: dev });
    x.add_(tensor([1e-10, 0.25], { dtype: 'float64', device: dev }));
    expectValues(x, [1.5 + 1e-10, -1.75], 'float32', 'float32 += float64');
    const i = tensor([5, -5], { dtype: 'int32', device: dev });
    i.mul_(tensor([3, 2], { dtype: 'int64', device: dev })).add_(tensor([true, false], { device: dev }));
    expectValues(i, [16, -10], 'int32', 'int32 *= int64, += bool');
  });

  it('a broadcast that would change x\'s shape is a ValueError naming the op, self and both shapes', () => {
    const x = make([1, 2, 3], [1, 3], 'float32', dev);
    expectError(() => x.add_(make(randomOf(2, 6, 'float32'), [2, 3], 'float32', dev)), ValueError, { op: 'add_', argument: 'self', expected: 'the broadcast shape of the operands [2, 3]', got: '[1, 3]' });
    expectError(() => x.mul_(make([1, 2], [2, 1], 'float32', dev)), ValueError, { op: 'mul_', argument: 'self', expected: 'the broadcast shape of the operands [2, 3]', got: '[1, 3]' });
    expect(values(x)).toEqual([1, 2, 3]);
    expect(x.version).toBe(0);
    // broadcasting the other operand to x's shape is fine
    x.sub_(make([1], [1], 'float32', dev));
    expectValues(x, [0, 1, 2], 'float32', 'sub_ broadcast other');
  });

  it('an operand that overlaps x is read before x is written (x.add_(x.t()), x.mul_(x))', () => {
    const xv = randomOf(3, 9, 'float64', -2, 2);
    const x = make(xv, [3, 3], 'float64', dev);
    x.add_(x.transpose(0, 1));
    expectValues(x, indices([3, 3]).map(([i, j]) => xv[i * 3 + j] + xv[j * 3 + i]), 'float64', 'x += x.T');
    const y = make(xv, [9], 'float64', dev);
    y.mul_(y);
    expectValues(y, xv.map((v) => v * v), 'float64', 'y *= y');
  });

  it('on a contiguous x that nothing records, the kernel writes x itself: one kernel, nothing allocated, no copy', () => {
    const x = make(randomOf(4, 12, 'float32', -2, 2), [3, 4], 'float32', dev);
    const bias = make(randomOf(5, 4, 'float32', -2, 2), [4], 'float32', dev);
    const kernels = (fn: () => void) => profile(fn).keyAverages().filter((r) => r.kind === 'kernel').map((r) => [r.name, r.calls, r.bytes]);
    expect(kernels(() => x.mul_(2))).toEqual([['mul', 1, 0]]);
    expect(kernels(() => x.add_(bias))).toEqual([['add', 1, 0]]);    // a broadcast operand
    expect(kernels(() => x.neg_())).toEqual([['neg', 1, 0]]);
    // a view that overlaps x partly, or a non-contiguous x, still goes through a new tensor and a copy
    const flat = x.flatten();
    expect(kernels(() => flat.narrow(0, 0, 6).add_(flat.narrow(0, 3, 6))).map((k) => k[0])).toContain('copy');
    expect(kernels(() => x.transpose(0, 1).mul_(2)).map((k) => k[0])).toContain('copy');
  });

  it('0-d and empty x', () => {
    const s = tensor(2, { dtype: 'float32', device: dev });
    expect(s.add_(tensor([[3]], { dtype: 'float32', device: dev }).reshape([])).item()).toBe(5);
    const e = make([], [0, 3], 'float32', dev);
    const v0 = e.version;
    expect(e.add_(1).shape).toEqual([0, 3]);
    expect(e.version).toBe(v0 + 1);
  });
});
