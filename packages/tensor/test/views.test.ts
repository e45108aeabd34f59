// Views (ops/views.ts): shapes, strides and offsets as PyTorch gives them, shared storage, view()
// versus reshape() on non-contiguous layouts, -1 inference, 0-size and 0-d tensors, and typed errors.
// Each view's contiguous() copy is checked against a gather written from the op's meaning (an
// output index mapped to the base's flat index), not from the strides Kiln computed.
import { describe, expect, it } from 'vitest';
import { type DType, DisposedError, ShapeError, type Tensor, ValueError, arange, scalarTensor, zeros } from '@kiln/tensor';
import { expectError, forEachDevice } from '@kiln/tensor/testing';

/** Every multi-index of a shape in row-major order. */
function indices(shape: readonly number[]): number[][] {
  let out: number[][] = [[]];
  for (const n of shape) out = out.flatMap((p) => Array.from({ length: n }, (_, i) => [...p, i]));
  return shape.includes(0) ? [] : out;
}

interface ViewCase {
  name: string;
  make: (b: Tensor) => Tensor;
  shape: number[];
  strides: number[];
  offset: number;
  /** base flat index of an output index; the base is [2, 3, 4] with values = flat index */
  src: (i: number[]) => number;
}

// base [2, 3, 4], strides [12, 4, 1]; b[x, y, z] sits at 12x + 4y + z
const cases: ViewCase[] = [
  { name: 'view(6, 4)', make: (b) => b.view(6, 4), shape: [6, 4], strides: [4, 1], offset: 0, src: ([i, j]) => 4 * i + j },
  { name: 'view(-1)', make: (b) => b.view(-1), shape: [24], strides: [1], offset: 0, src: ([i]) => i },
  { name: 'reshape([4, -1])', make: (b) => b.reshape([4, -1]), shape: [4, 6], strides: [6, 1], offset: 0, src: ([i, j]) => 6 * i + j },
  { name: 'permute(2, 0, 1)', make: (b) => b.permute(2, 0, 1), shape: [4, 2, 3], strides: [1, 12, 4], offset: 0, src: ([z, x, y]) => 12 * x + 4 * y + z },
  { name: 'transpose(0, 2)', make: (b) => b.transpose(0, 2), shape: [4, 3, 2], strides: [1, 4, 12], offset: 0, src: ([z, y, x]) => 12 * x + 4 * y + z },
  { name: 'transpose(-1, -2)', make: (b) => b.transpose(-1, -2), shape: [2, 4, 3], strides: [12, 1, 4], offset: 0, src: ([x, z, y]) => 12 * x + 4 * y + z },
  { name: 'select(1, 2)', make: (b) => b.select(1, 2), shape: [2, 4], strides: [12, 1], offset: 8, src: ([x, z]) => 12 * x + 8 + z },
  { name: 'select(-1, -1)', make: (b) => b.select(-1, -1), shape: [2, 3], strides: [12, 4], offset: 3, src: ([x, y]) => 12 * x + 4 * y + 3 },
  { name: 'narrow(2, 1, 2)', make: (b) => b.narrow(2, 1, 2), shape: [2, 3, 2], strides: [12, 4, 1], offset: 1, src: ([x, y, z]) => 12 * x + 4 * y + z + 1 },
  { name: 'narrow(1, -2, 2)', make: (b) => b.narrow(1, -2, 2), shape: [2, 2, 4], strides: [12, 4, 1], offset: 4, src: ([x, y, z]) => 12 * x + 4 * (y + 1) + z },
  { name: 'slice(1, 0, 3, 2)', make: (b) => b.slice(1, 0, 3, 2), shape: [2, 2, 4], strides: [12, 8, 1], offset: 0, src: ([x, y, z]) => 12 * x + 8 * y + z },
  { name: 'slice(2, -3)', make: (b) => b.slice(2, -3), shape: [2, 3, 3], strides: [12, 4, 1], offset: 1, src: ([x, y, z]) => 12 * x + 4 * y + z + 1 },
  { name: 'slice(2, -100, 100, 3)', make: (b) => b.slice(2, -100, 100, 3), shape: [2, 3, 2], strides: [12, 4, 3], offset: 0, src: ([x, y, z]) => 12 * x + 4 * y + 3 * z },
  { name: 'unsqueeze(0)', make: (b) => b.unsqueeze(0), shape: [1, 2, 3, 4], strides: [24, 12, 4, 1], offset: 0, src: ([, x, y, z]) => 12 * x + 4 * y + z },
  { name: 'unsqueeze(1)', make: (b) => b.unsqueeze(1), shape: [2, 1, 3, 4], strides: [12, 12, 4, 1], offset: 0, src: ([x, , y, z]) => 12 * x + 4 * y + z },
  { name: 'unsqueeze(-1)', make: (b) => b.unsqueeze(-1), shape: [2, 3, 4, 1], strides: [12, 4, 1, 1], offset: 0, src: ([x, y, z]) => 12 * x + 4 * y + z },
  { name: 'select(2, 0).unsqueeze(-1).expand(2, 3, 5)', make: (b) => b.select(2, 0).unsqueeze(-1).expand(2, 3, 5), shape: [2, 3, 5], strides: [12, 4, 0], offset: 0, src: ([x, y]) => 12 * x + 4 * y },
  { name: 'select(0, 1).expand(2, -1, 4)', make: (b) => b.select(0, 1).expand(2, -1, 4), shape: [2, 3, 4], strides: [0, 4, 1], offset: 12, src: ([, y, z]) => 12 + 4 * y + z },
  { name: 'narrow(1, 1, 1).squeeze()', make: (b) => b.narrow(1, 1, 1).squeeze(), shape: [2, 4], strides: [12, 1], offset: 4, src: ([x, z]) => 12 * x + 4 + z },
  { name: 'narrow(1, 1, 1).squeeze(-2)', make: (b) => b.narrow(1, 1, 1).squeeze(-2), shape: [2, 4], strides: [12, 1], offset: 4, src: ([x, z]) => 12 * x + 4 + z },
  { name: 'flatten(1)', make: (b) => b.flatten(1), shape: [2, 12], strides: [12, 1], offset: 0, src: ([x, k]) => 12 * x + k },
  { name: 'select(0, 0).t()', make: (b) => b.select(0, 0).t(), shape: [4, 3], strides: [1, 4], offset: 0, src: ([z, y]) => 4 * y + z },
  // views of views: p[z, x, y] = b[x, y, z]; select x = 1; z = 1 + 2i
  { name: 'permute(2, 0, 1).select(1, 1).slice(0, 1, 4, 2)', make: (b) => b.permute(2, 0, 1).select(1, 1).slice(0, 1, 4, 2), shape: [2, 3], strides: [2, 4], offset: 13, src: ([i, y]) => 12 + 4 * y + 1 + 2 * i },
  // a transposed [6, 4] splits its last dim without a copy (PyTorch: strides [1, 12, 6])
  { name: 'reshape(4, 6).t().view(6, 2, 2)', make: (b) => b.reshape(4, 6).t().view(6, 2, 2), shape: [6, 2, 2], strides: [1, 12, 6], offset: 0, src: ([a, p, q]) => 6 * (2 * p + q) + a },
];

