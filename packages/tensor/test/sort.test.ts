/**
 * sort, argsort and topk on every device against a plain TypeScript reference: every dtype,
 * ties (stable: by increasing index), NaN (the largest value), -0 == +0, every dim, non-contiguous
 * inputs, edge sizes (empty, 1, odd, large rows and many rows, which take the CUDA radix sort's
 * packed-key and two-pass paths), errors, and nothing left allocated.
 */
import { expect, it } from 'vitest';
import { type DType, type Tensor, ShapeError, ValueError, argsort, memoryStats, sort, synchronize, tensor, tidy, topk } from '@kiln/tensor';
import { expectError, forEachDevice, testRng, toNumbers, settleMemoryBeforeEach } from '@kiln/tensor/testing';

settleMemoryBeforeEach();

const ALL: DType[] = ['float32', 'float64', 'float16', 'bfloat16', 'int32', 'int64', 'bool'];

/** Values with ties, NaN, signed zeros and infinities for float dtypes. */
function sample(seed: number, n: number, dtype: DType): number[] {
  const r = testRng(seed);
  return Array.from({ length: n }, () => {
    if (dtype === 'bool') return r() < 0.5 ? 0 : 1;
    const u = r();
    if (dtype.startsWith('int')) return Math.floor((u - 0.5) * 20);   // many ties
    if (u < 0.05) return NaN;
    if (u < 0.08) return -0;
    if (u < 0.1) return u < 0.09 ? Infinity : -Infinity;
    return Math.round((r() - 0.5) * 16) / 4;                           // ties, exact in every float dtype
  });
}

/** The sort order of the reference: NaN largest, -0 == 0. */
function compare(a: number, b: number): number {
  const an = Number.isNaN(a), bn = Number.isNaN(b);
  if (an || bn) return an === bn ? 0 : an ? 1 : -1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Stable sort of one row: [values, indices] of its first k. */
function refRow(row: number[], descending: boolean, k = row.length): [number[], number[]] {
  const idx = row.map((_, i) => i);
  idx.sort((i, j) => (descending ? compare(row[j], row[i]) : compare(row[i], row[j])) || i - j);
  const top = idx.slice(0, k);
  return [top.map((i) => row[i]), top];
}

/** Rows of a 2-d tensor's values, along dim (0: columns). */
function rowsOf(values: number[], shape: [number, number], dim: number): number[][] {
  const [a, b] = shape;
  return dim === 1 ? Array.from({ length: a }, (_, i) => values.slice(i * b, i * b + b)) : Array.from({ length: b }, (_, j) => Array.from({ length: a }, (_, i) => values[i * b + j]));
}

/** Compares exactly (NaN equal to NaN, -0 equal to 0 unless the dtype cannot hold it). */
function expectSame(actual: number[], expected: number[], what: string): void {
  expect(actual.length, what).toBe(expected.length);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i], e = expected[i];
    if (!(Number.isNaN(a) && Number.isNaN(e)) && a !== e) expect.fail(`${what}: element ${i} is ${a}, expected ${e}`);
  }
}

/** Checks sort/topk of a 2-d tensor along `dim` against the reference, row by row. */
function checkRows(x: Tensor, dim: number, descending: boolean, k: number | null, what: string): void {
  const values = toNumbers(x.contiguous().toTypedArray());
  const shape = x.shape as [number, number];
  const result = k === null ? sort(x, dim, { descending }) : topk(x, k, dim, { largest: descending });
  const got = rowsOf(toNumbers(result.values.toTypedArray()), result.values.shape as [number, number], dim);
  const gotIdx = rowsOf(toNumbers(result.indices.toTypedArray()), result.indices.shape as [number, number], dim);
  expect(result.indices.dtype).toBe('int64');
  expect(result.values.dtype).toBe(x.dtype);
  rowsOf(values, shape, dim).forEach((row, r) => {
    const [v, i] = refRow(row, descending, k ?? row.length);
    expectSame(got[r], v, `${what} row ${r} values`);
    expectSame(gotIdx[r], i, `${what} row ${r} indices`);
  });
}

