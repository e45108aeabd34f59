import { expect, it } from 'vitest';
import {
  type DType, type Tensor, DTypeError, DeviceError, ShapeError, ValueError,
  gather, indexSelect, oneHot, scatter, scatter_, scatterAdd, scatterAdd_, synchronize, tensor, zeros, allOps,
} from '@kiln/tensor';
import { cudaAvailable, expectClose, forEachDevice, testRng, toNumbers, expectError } from '@kiln/tensor/testing';

// ---- float64 references in plain TS ----------------------------------------------------------

const numelOf = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);
function unravel(i: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = i % shape[d];
    i = Math.floor(i / shape[d]);
  }
  return idx;
}
const ravel = (idx: readonly number[], shape: readonly number[]): number => idx.reduce((acc, v, d) => acc * shape[d] + v, 0);

function gatherRef(x: number[], xs: number[], dim: number, ix: number[], is: number[]): number[] {
  return ix.map((v, i) => {
    const p = unravel(i, is);
    p[dim] = v;
    return x[ravel(p, xs)];
  });
}

function scatterRef(x: number[], xs: number[], dim: number, ix: number[], is: number[], src: number[] | number, ss: number[], add: boolean): number[] {
  const out = [...x];
  ix.forEach((v, i) => {
    const p = unravel(i, is);
    const s = typeof src === 'number' ? src : src[ravel(p, ss)];
    p[dim] = v;
    const at = ravel(p, xs);
    out[at] = add ? out[at] + s : s;
  });
  return out;
}

function indexSelectRef(x: number[], xs: number[], dim: number, ix: number[]): number[] {
  const os = [...xs];
  os[dim] = ix.length;
  return Array.from({ length: numelOf(os) }, (_, i) => {
    const p = unravel(i, os);
    p[dim] = ix[p[dim]]!;
    return x[ravel(p, xs)];
  });
}

// ---- data ----------------------------------------------------------------------------------------

const isFloat = (d: DType): boolean => d.startsWith('float') || d === 'bfloat16';
/** Values exactly representable in every dtype (small integers and halves; 0/1 for bool). */
function values(seed: number, n: number, dtype: DType): number[] {
  const r = testRng(seed);
  return Array.from({ length: n }, () => (dtype === 'bool' ? (r() < 0.5 ? 0 : 1) : isFloat(dtype) ? Math.round(r() * 64 - 32) / 2 : Math.round(r() * 200 - 100)) + 0); // + 0: no -0
}
function make(vals: number[], shape: number[], dtype: DType, dev: string): Tensor {
  const data = dtype === 'bool' ? vals.map((v) => v !== 0) : vals;
  return tensor(data, { dtype, device: dev }).reshape(shape);
}
/** Random indices in [0, size) with the given shape. */
function indices(seed: number, shape: number[], size: number): number[] {
  const r = testRng(seed);
  return Array.from({ length: numelOf(shape) }, () => Math.floor(r() * size));
}
/** Indices with no repeat within each slice along dim (so scatter has one defined answer on every device). */
function permutationIndices(seed: number, shape: number[], dim: number, size: number): number[] {
  const r = testRng(seed);
  const out = new Array<number>(numelOf(shape));
  const outer = shape.slice(0, dim), inner = shape.slice(dim + 1);
  for (let o = 0; o < numelOf(outer); o++) {
    for (let i = 0; i < numelOf(inner); i++) {
      const perm = Array.from({ length: size }, (_, k) => k).sort(() => r() - 0.5);
      for (let j = 0; j < shape[dim]; j++) out[ravel([...unravel(o, outer), j, ...unravel(i, inner)], shape)] = perm[j]!;
    }
  }
  return out;
}
const read = (t: Tensor): number[] => toNumbers(t.toTypedArray());

const ALL: DType[] = ['float32', 'float64', 'int32', 'int64', 'bool', 'float16', 'bfloat16'];

