import { expect, it } from 'vitest';
import {
  type DType, type Tensor, DeviceError, ShapeError, ValueError,
  allOps, arange, cat, chunk, split, stack, tensor, unbind, zeros,
} from '@kiln/tensor';
import { cudaAvailable, forEachDevice, randomValues, recordOps, toNumbers, expectError } from '@kiln/tensor/testing';

const read = (t: Tensor): number[] => toNumbers(t.toTypedArray());
const numelOf = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

/** float64 reference of cat on row-major value arrays. */
function catRef(parts: { v: number[]; s: number[] }[], dim: number): { v: number[]; s: number[] } {
  const s = [...parts[0].s];
  s[dim] = parts.reduce((a, p) => a + p.s[dim], 0);
  const outer = numelOf(s.slice(0, dim));
  const v: number[] = [];
  for (let o = 0; o < outer; o++) {
    for (const p of parts) {
      const block = numelOf(p.s.slice(dim));
      v.push(...p.v.slice(o * block, (o + 1) * block));
    }
  }
  return { v, s };
}

it('declares cat with its tensors input', () => {
  expect(allOps().find((o) => o.name === 'cat')?.inputs).toEqual(['tensors']);
});

forEachDevice('cat', (dev) => {
  it('matches the reference along every dim, including negative dims', () => {
    const shapes = [[2, 3, 4], [2, 1, 4], [2, 5, 4]];
    for (let dim = 0; dim < 3; dim++) {
      const parts = shapes.map((base, i) => {
        const s = [2, 3, 4];
        s[dim] = base[1]!;
        return { v: randomValues(i + dim * 10, numelOf(s)), s };
      });
      const ts = parts.map((p) => tensor(p.v, { dtype: 'float64', device: dev }).reshape(p.s));
      const ref = catRef(parts, dim);
      const out = cat(ts, dim - 3);
      expect(out.shape).toEqual(ref.s);
      expect(read(out)).toEqual(ref.v);
    }
  });

  it('takes non-contiguous inputs and promotes dtypes', () => {
    const a = arange(6, undefined, 1, { dtype: 'int32', device: dev }).reshape(2, 3).t(); // [3, 2] int32, transposed
    const b = tensor([[0.5, 1.5]], { dtype: 'float32', device: dev }).expand(2, 2); // expanded
    const out = cat([a, b], 0);
    expect(out.dtype).toBe('float32');
    expect(out.toArray()).toEqual([[0, 3], [1, 4], [2, 5], [0.5, 1.5], [0.5, 1.5]]);
    const mixed: [DType, DType, DType][] = [['int32', 'int64', 'int64'], ['bool', 'int32', 'int32'], ['float16', 'bfloat16', 'float32'], ['float32', 'float64', 'float64']];
    for (const [x, y, want] of mixed) {
      const r = cat([zeros([1], { dtype: x, device: dev }), zeros([2], { dtype: y, device: dev })]);
      expect(r.dtype).toBe(want);
      expect(r.shape).toEqual([3]);
    }
    expect(cat([tensor([true], { device: dev }), tensor([false, true], { device: dev })]).toArray()).toEqual([true, false, true]);
  });

  it('handles empty inputs, the legacy [0] tensor and one tensor', () => {
    const x = tensor([[1, 2], [3, 4]], { dtype: 'float32', device: dev });
    expect(cat([x, zeros([0, 2], { device: dev })], 0).toArray()).toEqual([[1, 2], [3, 4]]);
    expect(cat([zeros([0], { device: dev }), x, zeros([0], { device: dev })], 1).toArray()).toEqual([[1, 2], [3, 4]]);
    expect(cat([zeros([0, 3], { device: dev }), zeros([0, 3], { device: dev })], 0).shape).toEqual([0, 3]);
    const one = cat([x], 1);
    expect(one).not.toBe(x);
    expect(one.toArray()).toEqual(x.toArray());
  });

  it('rejects bad arguments, naming the offending tensor', () => {
    const x = zeros([2, 3], { device: dev });
    expectError(() => cat([]), ValueError, { op: 'cat', argument: 'tensors', expected: 'a non-empty array of tensors', got: '[]' });
    expectError(() => cat([x, zeros([2, 4], { device: dev })], 0), ShapeError, { op: 'cat', argument: 'tensors[1]', expected: 'shape [*, 3] (as tensors[0]; sizes may differ only in dimension 0)', got: '[2, 4]' });
    expectError(() => cat([x, x, zeros([2, 4], { device: dev })], 0), ShapeError, { op: 'cat', argument: 'tensors[2]', expected: 'shape [*, 3] (as tensors[0]; sizes may differ only in dimension 0)', got: '[2, 4]' });
    expectError(() => cat([x, zeros([2, 3, 1], { device: dev })], 0), ShapeError, { op: 'cat', argument: 'tensors[1]', expected: 'shape [*, 3] (as tensors[0]; sizes may differ only in dimension 0)', got: '[2, 3, 1]' });
    expectError(() => cat([x, zeros([], { device: dev })], 0), ShapeError, { op: 'cat', argument: 'tensors[1]', expected: 'a tensor with at least one dimension (use stack for 0-d tensors)', got: 'a 0-d tensor' });
    expectError(() => cat([x, x], 2), ShapeError, { op: 'cat', argument: 'dim', expected: 'a dimension in [-2, 1]', got: '2' });
  });
});