forEachDevice('sort, argsort, topk', (dev) => {
  it('sort both ways along each dim, in every dtype: stable ties, NaN largest, -0 == 0', () => {
    for (const dtype of ALL) {
      const x = tensor(sample(1, 7 * 9, dtype), { dtype, device: dev }).reshape([7, 9]);
      for (const dim of [0, 1]) for (const descending of [false, true]) checkRows(x, dim, descending, null, `${dtype} dim ${dim} ${descending ? 'desc' : 'asc'}`);
    }
  });

  it('topk largest and smallest, every k from 0 to n, in every dtype', () => {
    for (const dtype of ALL) {
      const x = tensor(sample(2, 5 * 6, dtype), { dtype, device: dev }).reshape([5, 6]);
      for (let k = 0; k <= 6; k++) for (const largest of [true, false]) checkRows(x, 1, largest, k, `${dtype} k=${k} ${largest ? 'largest' : 'smallest'}`);
      checkRows(x, 0, true, 3, `${dtype} topk along dim 0`);
    }
  });

  it('reads non-contiguous inputs: transposed and strided views, negative dims', () => {
    const base = tensor(sample(3, 8 * 10, 'float32'), { dtype: 'float32', device: dev }).reshape([8, 10]);
    const views: [string, Tensor][] = [['transposed', base.transpose(0, 1)], ['strided', base.slice(1, 1, undefined, 3)], ['row-strided', base.slice(0, 0, undefined, 2)]];
    for (const [what, v] of views) {
      checkRows(v, 1, false, null, what);
      checkRows(v, 0, true, null, `${what} dim 0`);
      checkRows(v, 1, true, 2, `${what} topk`);
      expect(sort(v, -1).values.toArray()).toEqual(sort(v, 1).values.toArray());
    }
  });

  it('sorts along the middle dim of a 3-d tensor', () => {
    const x = tensor(sample(4, 3 * 5 * 4, 'int64'), { dtype: 'int64', device: dev }).reshape([3, 5, 4]);
    const { values, indices } = sort(x, 1, { descending: true });
    const v = x.toArray() as number[][][], sv = values.toArray() as number[][][], si = indices.toArray() as number[][][];
    for (let a = 0; a < 3; a++) for (let c = 0; c < 4; c++) {
      const [rv, ri] = refRow(v[a].map((r) => r[c]), true);
      expectSame(sv[a].map((r) => r[c]), rv, `[${a}, :, ${c}] values`);
      expectSame(si[a].map((r) => r[c]), ri, `[${a}, :, ${c}] indices`);
    }
  });

  it('large rows and many rows (the CUDA sort packs the row into the key, or sorts twice for 64-bit keys)', () => {
    const cases: [DType, [number, number]][] = [['float32', [1, 100_003]], ['float64', [3, 20_001]], ['int32', [2_000, 7]], ['int64', [513, 33]], ['float16', [97, 300]], ['bool', [1_000, 5]]];
    for (const [dtype, shape] of cases) {
      const x = tensor(sample(5, shape[0] * shape[1], dtype), { dtype, device: dev }).reshape(shape);
      checkRows(x, 1, false, null, `${dtype} [${shape}]`);
      checkRows(x, 1, true, Math.min(5, shape[1]), `${dtype} [${shape}] topk`);
    }
  });

  it('edge sizes: empty rows and dims, one element, 0-d tensors', () => {
    const empty = tensor([], { dtype: 'float32', device: dev }).reshape([3, 0]);
    expect(sort(empty, 1).values.shape).toEqual([3, 0]);
    expect(sort(empty, 0).indices.shape).toEqual([3, 0]);
    expect(topk(empty, 0, 1).values.shape).toEqual([3, 0]);
    const one = sort(tensor([[4.5]], { device: dev }), 0);
    expect(one.values.toArray()).toEqual([[4.5]]);
    expect(one.indices.toArray()).toEqual([[0]]);
    const scalar = tensor(2.5, { dtype: 'float64', device: dev });
    const s = sort(scalar);
    expect(s.values.shape).toEqual([]);
    expect(s.values.item()).toBe(2.5);
    expect(s.indices.item()).toBe(0);
    expect(topk(scalar, 1).values.item()).toBe(2.5);
    expect(argsort(scalar).item()).toBe(0);
  });

  it('argsort is sort().indices; the methods are the functions', () => {
    const x = tensor(sample(6, 4 * 5, 'float64'), { dtype: 'float64', device: dev }).reshape([4, 5]);
    expect(argsort(x, 0, { descending: true }).toArray()).toEqual(sort(x, 0, { descending: true }).indices.toArray());
    expect(x.argsort().toArray()).toEqual(argsort(x).toArray());
    expect(x.sort(1, { stable: true }).indices.toArray()).toEqual(sort(x, 1).indices.toArray());
    expect(x.topk(2).indices.toArray()).toEqual(topk(x, 2).indices.toArray());
  });

  it('refuses bad arguments with typed errors naming the op and argument', () => {
    const x = tensor([[1, 2], [3, 4]], { device: dev });
    expectError(() => sort(x, 2), ShapeError, 'sort', 'dim');
    expectError(() => topk(x, 3), ValueError, 'topk', "'k'", '[0, 2]');
    expectError(() => topk(x, -1), ValueError, 'topk', "'k'");
    expectError(() => topk(x, 1.5), ValueError, 'topk', "'k'");
    expectError(() => sort(x, 0, { descending: 'yes' as never }), ValueError, 'sort', 'descending');
    expectError(() => topk(x, 1, 0, { sorted: 1 as never }), ValueError, 'topk', 'sorted');
  });

  it('leaves nothing allocated', () => {
    const x = tensor(sample(7, 64, 'float32'), { device: dev }).reshape([8, 8]);
    synchronize(dev);
    const before = memoryStats(dev).allocated;
    tidy(() => {
      sort(x, 0);
      topk(x.transpose(0, 1), 3);
      argsort(x, 1, { descending: true });
    });
    synchronize(dev);
    expect(memoryStats(dev).allocated).toBe(before);
    x.dispose();
  });
});