it('declares the ops with their input names', () => {
  const ops = new Map(allOps().map((o) => [o.name, o]));
  expect(ops.get('gather')?.inputs).toEqual(['input', 'index']);
  expect(ops.get('scatter')?.inputs).toEqual(['input', 'index', 'src']);
  expect(ops.get('scatter_add')?.inputs).toEqual(['input', 'index', 'src']);
  expect(ops.get('index_select')?.inputs).toEqual(['input', 'index']);
  expect(ops.get('one_hot')?.differentiable).toBe(false);
});

forEachDevice('gather', (dev) => {
  it('matches the reference along every dim, for every dtype and both index dtypes', () => {
    const xs = [4, 5, 3];
    for (const dtype of ALL) {
      for (const idxDtype of ['int32', 'int64'] as const) {
        for (let dim = 0; dim < 3; dim++) {
          const x = values(dim + 1, numelOf(xs), dtype);
          const is = [3, 4, 2];
          is[dim] = 6; // longer than the input along dim: allowed
          const ix = indices(dim + 7, is, xs[dim]);
          const out = gather(make(x, xs, dtype, dev), dim, make(ix, is, idxDtype, dev));
          expect(out.shape).toEqual(is);
          expect(out.dtype).toBe(dtype);
          expect(read(out), `${dtype} ${idxDtype} dim ${dim}`).toEqual(gatherRef(x, xs, dim, ix, is));
        }
      }
    }
  });

  it('handles negative dims, non-contiguous input and index, and the method form', () => {
    const x = values(3, 6 * 5, 'float32');
    const xt = make(x, [5, 6], 'float32', dev).t(); // [6, 5], strides [1, 6]
    const xtVals = read(xt.contiguous());
    const ixBase = indices(4, [5, 6], 6);
    const ixt = make(ixBase, [5, 6], 'int64', dev).t().slice(1, 0, 5, 2); // [6, 3], non-contiguous
    const ixVals = read(ixt.contiguous());
    const out = xt.gather(-2, ixt);
    expect(read(out)).toEqual(gatherRef(xtVals, [6, 5], 0, ixVals, [6, 3]));
    // an expanded (stride 0) index
    const row = make([4, 0, 2], [1, 3], 'int32', dev).expand(6, 3);
    expect(read(gather(xt, 1, row))).toEqual(gatherRef(xtVals, [6, 5], 1, read(row.contiguous()), [6, 3]));
  });

  it('handles 0-d and empty tensors', () => {
    const s = tensor(7.5, { device: dev });
    expect(gather(s, 0, tensor(0, { device: dev })).toArray()).toBe(7.5);
    expect(gather(tensor([1, 2, 3], { device: dev }), 0, tensor([], { dtype: 'int64', device: dev })).shape).toEqual([0]);
    const e = gather(zeros([0, 3], { device: dev }), 1, zeros([0, 2], { dtype: 'int64', device: dev }));
    expect(e.shape).toEqual([0, 2]);
  });

  it('rejects bad arguments with typed errors naming them', () => {
    const x = tensor([[1, 2], [3, 4]], { device: dev });
    expectError(() => gather(x, 0, tensor([[0.5]], { device: dev })), DTypeError, { op: 'gather', argument: 'index', expected: 'an int32 or int64 tensor', got: 'float32' });
    expectError(() => gather(x, 0, tensor([0, 1], { device: dev })), ShapeError, { op: 'gather', argument: 'index', expected: "a tensor with 2 dimensions (as 'input')", got: '1 dimensions (shape [2])' });
    expectError(() => gather(x, 0, tensor([[0, 1, 1]], { device: dev })), ShapeError, { op: 'gather', argument: 'index', expected: "a size <= 2 in dimension 1 (the input's shape is [2, 2])", got: 'shape [1, 3]' });
    expectError(() => gather(x, 2, tensor([[0]], { device: dev })), ShapeError, { op: 'gather', argument: 'dim', expected: 'a dimension in [-2, 1]', got: '2' });
  });

  it('raises a ValueError for out-of-range and negative indices', () => {
    const x = tensor([[1, 2], [3, 4]], { device: dev });
    for (const bad of [2, -1]) {
      // on the CPU gather throws; on CUDA the kernel reports it and reading the result throws. The
      // CPU names the position, the GPU (which reports the first it finds) does not.
      expectError(() => gather(x, 1, tensor([[0, bad], [1, 0]], { device: dev })).toArray(), ValueError, {
        op: 'gather', argument: 'index', expected: 'a value in [0, 1]', got: String(bad),
        message: dev === 'cpu' ? new RegExp(`argument 'index' holds ${bad} at position \\[0, 1\\], outside the valid range \\[0, 1\\]`) : /argument 'index' holds the value/,
      });
    }
    // the device is usable afterwards
    expect(gather(x, 1, tensor([[1], [0]], { device: dev })).toArray()).toEqual([[2], [3]]);
  });
});

