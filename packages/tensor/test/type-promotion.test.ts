/**
 * Result dtypes of the elementwise ops against PyTorch's torch.result_type, written out by hand
 * below: every pair of tensor dtypes, tensors with JS numbers (int, float and bool literals), 0-d
 * tensors with dimensioned ones, and how each op kind maps the promoted dtype (float ops, bool ops).
 *
 * PyTorch's rules: categories bool < integer < float; two dimensioned tensors promote to the larger
 * type (int32+int64 -> int64, float16+bfloat16 -> float32); a JS number (a "wrapped number") or a
 * 0-d tensor only promotes when it is of a higher category than the dimensioned operands, and then a
 * JS float gives the default dtype (float32), a JS int int64, a 0-d tensor its own dtype.
 *
 * The rules are written once, in resultType (dtype.ts); its three-tier table is checked here as well.
 */
import { describe, expect, it } from 'vitest';
import * as K from '@kiln/tensor';
import { type DType, DTypeError, type PromotionOperand, ValueError, resultType, scalarTensor, tensor, zeros } from '@kiln/tensor';
import { expectError } from '@kiln/tensor/testing';

const D: readonly DType[] = ['bool', 'int32', 'int64', 'float16', 'bfloat16', 'float32', 'float64'];

/** torch.result_type(a, b) for two dimensioned tensors; rows and columns in the order of D. */
const TENSOR_TABLE: Record<DType, readonly DType[]> = {
  //          bool        int32      int64      float16     bfloat16    float32    float64
  bool:     ['bool',     'int32',   'int64',   'float16',  'bfloat16', 'float32', 'float64'],
  int32:    ['int32',    'int32',   'int64',   'float16',  'bfloat16', 'float32', 'float64'],
  int64:    ['int64',    'int64',   'int64',   'float16',  'bfloat16', 'float32', 'float64'],
  float16:  ['float16',  'float16', 'float16', 'float16',  'float32',  'float32', 'float64'],
  bfloat16: ['bfloat16', 'bfloat16', 'bfloat16', 'float32', 'bfloat16', 'float32', 'float64'],
  float32:  ['float32',  'float32', 'float32', 'float32',  'float32',  'float32', 'float64'],
  float64:  ['float64',  'float64', 'float64', 'float64',  'float64',  'float64', 'float64'],
};

/** torch.result_type(tensor of dtype d, JS number): [int literal 2, float literal 2.5, true]. */
const SCALAR_TABLE: Record<DType, readonly [DType, DType, DType]> = {
  bool: ['int64', 'float32', 'bool'],
  int32: ['int32', 'float32', 'int32'],
  int64: ['int64', 'float32', 'int64'],
  float16: ['float16', 'float16', 'float16'],
  bfloat16: ['bfloat16', 'bfloat16', 'bfloat16'],
  float32: ['float32', 'float32', 'float32'],
  float64: ['float64', 'float64', 'float64'],
};

const t = (d: DType, shape: number[] = [2]) => zeros(shape, { dtype: d });
const cond = () => tensor([true, false]);

describe('type promotion: two dimensioned tensors (torch.result_type)', () => {
  it('the table is symmetric', () => {
    for (const a of D) for (const [j, b] of D.entries()) expect(TENSOR_TABLE[a][j], `${a} with ${b}`).toBe(TENSOR_TABLE[b][D.indexOf(a)]);
  });

  for (const a of D) {
    it(`${a} with every dtype: add, sub, mul, maximum and where take the promoted dtype`, () => {
      for (const [j, b] of D.entries()) {
        const want = TENSOR_TABLE[a][j];
        expect(K.where(cond(), t(a), t(b)).dtype, `where(${a}, ${b})`).toBe(want);
        if (want === 'bool') {
          // documented in elementwise.ts: arithmetic on two bool tensors is refused (PyTorch's add
          // gives a logical or); cast first
          expectError(() => K.add(t(a), t(b)), DTypeError, { op: 'add', expected: 'numeric operands (bool tensors are not supported; cast first)', got: 'bool' });
          continue;
        }
        for (const op of ['add', 'sub', 'mul', 'maximum', 'minimum'] as const) expect(K[op](t(a), t(b)).dtype, `${op}(${a}, ${b})`).toBe(want);
      }
    });
  }

  it('float ops give the promoted dtype when it is a float, the default float (float32) otherwise', () => {
    for (const a of D) for (const [j, b] of D.entries()) {
      const p = TENSOR_TABLE[a][j];
      const want = ['float16', 'bfloat16', 'float32', 'float64'].includes(p) ? p : 'float32';
      expect(K.div(t(a), t(b)).dtype, `div(${a}, ${b})`).toBe(want);
      // PyTorch's pow keeps integer dtypes; Kiln documents integer pow as the default float dtype
      expect(K.pow(t(a), t(b)).dtype, `pow(${a}, ${b})`).toBe(want);
    }
  });

  it('comparisons and logical ops give bool for every pair', () => {
    for (const a of D) for (const b of D) for (const op of ['eq', 'ne', 'lt', 'le', 'gt', 'ge', 'logicalAnd', 'logicalOr'] as const) {
      expect(K[op](t(a), t(b)).dtype, `${op}(${a}, ${b})`).toBe('bool');
    }
  });

  it('promotion happens before computing: int32 and float16 operands are compared in float16, int64 and float32 in float32', () => {
    // 2049 is not a float16 (it rounds to 2048), 2^24 + 1 not a float32: equal after promotion, as in PyTorch
    expect(K.eq(tensor([2049], { dtype: 'int32' }), tensor([2048], { dtype: 'float16' })).toArray()).toEqual([true]);
    expect(K.eq(tensor([16777217], { dtype: 'int64' }), tensor([16777216], { dtype: 'float32' })).toArray()).toEqual([true]);
  });
});