forEachDevice('stack', (dev) => {
  it('joins along a new dim at every position', () => {
    const a = tensor([[1, 2, 3], [4, 5, 6]], { device: dev }), b = a.mul(10);
    expect(stack([a, b]).toArray()).toEqual([a.toArray(), b.toArray()]);
    expect(stack([a, b], 1).toArray()).toEqual([[[1, 2, 3], [10, 20, 30]], [[4, 5, 6], [40, 50, 60]]]);
    expect(stack([a, b], -1).toArray()).toEqual([[[1, 10], [2, 20], [3, 30]], [[4, 40], [5, 50], [6, 60]]]);
    expect(stack([tensor(1, { device: dev }), tensor(2.5, { device: dev })]).toArray()).toEqual([1, 2.5]);
    expect(stack([a.t(), b.t()], 0).shape).toEqual([2, 3, 2]);
  });

  it('rejects unequal shapes and bad dims', () => {
    const a = zeros([2, 3], { device: dev });
    expectError(() => stack([a, zeros([3, 2], { device: dev })]), ShapeError, { op: 'stack', argument: 'tensors[1]', expected: 'shape [2, 3] (as tensors[0]; stacked tensors must have equal shapes)', got: '[3, 2]' });
    expectError(() => stack([a, a], 3), ShapeError, { op: 'stack', argument: 'dim', expected: 'a dimension in [-3, 2]', got: '3' });
    expectError(() => stack([]), ValueError, { op: 'stack', argument: 'tensors', expected: 'a non-empty array of tensors', got: '[]' });
  });
});