forEachDevice('scatter', (dev) => {
  it('matches the reference (tensor src and value) for every dtype, along every dim', () => {
    const xs = [4, 5, 3];
    for (const dtype of ALL) {
      for (let dim = 0; dim < 3; dim++) {
        const x = values(dim + 11, numelOf(xs), dtype);
        const is = [2, 3, 2];
        is[dim] = Math.min(3, xs[dim]);
        const ss = is.map((s) => s + 1); // src may be larger than index
        const ix = permutationIndices(dim + 5, is, dim, xs[dim]);
        const src = values(dim + 21, numelOf(ss), dtype);
        const idx = make(ix, is, dim % 2 ? 'int32' : 'int64', dev);
        const out = scatter(make(x, xs, dtype, dev), dim, idx, make(src, ss, dtype, dev));
        expect(read(out), `${dtype} dim ${dim}`).toEqual(scatterRef(x, xs, dim, ix, is, src, ss, false));
        const value = dtype === 'bool' ? 1 : 3;
        expect(read(scatter(make(x, xs, dtype, dev), dim, idx, value)), `${dtype} value`).toEqual(scatterRef(x, xs, dim, ix, is, value, ss, false));
      }
    }
  });

  it('is out of place; scatter_ writes in place into a non-contiguous target', () => {
    const base = make([1, 2, 3, 4, 5, 6], [2, 3], 'float32', dev);
    const out = base.scatter(1, tensor([[2], [0]], { device: dev }), 9);
    expect(base.toArray()).toEqual([[1, 2, 3], [4, 5, 6]]);
    expect(out.toArray()).toEqual([[1, 2, 9], [9, 5, 6]]);
    const t = base.t(); // [3, 2], strides [1, 3]
    const r = scatter_(t, 0, tensor([[1, 2]], { device: dev }), tensor([[-1, -2]], { dtype: 'float32', device: dev }));
    expect(r).toBe(t);
    expect(base.toArray()).toEqual([[1, -1, 3], [4, 5, -2]]);
  });

  it('keeps the last of repeated indices on the CPU', () => {
    if (dev !== 'cpu') return; // unspecified on CUDA, as in PyTorch
    const out = scatter(zeros([3], { device: dev }), 0, tensor([1, 1, 1, 2], { device: dev }), tensor([5, 6, 7, 8], { dtype: 'float32', device: dev }));
    expect(out.toArray()).toEqual([0, 7, 8]);
  });

  it('handles 0-d and empty index tensors', () => {
    expect(scatter(tensor(1.5, { device: dev }), 0, tensor(0, { device: dev }), tensor(4, { dtype: 'float32', device: dev })).toArray()).toBe(4);
    const x = tensor([1, 2], { device: dev });
    expect(scatter(x, 0, tensor([], { dtype: 'int64', device: dev }), tensor([], { dtype: 'int64', device: dev })).toArray()).toEqual([1, 2]);
  });

  it('rejects bad arguments', () => {
    const x = tensor([[1, 2], [3, 4]], { dtype: 'float32', device: dev });
    const ix = tensor([[0, 1]], { device: dev });
    expectError(() => scatter(x, 0, ix, tensor([[1, 2]], { dtype: 'float64', device: dev })), DTypeError, { op: 'scatter', argument: 'src', expected: "the input's dtype float32 (convert with .to('float32'))", got: 'float64' });
    expectError(() => scatter(x, 0, ix, tensor([[1]], { dtype: 'float32', device: dev })), ShapeError, { op: 'scatter', argument: 'index', expected: "a size <= 1 in dimension 1 (the src's shape is [1, 1])", got: 'shape [1, 2]' });
    expectError(() => scatter(tensor([1, 2], { device: dev }), 0, tensor([0], { device: dev }), 1.5), ValueError, { op: 'scatter', argument: 'value', expected: 'an integer for an int64 tensor', got: '1.5' });
    expectError(() => scatter_(tensor([[1, 2]], { device: dev }).expand(2, 2), 0, tensor([[0]], { device: dev }), 1), ValueError, { op: 'scatter_', argument: 'self', got: 'a view with stride 0 along dim 0 of size 2' });
  });

  it('raises a ValueError for a bad index and leaves the target untouched', () => {
    const t = tensor([[1, 2, 3], [4, 5, 6]], { dtype: 'float32', device: dev });
    const src = tensor([[7, 8, 9]], { dtype: 'float32', device: dev });
    for (const bad of [2, -3]) {
      let err: unknown;
      try {
        t.scatter_(0, tensor([[0, bad, 1]], { device: dev }), src);
        synchronize(dev);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ValueError);
      expect(String(err)).toMatch(/scatter/);
      expect(t.toArray()).toEqual([[1, 2, 3], [4, 5, 6]]);
    }
    let err: unknown;
    try {
      scatter(t, 1, tensor([[5]], { device: dev }), 0).toArray();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ValueError);
  });
});