describe('type promotion: a tensor with a JS number (a weak scalar)', () => {
  for (const d of D) {
    it(`${d} tensor with 2, 2.5 and true, on either side`, () => {
      const [wi, wf, wb] = SCALAR_TABLE[d];
      for (const [s, want] of [[2, wi], [2.5, wf], [true, wb]] as [number | boolean, DType][]) {
        if (want === 'bool') {
          expectError(() => K.add(t(d), s), DTypeError, { op: 'add', expected: 'numeric operands (bool tensors are not supported; cast first)', got: 'bool' });
        } else {
          expect(K.add(t(d), s).dtype, `add(${d}, ${s})`).toBe(want);
          expect(K.mul(s, t(d)).dtype, `mul(${s}, ${d})`).toBe(want);
        }
        expect(K.where(cond(), t(d), s).dtype, `where(c, ${d}, ${s})`).toBe(want);
        expect(K.lt(t(d), s).dtype).toBe('bool');
        expect(K.div(t(d), s).dtype, `div(${d}, ${s})`).toBe(['float16', 'bfloat16', 'float64'].includes(want) ? want : 'float32');
      }
    });
  }

  it('where with two JS numbers: int64 for ints, float32 with a float, bool for bools (torch.where)', () => {
    expect(K.where(cond(), 1, 2).dtype).toBe('int64');
    expect(K.where(cond(), 1, 2.5).dtype).toBe('float32');
    expect(K.where(cond(), true, false).dtype).toBe('bool');
  });

  it('clamp: integer bounds keep an integer dtype, a fractional bound gives float32, float tensors keep theirs', () => {
    expect(K.clamp(t('int32'), 0, 1).dtype).toBe('int32');
    expect(K.clamp(t('int64'), 0.5).dtype).toBe('float32');
    expect(K.clamp(t('float16'), -0.5, 0.5).dtype).toBe('float16');
    expect(K.clamp(t('bfloat16'), undefined, 1).dtype).toBe('bfloat16');
  });
});

describe('type promotion: 0-d tensors with dimensioned tensors', () => {
  // [dimensioned dtype, 0-d dtype, torch.result_type]
  const rows: [DType, DType, DType][] = [
    // the 0-d tensor is of a higher category: its own dtype (not the default float)
    ['int32', 'float64', 'float64'],
    ['int64', 'float16', 'float16'],
    ['bool', 'int32', 'int32'],
    ['bool', 'float16', 'float16'],
    // the same category: the dimensioned tensor's dtype, whatever the sizes
    ['float16', 'float32', 'float16'],
    ['float16', 'float64', 'float16'],
    ['bfloat16', 'float16', 'bfloat16'],
    ['bfloat16', 'float64', 'bfloat16'],
    ['float32', 'float64', 'float32'],
    ['int32', 'int64', 'int32'],
    ['int64', 'int32', 'int64'],
    ['float64', 'float32', 'float64'],
    ['float32', 'float32', 'float32'],
    // a lower category: ignored
    ['float16', 'int64', 'float16'],
    ['int32', 'bool', 'int32'],
  ];
  for (const [d, z, want] of rows) {
    it(`[2] ${d} with a 0-d ${z} gives ${want} (either side; add, where, div, in place)`, () => {
      const zero = () => scalarTensor(1, { dtype: z });
      expect(K.add(t(d), zero()).dtype).toBe(want);
      expect(K.add(zero(), t(d)).dtype).toBe(want);
      expect(K.where(cond(), t(d), zero()).dtype).toBe(want);
      expect(K.div(zero(), t(d)).dtype).toBe(['float16', 'bfloat16', 'float64'].includes(want) ? want : 'float32');
      expect(K.lt(t(d), zero()).dtype).toBe('bool');
      if (want === d && d !== 'bool') expect(t(d).add_(zero()).dtype).toBe(d); // same dtype: fits in place
    });
  }

  it('two 0-d tensors promote as dimensioned ones', () => {
    for (const a of D) for (const [j, b] of D.entries()) {
      if (TENSOR_TABLE[a][j] === 'bool') continue;
      expect(K.add(scalarTensor(1, { dtype: a }), scalarTensor(1, { dtype: b })).dtype, `${a} 0-d with ${b} 0-d`).toBe(TENSOR_TABLE[a][j]);
    }
  });

  it('a 0-d tensor with a JS number promotes as a dimensioned one (the JS number is the lower tier)', () => {
    for (const d of D) {
      const [wi, wf] = SCALAR_TABLE[d];
      expect(K.where(cond(), scalarTensor(1, { dtype: d }), 2).dtype, `0-d ${d} with 2`).toBe(wi);
      expect(K.where(cond(), scalarTensor(1, { dtype: d }), 2.5).dtype, `0-d ${d} with 2.5`).toBe(wf);
      if (d !== 'bool') expect(K.mul(scalarTensor(1, { dtype: d }), 2.5).dtype, `mul(0-d ${d}, 2.5)`).toBe(wf);
    }
  });
});