const DTYPES: DType[] = ['float32', 'float64', 'int32', 'int64', 'float16'];

forEachDevice('views', (dev) => {
  const base = (dtype: DType = 'float32') => arange(24, undefined, 1, { dtype, device: dev }).reshape(2, 3, 4);

  describe.each(cases)('$name', (c) => {
    it('has PyTorch shape, strides and offset, and shares the base storage', () => {
      const b = base();
      const v = c.make(b);
      expect([v.shape, v.strides, v.offset, v.dtype, v.device.type]).toEqual([c.shape, c.strides, c.offset, 'float32', dev]);
      expect(v.storage).toBe(b.storage);
    });
    it('contiguous() gathers the base values, in every dtype', () => {
      const expected = indices(c.shape).map(c.src);
      for (const dtype of DTYPES) {
        const v = c.make(base(dtype)).contiguous();
        expect([v.isContiguous, v.shape, v.dtype]).toEqual([true, c.shape, dtype]);
        expect(Array.from(v.toTypedArray() as ArrayLike<number | bigint>, Number), dtype).toEqual(expected);
      }
    });
  });

  it('writes through a view show in the base, and all share one version counter', () => {
    const b = base();
    const row = b.select(1, 2), tr = b.transpose(0, 2);
    const v0 = b.version;
    row.fill_(-1);
    expect(b.version).toBe(v0 + 1);
    expect([row.version, tr.version]).toEqual([b.version, b.version]);
    tr.select(0, 0).add_(100);          // tr[0] = b[:, :, 0]
    const want = indices([2, 3, 4]).map(([x, y, z]) => (y === 2 ? -1 : 12 * x + 4 * y + z) + (z === 0 ? 100 : 0));
    expect(Array.from(b.toTypedArray() as Float32Array)).toEqual(want);
    expect(b.version).toBe(v0 + 2);
  });

  it('view() of a non-contiguous layout is a ShapeError pointing to reshape; reshape copies', () => {
    const b = base();
    const tr = b.transpose(0, 1);                        // [3, 2, 4], strides [4, 12, 1]
    expectError(() => tr.view(24), ShapeError, { op: 'view', argument: 'shape', got: '[24]' });
    expectError(() => tr.view(6, 4), ShapeError, { op: 'view', argument: 'shape', got: '[6, 4]' });
    expect(tr.view(3, 8 / 4, 4).strides).toEqual([4, 12, 1]);  // the same shape stays a view
    const r = tr.reshape(6, 4);
    expect(r.storage).not.toBe(b.storage);
    expect(Array.from(r.toTypedArray() as Float32Array)).toEqual(indices([3, 2, 4]).map(([y, x, z]) => 12 * x + 4 * y + z));
    r.fill_(0);
    expect((b.toArray() as number[][][])[1][2]).toEqual([20, 21, 22, 23]);
    // flatten is reshape: a copy for merged dims that are not contiguous together
    const f = tr.flatten(0, 1);
    expect([f.shape, f.storage === b.storage]).toEqual([[6, 4], false]);
    expect(b.flatten().storage).toBe(b.storage);
  });

  it('infers one -1 and rejects impossible shapes naming the op and shape', () => {
    const b = base();
    expect(b.view(-1, 6).shape).toEqual([4, 6]);
    expect(b.reshape(2, -1, 2).shape).toEqual([2, 6, 2]);
    expectError(() => b.view(5, -1), ShapeError, { op: 'view', argument: 'shape', expected: 'a shape with 24 elements', got: '[5, -1]' });
    expectError(() => b.reshape(-1, -1), ShapeError, { op: 'reshape', argument: 'shape', expected: 'at most one -1', got: '[-1, -1]' });
    expectError(() => b.view(5, 5), ShapeError, { op: 'view', argument: 'shape', expected: "a shape with 24 elements (the input's)", got: '[5, 5]' });
    expectError(() => b.reshape(2.5, -1), ShapeError, { op: 'reshape', argument: 'shape', expected: 'sizes that are non-negative integers or -1', got: '[2.5, -1]' });
    expectError(() => b.view(-2, -12), ShapeError, { op: 'view', argument: 'shape', expected: 'sizes that are non-negative integers or -1', got: '[-2, -12]' });
  });

  it('invalid dims raise typed errors naming the op and the argument; negative dims wrap', () => {
    const b = base();
    const bad: [() => unknown, typeof ShapeError | typeof ValueError, string, string | null][] = [
      [() => b.permute(0, 0, 1), ShapeError, 'permute', 'dims'],
      [() => b.permute(0, 1), ShapeError, 'permute', 'dims'],
      [() => b.permute(0, 1, 3), ShapeError, 'permute', 'dims'],
      [() => b.transpose(0, 3), ShapeError, 'transpose', 'dim1'],
      [() => b.transpose(-4, 0), ShapeError, 'transpose', 'dim0'],
      [() => b.select(3, 0), ShapeError, 'select', 'dim'],
      [() => b.select(0, 2), ValueError, 'select', 'index'],
      [() => b.select(0, -3), ValueError, 'select', 'index'],
      [() => b.narrow(2, 3, 2), ValueError, 'narrow', 'length'],
      [() => b.narrow(2, 5, 0), ValueError, 'narrow', 'start'],
      [() => b.slice(1, 0, 2, 0), ValueError, 'slice', 'step'],
      [() => b.slice(-4), ShapeError, 'slice', 'dim'],
      [() => b.expand(3, 4), ShapeError, 'expand', 'shape'],
      [() => b.expand(2, 5, 4), ShapeError, 'expand', 'shape'],
      [() => b.expand(-1, 2, 3, 4), ShapeError, 'expand', 'shape'],
      [() => b.unsqueeze(4), ShapeError, 'unsqueeze', 'dim'],
      [() => b.squeeze(3), ShapeError, 'squeeze', 'dim'],
      [() => b.flatten(2, 1), ShapeError, 'flatten', 'startDim'],
      [() => b.flatten(0, 3), ShapeError, 'flatten', 'endDim'],
      [() => b.t(), ShapeError, 't', null],   // '3 dimensions' given for at most 2
    ];
    for (const [f, cls, op, argument] of bad) expectError(f, cls, { op, argument });
    expect(b.unsqueeze(-4).shape).toEqual([1, 2, 3, 4]);
    expect(b.squeeze(0).shape).toEqual([2, 3, 4]);              // not size 1: unchanged, as PyTorch
    expect(b.permute(-1, -3, -2).shape).toEqual([4, 2, 3]);
  });

  it(".T transposes a matrix, .mT swaps the last two dims, size() is the shape (PyTorch's habits)", () => {
    const x = arange(0, 24, 1, { dtype: 'float32', device: dev }).reshape([2, 3, 4]);
    expectError(() => x.T, ShapeError, { op: 'T' });   // PyTorch deprecates .T beyond 2-D
    const m = x.select(0, 1);
    expect([m.T.shape, m.T.strides, m.T.storage === x.storage]).toEqual([[4, 3], [1, 4], true]);
    expect(x.mT.shape).toEqual([2, 4, 3]);
    expect(x.mT.toArray()).toEqual(x.transpose(1, 2).toArray());
    expect(arange(0, 6, 1, { device: dev }).reshape([2, 3]).T.toArray()).toEqual([[0, 3], [1, 4], [2, 5]]);
    expect(scalarTensor(5, { device: dev }).T.item()).toBe(5);
    expectError(() => arange(0, 3, 1, { device: dev }).mT, ShapeError, { op: 'mT' });
    expect([x.size(), x.size(1), x.size(-1)]).toEqual([[2, 3, 4], 3, 4]);
    expectError(() => x.size(3), ShapeError, { op: 'size', argument: 'dim' });
  });

  it('handles 0-size dims', () => {
    const z = zeros([2, 0, 3], { device: dev });
    expect(z.view(-1).shape).toEqual([0]);
    expect(z.view(3, 0, 5 - 3).shape).toEqual([3, 0, 2]);
    expectError(() => z.view(0, -1), ShapeError, { op: 'view', argument: 'shape', expected: 'a shape with 0 elements', got: '[0, -1]' });   // -1 would be ambiguous
    const tz = z.transpose(0, 2);
    expect([tz.shape, tz.contiguous().shape, tz.contiguous().toArray()]).toEqual([[3, 0, 2], [3, 0, 2], [[], [], []]]);
    expectError(() => z.select(1, 0), ValueError, { op: 'select', argument: 'index', expected: 'an index in [0, -1]', got: '0' });
    const e = arange(6, undefined, 1, { device: dev }).slice(0, 5, 2);
    expect([e.shape, e.numel, e.toArray()]).toEqual([[0], 0, []]);
    expect(z.expand(4, 2, 0, 3).shape).toEqual([4, 2, 0, 3]);
  });

  it('handles 0-d tensors', () => {
    const s = scalarTensor(5, { device: dev });
    expect([s.reshape(1).shape, s.view(-1).shape, s.unsqueeze(0).shape, s.unsqueeze(-1).strides, s.flatten().shape]).toEqual([[1], [1], [1], [1], [1]]);
    expect(s.reshape(1).reshape([]).shape).toEqual([]);
    expect([s.transpose(0, -1), s.squeeze(), s.t()]).toEqual([s, s, s]);
    expect(s.expand(2, 3).toArray()).toEqual([[5, 5, 5], [5, 5, 5]]);
    // PyTorch: "select() cannot be applied to a 0-dim tensor" (Kiln gave NaN offsets before)
    expectError(() => s.select(0, 0), ShapeError, { op: 'select', argument: 'dim', expected: 'a tensor with at least one dimension', got: 'a 0-d tensor' });
    expectError(() => s.slice(0, 0, 1), ShapeError, { op: 'slice', argument: 'dim', expected: 'a tensor with at least one dimension', got: 'a 0-d tensor' });
    expectError(() => s.narrow(0, 0, 1), ShapeError, { op: 'narrow', argument: 'dim', expected: 'a tensor with at least one dimension', got: 'a 0-d tensor' });
  });

  it('views of a disposed tensor raise a DisposedError naming the op', () => {
    const b = base();
    b.dispose();
    for (const [op, f] of [['view', () => b.view(-1)], ['permute', () => b.permute(2, 1, 0)], ['transpose', () => b.transpose(0, 1)],
      ['select', () => b.select(0, 0)], ['slice', () => b.slice(0, 1)], ['narrow', () => b.narrow(0, 0, 1)], ['unsqueeze', () => b.unsqueeze(0)],
      ['reshape', () => b.reshape(4, 6)], ['expand', () => b.expand(2, 2, 3, 4)]] as const) {
      expectError(f, DisposedError, { op, message: `${op}: the tensor was disposed` });
    }
  });
});