forEachDevice('scatterAdd', (dev) => {
  it('sums repeated indices, for every numeric dtype', () => {
    const xs = [5, 4];
    for (const dtype of ALL.filter((d) => d !== 'bool')) {
      for (let dim = 0; dim < 2; dim++) {
        const x = values(31 + dim, 20, dtype);
        const is = dim === 0 ? [12, 3] : [4, 9];
        const ix = indices(41 + dim, is, xs[dim]);
        const src = values(51 + dim, numelOf(is), dtype);
        const out = scatterAdd(make(x, xs, dtype, dev), dim, make(ix, is, 'int64', dev), make(src, is, dtype, dev));
        expect(out.dtype).toBe(dtype);
        // multiples of 1/2: every partial sum is exact in float32 (the half types accumulate there), so
        // the result is the exact sum, rounded once to the dtype (2^-8 relative for bfloat16)
        const rtol = dtype === 'bfloat16' ? 2 ** -8 : dtype === 'float16' ? 2 ** -11 : 0;
        expectClose(read(out), scatterRef(x, xs, dim, ix, is, src, is, true), { rtol, atol: 0, what: `${dtype} dim ${dim}` });
      }
    }
  });

  it('adds random floats like a float64 reference; scatterAdd_ works in place', () => {
    const x = Array.from({ length: 64 }, (_, i) => Math.sin(i));
    const ix = indices(3, [200, 4], 16);
    const src = Array.from({ length: 800 }, (_, i) => Math.cos(i * 0.37));
    const t = tensor(x, { dtype: 'float32', device: dev }).reshape(16, 4);
    scatterAdd_(t, 0, tensor(ix, { device: dev }).reshape(200, 4), tensor(src, { dtype: 'float32', device: dev }).reshape(200, 4));
    expectClose(read(t), scatterRef(x, [16, 4], 0, ix, [200, 4], src, [200, 4], true), { rtol: 1e-5, atol: 1e-5 });
  });

  it('rejects bool and a bad index (target untouched)', () => {
    const b = tensor([true, false], { device: dev });
    expectError(() => scatterAdd(b, 0, tensor([0], { device: dev }), tensor([true], { device: dev })), DTypeError, { op: 'scatter_add', argument: 'input', expected: 'a numeric tensor', got: 'bool' });
    const t = tensor([1, 2, 3], { dtype: 'float16', device: dev });
    let err: unknown;
    try {
      t.scatterAdd_(0, tensor([0, 3], { device: dev }), tensor([1, 1], { dtype: 'float16', device: dev }));
      synchronize(dev);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ValueError);
    expect(t.toArray()).toEqual([1, 2, 3]);
  });
});