describe('resultType: the three tiers (dimensioned tensors, 0-d tensors, JS numbers)', () => {
  const dim = (d: DType): PromotionOperand => ({ dtype: d, ndim: 2 });
  const zero = (d: DType): PromotionOperand => ({ dtype: d, ndim: 0 });
  // [operands, result] by the documented rules: each tier promotes within itself, a lower tier only
  // counts when its category is higher than the tiers above it, and then with its own dtype
  const rows: [PromotionOperand[], DType][] = [
    [[dim('int32'), zero('float64'), 2.5], 'float64'], // the 0-d float64 outranks int32; the JS float is of the 0-d tier's category
    [[dim('int32'), zero('int64'), 2.5], 'float32'], // the JS float is the only float: the default dtype
    [[dim('float16'), zero('float64'), 2.5], 'float16'],
    [[dim('bool'), zero('int32'), 2], 'int32'],
    [[dim('bool'), 2, true], 'int64'],
    [[dim('int32'), dim('int64'), zero('float64')], 'float64'],
    [[dim('int32'), zero('float16'), zero('bfloat16')], 'float32'], // the 0-d tier first: float16 with bfloat16
    [[dim('float16'), zero('bfloat16'), zero('float32')], 'float16'],
    [[dim('bfloat16'), dim('float16'), 2.5], 'float32'],
    [[zero('float16'), 2.5], 'float16'],
    [[zero('int32'), 2 ** 40], 'int32'],
    [[zero('int32'), zero('int64')], 'int64'],
    [[zero('bool'), true], 'bool'],
    [[zero('bool'), 2], 'int64'],
    [[2, 3], 'int64'],
    [[2, 2.5], 'float32'],
    [[2, NaN], 'float32'],
    [[true, false], 'bool'],
    [[true, 2], 'int64'],
    [[dim('int32')], 'int32'],
  ];
  it.each(rows.map(([ops, want]) => [ops.map((o) => (typeof o === 'object' ? `${o.ndim ? '[..]' : '0-d'} ${o.dtype}` : String(o))).join(' + '), want, ops] as const))(
    '%s -> %s',
    (_name, want, ops) => {
      expect(resultType(...ops)).toBe(want);
      // the order of the operands does not matter
      expect(resultType(...[...ops].reverse())).toBe(want);
    },
  );
  it('no operands is a DTypeError naming resultType', () => {
    expectError(() => resultType(), DTypeError, { op: 'resultType', argument: 'operands', expected: 'at least one operand', got: 'none' });
  });
});

describe('maskedFill keeps the input dtype (torch.masked_fill)', () => {
  // [input dtype, value, the values of maskedFill(zeros([2]), [true, false], value)]
  const rows: [DType, number | boolean, (number | boolean)[]][] = [
    ['float16', 1.5, [1.5, 0]],
    ['bfloat16', -2.5, [-2.5, 0]],
    ['float32', 1.5, [1.5, 0]],
    ['float64', 0.1, [0.1, 0]],
    ['float32', NaN, [NaN, 0]],
    ['int32', 3, [3, 0]],
    ['int64', -7, [-7, 0]],
    ['int64', true, [1, 0]],
    ['bool', 1, [true, false]],
    ['bool', true, [true, false]],
    ['bool', 0, [false, false]],
  ];
  for (const [d, v, want] of rows) {
    it(`a ${d} tensor filled with ${v} stays ${d}, out of place and in place`, () => {
      const y = K.maskedFill(t(d), cond(), v);
      expect([y.dtype, y.toArray()]).toEqual([d, want]);
      const x = t(d);
      expect(x.maskedFill_(cond(), v as number)).toBe(x);
      expect([x.dtype, x.toArray()]).toEqual([d, want]);
    });
  }
  it('a value the dtype cannot hold is a ValueError naming maskedFill and value (not a promotion)', () => {
    for (const [d, v] of [['int64', 1.5], ['int32', NaN], ['bool', 2], ['int32', 2 ** 31]] as [DType, number][]) {
      expectError(() => K.maskedFill(t(d), cond(), v), ValueError, { op: 'maskedFill', argument: 'value', got: String(v) });
    }
  });
});