forEachDevice('split, chunk, unbind', (dev) => {
  it('split by size and by sections returns views', () => {
    const x = arange(10, undefined, 1, { device: dev }).reshape(5, 2);
    const parts = split(x, 2);
    expect(parts.map((p) => p.shape)).toEqual([[2, 2], [2, 2], [1, 2]]);
    expect(parts.map((p) => p.toArray())).toEqual([[[0, 1], [2, 3]], [[4, 5], [6, 7]], [[8, 9]]]);
    expect(parts[1].storage).toBe(x.storage);
    parts[2].fill_(-1);
    expect(x.toArray()).toEqual([[0, 1], [2, 3], [4, 5], [6, 7], [-1, -1]]);
    expect(x.split([1, 0, 4]).map((p) => p.shape)).toEqual([[1, 2], [0, 2], [4, 2]]);
    expect(x.split(1, 1).map((p) => p.toArray())).toEqual([[[0], [2], [4], [6], [-1]], [[1], [3], [5], [7], [-1]]]);
    expect(split(zeros([0, 2], { device: dev }), 3).map((p) => p.shape)).toEqual([[0, 2]]);
  });

  it('split rejects bad sizes', () => {
    const x = zeros([5], { device: dev });
    expectError(() => split(x, 0), ValueError, { op: 'split', argument: 'sizeOrSections', expected: 'a positive integer size', got: '0' });
    expectError(() => split(x, [2, 2]), ValueError, { op: 'split', argument: 'sizeOrSections', expected: 'section sizes adding up to 5 (the size of dimension 0)', got: '[2, 2] (sum 4)' });
    expectError(() => split(x, 1.5), ValueError, { op: 'split', argument: 'sizeOrSections', expected: 'a positive integer size', got: '1.5' });
    expectError(() => split(zeros([], { device: dev }), 1), ShapeError, { op: 'split', argument: 'input', expected: 'a tensor with at least one dimension', got: 'a 0-d tensor' });
  });

  it('chunk gives ceil-sized pieces, like torch.chunk', () => {
    const x = arange(10, undefined, 1, { device: dev });
    expect(chunk(x, 3).map((p) => p.toArray())).toEqual([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);
    expect(chunk(x, 4).map((p) => p.shape[0])).toEqual([3, 3, 3, 1]);
    expect(x.chunk(6).map((p) => p.shape[0])).toEqual([2, 2, 2, 2, 2]); // fewer than asked, as PyTorch
    expect(chunk(x, 20).length).toBe(10);
    expect(chunk(zeros([0], { device: dev }), 3).length).toBe(3);
    expect(chunk(x.reshape(2, 5), 2, 1).map((p) => p.shape)).toEqual([[2, 3], [2, 2]]);
    expectError(() => chunk(x, 0), ValueError, { op: 'chunk', argument: 'chunks', expected: 'a positive integer', got: '0' });
  });

  it('unbind returns the slices as views', () => {
    const x = tensor([[1, 2, 3], [4, 5, 6]], { device: dev });
    expect(unbind(x).map((t) => t.toArray())).toEqual([[1, 2, 3], [4, 5, 6]]);
    const cols = x.unbind(1);
    expect(cols.map((t) => t.toArray())).toEqual([[1, 4], [2, 5], [3, 6]]);
    expect(cols[0].storage).toBe(x.storage);
    expect(unbind(zeros([0, 2], { device: dev }))).toEqual([]);
    expectError(() => unbind(tensor(1, { device: dev })), ShapeError, { op: 'unbind', argument: 'input', expected: 'a tensor with at least one dimension', got: 'a 0-d tensor' });
  });

  it('unbind with a size checks it and gives a tuple of that many tensors (no casts to destructure)', () => {
    const boxes = tensor([[0, 1, 2, 3], [4, 5, 6, 7]], { device: dev });
    const [x1, y1, x2, y2] = boxes.unbind(-1, 4);   // typed [Tensor, Tensor, Tensor, Tensor]
    expect([x1.toArray(), y1.toArray(), x2.toArray(), y2.toArray()]).toEqual([[0, 4], [1, 5], [2, 6], [3, 7]]);
    const pair: [Tensor, Tensor] = unbind(boxes, 0, 2);
    expect(pair[1].toArray()).toEqual([4, 5, 6, 7]);
    expectError(() => boxes.unbind(-1, 3), ShapeError, { op: 'unbind', argument: 'input', expected: 'size 3 in dimension 1 (the size asked for)', got: 'shape [2, 4]' });
    expectError(() => unbind(boxes, 0, 4), ShapeError, { op: 'unbind', argument: 'input', expected: 'size 4 in dimension 0 (the size asked for)', got: 'shape [2, 4]' });
  });
});

it('records cat for autograd with the tensors and their sizes', () => {
  const a = zeros([2, 2], { requiresGrad: true }), b = zeros([3, 2]);
  const recorded = recordOps(() => cat([a, b, a], 0));
  const cats = recorded.filter((r) => r.op === 'cat').map((r) => ({ n: r.inputs.length, attrs: r.attrs }));
  expect(cats).toEqual([{ n: 3, attrs: { dim: 0, sizes: [2, 3, 2] } }]);
});

it('names the tensor on another device', () => {
  if (!cudaAvailable()) return;
  const a = zeros([2], { device: 'cuda' });
  expectError(() => cat([a, a, zeros([2])]), DeviceError, { op: 'cat', argument: 'tensors[2]' });
  expectError(() => stack([zeros([2]), a]), DeviceError, { op: 'stack', argument: 'tensors[1]' });
});