forEachDevice('indexSelect', (dev) => {
  it('matches the reference along every dim, with repeats, for every dtype', () => {
    const xs = [3, 4, 5];
    for (const dtype of ALL) {
      for (let dim = 0; dim < 3; dim++) {
        const x = values(61 + dim, 60, dtype);
        const ix = indices(71 + dim, [7], xs[dim]);
        const out = indexSelect(make(x, xs, dtype, dev), dim, tensor(ix, { dtype: dim ? 'int32' : 'int64', device: dev }));
        const os = [...xs];
        os[dim] = 7;
        expect(out.shape).toEqual(os);
        expect(read(out), `${dtype} dim ${dim}`).toEqual(indexSelectRef(x, xs, dim, ix));
      }
    }
  });

  it('takes non-contiguous inputs and indices, 0-d and empty indices', () => {
    const x = make(values(5, 12, 'float64'), [3, 4], 'float64', dev).t(); // [4, 3]
    const ix = tensor([2, 9, 0, 9, 3, 9], { device: dev }).slice(0, 0, 6, 2); // [2, 0, 3], stride 2
    expect(read(x.indexSelect(0, ix))).toEqual(indexSelectRef(read(x.contiguous()), [4, 3], 0, [2, 0, 3]));
    expect(indexSelect(x, 1, tensor(1, { device: dev })).shape).toEqual([4, 1]);
    expect(indexSelect(x, 1, tensor([], { dtype: 'int64', device: dev })).shape).toEqual([4, 0]);
    expect(indexSelect(tensor(3.5, { device: dev }), 0, tensor([0], { device: dev })).toArray()).toBe(3.5);
  });

  it('rejects bad arguments and out-of-range indices', () => {
    const x = tensor([[1, 2], [3, 4]], { device: dev });
    expectError(() => indexSelect(x, 0, tensor([[0]], { device: dev })), ShapeError, { op: 'index_select', argument: 'index', expected: 'a 0-d or 1-d tensor', got: 'shape [1, 1]' });
    expectError(() => indexSelect(x, 0, tensor([0.0], { dtype: 'float32', device: dev })), DTypeError, { op: 'index_select', argument: 'index', expected: 'an int32 or int64 tensor', got: 'float32' });
    let err: unknown;
    try {
      indexSelect(x, 1, tensor([0, 2], { device: dev })).toArray();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ValueError);
    expect(String(err)).toMatch(/index_select/);
  });
});

