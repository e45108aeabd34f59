import ndarray from 'ndarray';
import { expect, it } from 'vitest';
import { DTypeError, DeviceError, ValueError, arange, fromNdarray, tensor, toNdarray, zeros } from '@kiln/tensor';
import { cudaAvailable, expectError } from '@kiln/tensor/testing';

it('toNdarray views a tensor without copying: shape, strides, offset', () => {
  const t = arange(12, undefined, 1, { dtype: 'float32' }).reshape(3, 4);
  const a = toNdarray(t);
  expect(a.shape).toEqual([3, 4]);
  expect(a.stride).toEqual([4, 1]);
  expect(a.data).toBeInstanceOf(Float32Array);
  expect(a.get(2, 1)).toBe(9);
  // writes go both ways
  a.set(0, 0, 100);
  expect(t.toArray()).toEqual([[100, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]);
  t.fill_(-1);
  expect(a.get(1, 2)).toBe(-1);
  // a strided view with an offset: the transposed columns 1..2
  const u = arange(12, undefined, 1, { dtype: 'float64' }).reshape(3, 4);
  const v = u.t().slice(0, 1, 3); // [2, 3], strides [1, 4], offset 1
  const b = toNdarray(v);
  expect([b.shape, b.stride, b.offset]).toEqual([[2, 3], [1, 4], 1]);
  expect(b.get(1, 2)).toBe(10);
  b.set(0, 1, -5);
  expect((u.toArray() as number[][])[1]).toEqual([4, -5, 6, 7]);
  // expanded dims have stride 0
  const e = toNdarray(tensor([1, 2], { dtype: 'int32' }).expand(3, 2));
  expect([e.stride, e.get(2, 1)]).toEqual([[0, 1], 2]);
});

it('toNdarray covers int64, bool and 0-d tensors', () => {
  const i = toNdarray(tensor([[1, 2], [3, 4]])); // int64
  expect(i.data).toBeInstanceOf(BigInt64Array);
  expect(i.get(1, 0)).toBe(3n);
  const b = toNdarray(tensor([true, false]));
  expect([b.get(0), b.get(1)]).toEqual([1, 0]);
  const s = tensor(2.5);
  const sa = toNdarray(s);
  expect([sa.shape, sa.get()]).toEqual([[], 2.5]);
  expect(toNdarray(zeros([0, 3])).size).toBe(0);
});

it('toNdarray refuses half types and other devices, saying what to do', () => {
  expectError(() => toNdarray(zeros([2], { dtype: 'float16' })), DTypeError, { op: 'toNdarray', argument: 'input', got: 'float16' });
  expectError(() => toNdarray(zeros([2], { dtype: 'bfloat16' })), DTypeError, { op: 'toNdarray', argument: 'input', got: 'bfloat16' });
  if (cudaAvailable()) {
    expectError(() => toNdarray(zeros([2], { device: 'cuda' })), DeviceError, { op: 'toNdarray', argument: 'input', expected: /call \.cpu\(\) first/, got: 'a tensor on cuda:0' });
  }
});

it('fromNdarray shares typed-array data, with strides and offset', () => {
  for (const [Ctor, dtype] of [[Float32Array, 'float32'], [Float64Array, 'float64'], [Int32Array, 'int32']] as const) {
    const data = new Ctor(12).map((_, k) => k);
    const nd = ndarray(data, [3, 4]);
    const t = fromNdarray(nd);
    expect([t.dtype, t.shape]).toEqual([dtype, [3, 4]]);
    expect(t.toArray()).toEqual([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]);
    t.select(1, 2).fill_(-1); // writes through the tensor appear in the ndarray
    expect(nd.get(2, 2)).toBe(-1);
    nd.set(0, 3, 42); // and back
    expect(t.toArray()).toEqual([[0, 1, -1, 42], [4, 5, -1, 7], [8, 9, -1, 11]]);
  }
  // a transposed, offset ndarray over part of a larger buffer
  const buf = new Float64Array(20).map((_, k) => k);
  const sub = ndarray(buf.subarray(2), [3, 4]).transpose(1, 0).lo(1, 0); // shape [3, 3], stride [1, 4], offset 1
  const t = fromNdarray(sub);
  expect([t.shape, t.strides]).toEqual([[3, 3], [1, 4]]);
  expect(t.toArray()).toEqual([[3, 7, 11], [4, 8, 12], [5, 9, 13]]);
  t.mul_(10);
  expect(Array.from(buf.slice(0, 8))).toEqual([0, 1, 2, 30, 40, 50, 6, 70]);
  // int64 data
  const big = new BigInt64Array([1n, 2n, 3n]);
  const ti = fromNdarray(ndarray(big, [3]));
  ti.fill_(7);
  expect(big[1]).toBe(7n);
});

it('round-trips: toNdarray then fromNdarray views the same memory', () => {
  const t = arange(6, undefined, 1, { dtype: 'float32' }).reshape(2, 3).t();
  const back = fromNdarray(toNdarray(t));
  expect(back.toArray()).toEqual(t.toArray());
  back.fill_(0);
  expect(t.toArray()).toEqual([[0, 0], [0, 0], [0, 0]]);
});

it('fromNdarray copies other data', () => {
  const plain = fromNdarray(ndarray([1, 2, 3, 4], [2, 2]));
  expect([plain.dtype, plain.toArray()]).toEqual(['int64', [[1, 2], [3, 4]]]);
  const floats = fromNdarray(ndarray([0.5, 1.5], [2]));
  expect([floats.dtype, floats.toArray()]).toEqual(['float32', [0.5, 1.5]]);
  const u8 = new Uint8Array([1, 2, 3, 4, 5, 6]);
  const small = fromNdarray(ndarray(u8, [2, 3]).transpose(1, 0));
  expect([small.dtype, small.toArray()]).toEqual(['int32', [[1, 4], [2, 5], [3, 6]]]);
  small.fill_(0);
  expect(u8[0]).toBe(1); // a copy
  // negative strides (a reversed ndarray) are copied: Kiln's strides are never negative
  const rev = new Float32Array([1, 2, 3]);
  const r = fromNdarray(ndarray(rev, [3]).step(-1));
  expect(r.toArray()).toEqual([3, 2, 1]);
  // a requested dtype other than the data's is a copy
  const f = new Float32Array([1, 2]);
  const d = fromNdarray(ndarray(f, [2]), { dtype: 'float64' });
  expect(d.dtype).toBe('float64');
  d.fill_(9);
  expect(f[0]).toBe(1);
});

it('fromNdarray rejects an ndarray that reaches outside its data', () => {
  expectError(() => fromNdarray(ndarray(new Float32Array(4), [2, 3])), ValueError, { op: 'fromNdarray', argument: 'nd', expected: 'shape, strides and offset inside its data (4 elements)', got: 'elements 0..5' });
  expectError(() => fromNdarray(ndarray(new Float32Array(4), [2, 2], [2, 1], 1)), ValueError, { op: 'fromNdarray', argument: 'nd', expected: 'shape, strides and offset inside its data (4 elements)', got: 'elements 1..4' });
  expectError(() => fromNdarray(ndarray(['a', 'b'] as unknown as number[], [2])), ValueError, { op: 'fromNdarray', argument: 'nd', expected: 'numbers, booleans or bigints', got: 'string at element 0' });
});
