/**
 * nonzero, maskedSelect (and its gradient kernel), unique and meshgrid on every device against
 * plain TypeScript references: every dtype, NaN (nonzero; each NaN its own value in unique),
 * broadcasting, non-contiguous inputs, edge sizes (empty, 0-d, large enough for several scan
 * chunks and CUDA blocks), errors, and nothing left allocated.
 */
import { expect, it } from 'vitest';
import {
  type DType, type Tensor, DTypeError, DeviceError, ShapeError, ValueError, arange, maskedSelect, maskedSelectBackward, memoryStats, meshgrid, nonzero,
  synchronize, tensor, tidy, unique,
} from '@kiln/tensor';
import { expectError, forEachDevice, testRng, toNumbers, settleMemoryBeforeEach } from '@kiln/tensor/testing';

settleMemoryBeforeEach();

const ALL: DType[] = ['float32', 'float64', 'float16', 'bfloat16', 'int32', 'int64', 'bool'];

/** Mostly zeros, some NaN for float dtypes. */
function sparse(seed: number, n: number, dtype: DType, density = 0.3): number[] {
  const r = testRng(seed);
  return Array.from({ length: n }, () => {
    const u = r();
    if (u >= density) return 0;
    if (dtype === 'bool') return 1;
    if (!dtype.startsWith('int') && u < 0.03) return NaN;
    return Math.round((r() - 0.5) * 100) || 1;
  });
}

/** Row-major coordinates of the nonzero elements (NaN counts). */
function refNonzero(values: number[], shape: number[]): number[][] {
  const out: number[][] = [];
  values.forEach((v, p) => {
    if (v === 0) return;
    const c: number[] = [];
    for (let d = shape.length - 1, q = p; d >= 0; d--) {
      c[d] = q % shape[d];
      q = Math.floor(q / shape[d]);
    }
    out.push(c);
  });
  return out;
}

const valuesOf = (t: Tensor): number[] => toNumbers(t.contiguous().toTypedArray());

forEachDevice('nonzero', (dev) => {
  it('gives the row-major coordinates in every dtype (NaN is nonzero)', () => {
    for (const dtype of ALL) {
      const x = tensor(sparse(1, 4 * 5 * 3, dtype), { dtype, device: dev }).reshape([4, 5, 3]);
      const got = nonzero(x);
      expect(got.dtype).toBe('int64');
      expect(got.toArray(), dtype).toEqual(refNonzero(valuesOf(x), [4, 5, 3]));
    }
  });

  it('asTuple: one index tensor per dim; a 0-d input counts as 1-d', () => {
    const x = tensor([[0, 2, 0], [3, 0, 4]], { device: dev });
    const [rows, cols] = nonzero(x, { asTuple: true }) as [Tensor, Tensor];
    expect(rows.toArray()).toEqual([0, 1, 1]);
    expect(cols.toArray()).toEqual([1, 0, 2]);
    expect(nonzero(tensor(5, { device: dev }), { asTuple: true }).map((t) => t.toArray())).toEqual([[0]]);
    expect(nonzero(tensor(0, { device: dev }), { asTuple: true }).map((t) => t.toArray())).toEqual([[]]);
    expect(nonzero(tensor(5, { device: dev })).shape).toEqual([1, 0]);
    expect(x.nonzero().toArray()).toEqual(nonzero(x).toArray());
  });

  it('reads non-contiguous inputs, and sizes across scan chunks and CUDA blocks', () => {
    const base = tensor(sparse(2, 30 * 40, 'float32'), { device: dev }).reshape([30, 40]);
    for (const v of [base.transpose(0, 1), base.slice(1, 3, undefined, 7), base.slice(0, 0, 1).expand([5, 40])]) {
      expect(nonzero(v).toArray()).toEqual(refNonzero(valuesOf(v), v.shape as number[]));
    }
    for (const n of [1, 2, 255, 257, 100_001, 300_007]) {
      const x = tensor(sparse(n, n, 'int32', 0.1), { dtype: 'int32', device: dev });
      expect(toNumbers(nonzero(x).reshape([-1]).toTypedArray()), `n = ${n}`).toEqual(refNonzero(valuesOf(x), [n]).map((c) => c[0]));
    }
  });

  it('all zeros and empty inputs give [0, ndim]', () => {
    expect(nonzero(tensor([0, 0, 0], { device: dev })).shape).toEqual([0, 1]);
    expect(nonzero(tensor([], { device: dev }).reshape([2, 0, 3])).shape).toEqual([0, 3]);
  });
});