forEachDevice('oneHot', (dev) => {
  it('encodes int32 and int64 indices of any shape, inferring the class count', () => {
    const ix = tensor([[0, 2], [1, 2]], { device: dev });
    const out = oneHot(ix);
    expect(out.dtype).toBe('int64');
    expect(out.toArray()).toEqual([[[1, 0, 0], [0, 0, 1]], [[0, 1, 0], [0, 0, 1]]]);
    expect(oneHot(tensor([1, 0], { dtype: 'int32', device: dev }), 4).toArray()).toEqual([[0, 1, 0, 0], [1, 0, 0, 0]]);
    expect(oneHot(tensor(2, { device: dev }), 3).toArray()).toEqual([0, 0, 1]);
    expect(oneHot(ix.t(), 3).toArray()).toEqual([[[1, 0, 0], [0, 1, 0]], [[0, 0, 1], [0, 0, 1]]]);
    expect(oneHot(tensor([], { dtype: 'int64', device: dev }), 5).shape).toEqual([0, 5]);
  });

  it('rejects bad inputs', () => {
    expectError(() => oneHot(tensor([0.5], { device: dev })), DTypeError, { op: 'one_hot', argument: 'input', expected: 'an int32 or int64 tensor', got: 'float32' });
    expectError(() => oneHot(tensor([], { dtype: 'int64', device: dev })), ValueError, { op: 'one_hot', argument: 'numClasses', expected: 'a positive integer for an empty input (it cannot be inferred)', got: '-1' });
    expectError(() => oneHot(tensor([1], { device: dev }), 0), ValueError, { op: 'one_hot', argument: 'numClasses', expected: 'a positive integer, or -1 to use the largest class value + 1', got: '0' });
    expectError(() => oneHot(tensor([1, -1], { device: dev })), ValueError, { op: 'one_hot', argument: 'input', expected: 'class values >= 0', got: '-1 at flat position 1' });
    let err: unknown;
    try {
      oneHot(tensor([1, 3], { device: dev }), 3).toArray();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ValueError);
    expect(String(err)).toMatch(/one_hot/);
  });
});

forEachDevice('indexing, large tensors (threaded loops)', (dev) => {
  it('gather, scatterAdd and indexSelect on 10^5+ elements match the references', () => {
    const xs = [300, 400];
    const x = values(81, numelOf(xs), 'float32');
    const xt = make(x, xs, 'float32', dev);
    for (let dim = 0; dim < 2; dim++) {
      const is = [300, 400];
      const ix = indices(82 + dim, is, xs[dim]);
      const idx = make(ix, is, 'int64', dev);
      // expectClose with zero tolerance: exact, and a failure names one element instead of diffing 10^5
      expectClose(read(gather(xt, dim, idx)), gatherRef(x, xs, dim, ix, is), { rtol: 0, atol: 0, what: `gather dim ${dim}` });
      const src = values(84 + dim, numelOf(is), 'float32');
      // integer-valued halves below 2^24 in every partial sum: exact in any order
      expectClose(read(scatterAdd(xt, dim, idx, make(src, is, 'float32', dev))), scatterRef(x, xs, dim, ix, is, src, is, true), { rtol: 0, atol: 0, what: `scatterAdd dim ${dim}` });
      const sel = indices(86 + dim, [1000], xs[dim]);
      expectClose(read(indexSelect(xt, dim, tensor(sel, { device: dev }))), indexSelectRef(x, xs, dim, sel), { rtol: 0, atol: 0, what: `indexSelect dim ${dim}` });
    }
  });

  it('reports the first bad position of a large index', () => {
    if (dev !== 'cpu') return; // CUDA reports one of them
    const ix = new Array<number>(100_000).fill(1);
    ix[70_000] = 9;
    ix[90_000] = -4;
    expectError(() => gather(zeros([100_000, 2], { device: dev }), 1, tensor(ix, { device: dev }).reshape(100_000, 1)), ValueError, { op: 'gather', argument: 'index', expected: 'a value in [0, 1]', got: '9' });
  });
});

it('names the argument on another device', () => {
  if (!cudaAvailable()) return;
  const x = tensor([1, 2], { device: 'cuda' });
  expectError(() => gather(x, 0, tensor([0])), DeviceError, { op: 'gather', argument: 'index' });
  expectError(() => scatter(x, 0, tensor([0], { device: 'cuda' }), tensor([1])), DeviceError, { op: 'scatter', argument: 'src' });
});