forEachDevice('maskedSelect', (dev) => {
  it('selects in row-major order in every dtype, with broadcasting on either side', () => {
    for (const dtype of ALL) {
      const x = tensor(sparse(3, 4 * 6, dtype, 0.8), { dtype, device: dev }).reshape([4, 6]);
      const mask = tensor(sparse(4, 6, 'bool', 0.5).map(Boolean), { device: dev });
      const xs = valuesOf(x), ms = valuesOf(mask);
      const expected = xs.filter((_, p) => ms[p % 6] !== 0);
      const got = maskedSelect(x, mask);
      expect(got.dtype).toBe(dtype);
      expect(valuesOf(got), dtype).toEqual(expected);
    }
    const column = tensor([[1], [2], [3]], { device: dev });
    const mask = tensor([[true, false], [false, false], [true, true]], { device: dev });
    expect(maskedSelect(column, mask).toArray()).toEqual([1, 3, 3]);
  });

  it('reads non-contiguous inputs and masks; empty results and inputs', () => {
    const x = tensor(Array.from({ length: 24 }, (_, i) => i), { dtype: 'float64', device: dev }).reshape([4, 6]);
    const mask = tensor(sparse(5, 24, 'bool', 0.5).map(Boolean), { device: dev }).reshape([6, 4]).transpose(0, 1);
    const xs = valuesOf(x.transpose(0, 1).contiguous().transpose(0, 1)), ms = valuesOf(mask);
    expect(valuesOf(maskedSelect(x.transpose(0, 1).contiguous().transpose(0, 1), mask))).toEqual(xs.filter((_, p) => ms[p] !== 0));
    expect(maskedSelect(x, tensor(false, { device: dev })).shape).toEqual([0]);
    expect(maskedSelect(tensor([], { device: dev }), tensor([], { dtype: 'bool', device: dev })).shape).toEqual([0]);
  });

  it('maskedSelectBackward puts values back where the mask is true, zeros elsewhere', () => {
    const mask = tensor([[true, false, true], [false, true, false]], { device: dev });
    const g = tensor([1.5, -2, 4], { dtype: 'float64', device: dev });
    expect(maskedSelectBackward(g, mask, [2, 3]).toArray()).toEqual([[1.5, 0, -2], [0, 4, 0]]);
    // a broadcast mask
    expect(maskedSelectBackward(tensor([7, 8], { device: dev }), tensor([false, true], { device: dev }), [2, 2]).toArray()).toEqual([[0, 7], [0, 8]]);
  });

  it('refuses bad arguments', () => {
    const x = tensor([1, 2, 3], { device: dev });
    expectError(() => maskedSelect(x, tensor([1, 0, 1], { device: dev })), DTypeError, 'masked_select', 'mask', 'bool');
    expectError(() => maskedSelect(x, tensor([true, false], { device: dev })), ShapeError, 'masked_select');
    expectError(() => maskedSelectBackward(x.to('float32'), tensor([true, false], { device: dev }), [3]), ShapeError, 'masked_select_backward');
    if (dev === 'cuda') expectError(() => maskedSelect(x, tensor([true, false, true])), DeviceError, 'masked_select', 'mask');
  });
});

forEachDevice('unique', (dev) => {
  it('sorted distinct values, inverse and counts, in every dtype (each NaN distinct, -0 == 0)', () => {
    for (const dtype of ALL) {
      const xs = sparse(6, 3 * 7, dtype, 0.7).map((v, i) => (i % 5 === 0 ? -0 : v));
      const x = tensor(xs, { dtype, device: dev }).reshape([3, 7]);
      const stored = valuesOf(x);
      const { values, inverse, counts } = unique(x, { returnInverse: true, returnCounts: true });
      const finite = [...new Set(stored.filter((v) => !Number.isNaN(v)).map((v) => v + 0))].sort((a, b) => a - b);
      const nans = stored.filter((v) => Number.isNaN(v));
      const expected = [...finite, ...nans];
      const got = valuesOf(values);
      expect(got.length, dtype).toBe(expected.length);
      got.forEach((v, i) => expect(Number.isNaN(v) ? Number.isNaN(expected[i]) : v === expected[i], `${dtype} value ${i}`).toBe(true));
      expect(inverse!.shape).toEqual([3, 7]);
      const inv = valuesOf(inverse!);
      stored.forEach((v, i) => expect(Number.isNaN(v) ? Number.isNaN(got[inv[i]]) : got[inv[i]] === v, `${dtype} inverse ${i}`).toBe(true));
      expect(valuesOf(counts!)).toEqual(expected.map((u) => (Number.isNaN(u) ? 1 : stored.filter((v) => v === u).length)));
    }
  });

  it('returns the values alone without options; empty, 0-d and large inputs', () => {
    const x = tensor([3, 1, 3, 2], { dtype: 'int64', device: dev });
    expect(unique(x).toArray()).toEqual([1, 2, 3]);
    expect(x.unique().toArray()).toEqual([1, 2, 3]);
    const e = unique(tensor([], { device: dev }).reshape([0, 2]), { returnInverse: true, returnCounts: true });
    expect([e.values.shape, e.inverse!.shape, e.counts!.shape]).toEqual([[0], [0, 2], [0]]);
    expect(unique(tensor(4, { device: dev })).toArray()).toEqual([4]);
    const n = 50_000;
    const big = tensor(Array.from({ length: n }, (_, i) => (i * 7919) % 997), { dtype: 'int32', device: dev });
    const r = unique(big, { returnCounts: true });
    expect(r.values.shape).toEqual([997]);
    expect(toNumbers(r.counts!.toTypedArray()).reduce((a, b) => a + b, 0)).toBe(n);
  });
});

forEachDevice('meshgrid', (dev) => {
  it("'ij' and 'xy' indexing, 0-d inputs, views of the inputs", () => {
    const a = arange(2, undefined, 1, { device: dev }), b = arange(3, undefined, 1, { device: dev }), c = tensor(9, { device: dev });
    const [i0, i1] = meshgrid([a, b]);
    expect(i0.toArray()).toEqual([[0, 0, 0], [1, 1, 1]]);
    expect(i1.toArray()).toEqual([[0, 1, 2], [0, 1, 2]]);
    expect(i0.storage).toBe(a.storage);
    const [x0, x1, x2] = meshgrid([a, b, c], { indexing: 'xy' });
    expect(x0.shape).toEqual([3, 2, 1]);
    expect(x0.toArray()).toEqual([[[0], [1]], [[0], [1]], [[0], [1]]]);
    expect(x1.toArray()).toEqual([[[0], [0]], [[1], [1]], [[2], [2]]]);
    expect(x2.toArray()).toEqual([[[9], [9]], [[9], [9]], [[9], [9]]]);
    expect(meshgrid([a])[0].toArray()).toEqual([0, 1]);
  });

  it('refuses bad arguments', () => {
    const a = arange(2, undefined, 1, { device: dev });
    expectError(() => meshgrid([]), ValueError, 'meshgrid', 'tensors');
    expectError(() => meshgrid([a, a.reshape([1, 2])]), ShapeError, 'meshgrid', 'tensors[1]');
    expectError(() => meshgrid([a], { indexing: 'yx' as never }), ValueError, 'meshgrid', 'indexing');
    expectError(() => meshgrid([a, a.to('float64')]), ValueError, 'meshgrid', 'tensors[1]');
  });
});

forEachDevice('selections leave nothing allocated', (dev) => {
  it('nonzero, maskedSelect, unique, meshgrid', () => {
    const x = tensor(sparse(9, 200, 'float32'), { device: dev }).reshape([10, 20]);
    synchronize(dev);
    const before = memoryStats(dev).allocated;
    tidy(() => {
      nonzero(x);
      nonzero(x, { asTuple: true });
      maskedSelect(x, x.gt(0));
      unique(x, { returnInverse: true, returnCounts: true });
      meshgrid([x.select(0, 0), x.select(1, 0)]);
    });
    synchronize(dev);
    expect(memoryStats(dev).allocated).toBe(before);
    x.dispose();
  });
});
