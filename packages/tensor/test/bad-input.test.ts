// Issue 14's reproducers and their classes: sizes that cannot exist, fractional and negative sizes
// and indices, absurd ranges, wrong-type scalars, borrowed memory that goes away, and copies
// between overlapping views. Each ends in a typed error naming the op and the argument, or in the
// right values, never a crash, a hang or a silent wrong value.
import { describe, expect, it } from 'vitest';
import {
  DTypeError, DisposedError, OutOfMemoryError, ShapeError, ValueError, arange, emptyCache, fromTypedArray, full, linspace, memoryStats,
  autocast, conv2d, meshgrid, ones, randn, tensor, unique, zeros, zerosLike,
} from '@kiln/tensor';
import { forEachDevice, expectError, settleMemoryBeforeEach } from '@kiln/tensor/testing';

settleMemoryBeforeEach();

describe('sizes that cannot exist', () => {
  it('are typed errors before anything is allocated (no SIGSEGV, no hang)', () => {
    const before = memoryStats('cpu').allocated;
    expectError(() => zeros([2 ** 31, 2 ** 31]), OutOfMemoryError, { op: 'empty', argument: 'shape', expected: 'at most 2^46 bytes per tensor', got: '18446744073709552000 bytes' });      // 2^64 bytes: was a 64-byte block, then SIGSEGV
    expectError(() => zeros([3 * 2 ** 60]), ValueError, { op: 'zeros', argument: 'shape', expected: 'a shape of non-negative integers', got: '[3458764513820541000]' });                  // not a safe integer: the rounding loop hung
    expectError(() => zeros([2 ** 45, 8]), OutOfMemoryError, { op: 'empty', argument: 'shape', expected: 'at most 2^46 bytes per tensor', got: '1125899906842624 bytes' });             // 2^50 bytes: past what a device holds
    expectError(() => zeros([2 ** 31]), OutOfMemoryError, { op: 'cpu alloc', expected: 'at most 4294967296 bytes', got: '8589934592 bytes' });                // 8 GiB: past Node 20's largest buffer (was a double free)
    expectError(() => ones([2 ** 53]), ValueError, { op: 'ones', argument: 'shape', expected: 'a shape of non-negative integers', got: '[9007199254740992]' });
    expectError(() => full([1e300], 1), ValueError, { op: 'full', argument: 'shape', expected: 'a shape of non-negative integers', got: '[1e+300]' });
    expectError(() => zeros(Array(13).fill(1)), ShapeError, { op: 'zeros', argument: 'shape', expected: 'at most 12 dimensions', got: '13 dimensions' });              // more dimensions than kernels take
    expect(memoryStats('cpu').allocated).toBe(before);
  });

  it('a view whose element count exceeds 2^53 is refused, and a huge expanded view does not allocate', () => {
    const one = tensor([1], { dtype: 'float32' });
    expectError(() => one.expand([2 ** 31, 2 ** 31, 4]), ShapeError, { op: 'expand', argument: 'shape', expected: 'a shape of at most 2^53 - 1 elements', got: '[2147483648, 2147483648, 4] (18446744073709552000 elements)' });
    const big = one.expand([2 ** 26, 2 ** 26]);                              // fine as a view (stride 0)
    expectError(() => big.contiguous(), OutOfMemoryError, { op: 'empty', argument: 'shape', expected: 'at most 2^46 bytes per tensor', got: '18014398509481984 bytes' });                // 2^54 bytes to copy it
  });
});

describe('sizes, dims and indices are safe integers in range', () => {
  const x = () => ones([4, 6]);
  it('creation', () => {
    for (const bad of [[-1], [2.5], [NaN], [Infinity], ['3' as unknown as number], [null as unknown as number]]) {
      expectError(() => zeros(bad), ValueError, { op: 'zeros', argument: 'shape', expected: 'a shape of non-negative integers' });
    }
    expectError(() => zeros(5 as unknown as number[]), ValueError, { op: 'zeros', argument: 'shape', expected: 'a shape (an array of sizes)', got: '5' });
    expectError(() => zeros([2], { dtype: 'float128' as never }), DTypeError, { op: 'zeros', argument: 'dtype', expected: 'one of float32, float64, int32, int64, bool, float16, bfloat16', got: 'float128' });
  });

  it('views: slice, narrow, select, expand, reshape, permute', () => {
    expectError(() => ones([4, 1 << 20]).slice(0, 0.5).sum(), ValueError, { op: 'slice', argument: 'start', expected: 'an integer (or ±Infinity)', got: '0.5' });
    expectError(() => x().slice(1, 0, 2.5), ValueError, { op: 'slice', argument: 'end', expected: 'an integer (or ±Infinity)', got: '2.5' });
    expectError(() => x().slice(1, NaN), ValueError, { op: 'slice', argument: 'start', expected: 'an integer (or ±Infinity)', got: 'NaN' });
    expectError(() => x().slice(1, 0, 4, 0), ValueError, { op: 'slice', argument: 'step', expected: 'a positive integer', got: '0' });
    expect(x().slice(1, -Infinity, Infinity).shape).toEqual([4, 6]);         // ±Infinity: "from the start / to the end"
    expectError(() => x().narrow(0, 1.5, 2), ValueError, { op: 'narrow', argument: 'start', expected: 'an index in [-4, 4]', got: '1.5' });
    expectError(() => x().narrow(0, 0, 5), ValueError, { op: 'narrow', argument: 'length', expected: 'a length in [0, 4]', got: '5' });
    expectError(() => x().select(1, 6), ValueError, { op: 'select', argument: 'index', expected: 'an index in [-6, 5]', got: '6' });
    expectError(() => x().select(1, 0.5), ValueError, { op: 'select', argument: 'index', expected: 'an index in [-6, 5]', got: '0.5' });
    expectError(() => x().select(2.5, 0), ShapeError, { op: 'select', argument: 'dim', expected: 'a dimension in [-2, 1]', got: '2.5' });
    expectError(() => tensor([1], { dtype: 'float32' }).expand([-5]), ShapeError, { op: 'expand', argument: 'shape', expected: 'sizes that are non-negative integers or -1', got: '[-5]' });   // was numel -5, sum 0
    expectError(() => tensor([1], { dtype: 'float32' }).expand([2.5]), ShapeError, { op: 'expand', argument: 'shape', expected: 'sizes that are non-negative integers or -1', got: '[2.5]' });
    expectError(() => tensor([1], { dtype: 'float32' }).expand([NaN]), ShapeError, { op: 'expand', argument: 'shape', expected: 'sizes that are non-negative integers or -1', got: '[NaN]' });
    expectError(() => x().reshape([2, 12.5]), ShapeError, { op: 'reshape', argument: 'shape', expected: 'sizes that are non-negative integers or -1', got: '[2, 12.5]' });
    expectError(() => x().reshape([-2, -12]), ShapeError, { op: 'reshape', argument: 'shape', expected: 'sizes that are non-negative integers or -1', got: '[-2, -12]' });
    expectError(() => x().permute([0, 0]), ShapeError, { op: 'permute', argument: 'dims', expected: 'a permutation of 2 dimensions', got: '[0, 0]' });
    expectError(() => x().sum(1.5), ShapeError, { op: 'sum', argument: 'dim', expected: 'a dimension in [-2, 1]', got: '1.5' });
    expectError(() => x().sum([0, '1' as unknown as number]), ShapeError, { op: 'sum', argument: 'dim', expected: 'a dimension in [-2, 1]', got: '"1"' });
    // views keep the 12-dimension limit: a longer one failed at its next op, named 'empty' or caught at the native boundary
    const ones12 = new Array<number>(12).fill(1);
    expect(zeros([1]).reshape(ones12).ndim).toBe(12);
    expectError(() => zeros([1]).reshape([...ones12, 1]), ShapeError, { op: 'reshape', argument: 'shape', expected: 'a view of at most 12 dimensions', got: '13 dimensions' });
    expectError(() => zeros([1]).view([...ones12, 1]), ShapeError, { op: 'view', expected: 'a view of at most 12 dimensions' });
    expectError(() => zeros(ones12).unsqueeze(0), ShapeError, { op: 'unsqueeze', got: '13 dimensions' });
    expectError(() => zeros([1]).expand([...ones12, 1]), ShapeError, { op: 'expand', got: '13 dimensions' });
  });

  it('an assigned .grad is a tensor of the tensor\'s shape, dtype and device, or null (as PyTorch checks it)', () => {
    const p = zeros([2, 3]);
    expectError(() => { p.grad = zeros([3, 2]); }, ShapeError, { op: 'grad', argument: 'grad', expected: "a gradient of the tensor's shape [2, 3]", got: '[3, 2]' });
    expectError(() => { p.grad = zeros([2, 3], { dtype: 'float64' }); }, DTypeError, { op: 'grad', argument: 'grad', expected: "a gradient of the tensor's dtype float32", got: 'float64' });
    expectError(() => { p.grad = [[0, 0, 0], [0, 0, 0]] as never; }, ValueError, { op: 'grad', argument: 'grad', expected: 'a Tensor or null' });
    expect(p.grad).toBeNull();
    const g = zeros([2, 3]);
    p.grad = g;
    expect(p.grad).toBe(g);
    p.grad = null;
    expect(p.grad).toBeNull();
    for (const t of [p, g]) t.dispose();
  });

  it('arange and linspace with non-finite or absurd arguments', () => {
    expectError(() => arange(0, Infinity), ValueError, { op: 'arange', argument: 'end', expected: 'a finite number', got: 'Infinity' });
    expectError(() => arange(NaN), ValueError, { op: 'arange', argument: 'end', expected: 'a finite number', got: 'NaN' });
    expectError(() => arange(0, 1e300), ValueError, { op: 'arange', argument: 'end', expected: 'a range of at most 2^53 - 1 values ((end - start) / step)', got: '1e+300' });
    expectError(() => arange(0, 2 ** 50), OutOfMemoryError, { op: 'empty', argument: 'shape', expected: 'at most 2^46 bytes per tensor', got: '9007199254740992 bytes' });
    expectError(() => arange('5' as unknown as number), DTypeError, { op: 'arange', argument: 'end', expected: 'a number', got: '"5"' });
    expectError(() => linspace(0, Infinity, 5), ValueError, { op: 'linspace', argument: 'end', expected: 'a finite number', got: 'Infinity' });
    expectError(() => linspace(NaN, 1, 5), ValueError, { op: 'linspace', argument: 'start', expected: 'a finite number', got: 'NaN' });
    expectError(() => linspace(0, 1, 2.5), ValueError, { op: 'linspace', argument: 'steps', expected: 'an integer >= 0', got: '2.5' });
    expectError(() => linspace(-1.7e308, 1.7e308, 3), ValueError, { op: 'linspace', argument: 'end', expected: 'end - start within the range of a double', got: '1.7e+308 - -1.7e+308' });
    expect(linspace(0, 1, 3).toArray()).toEqual([0, 0.5, 1]);
  });
});

describe('options objects', () => {
  const t = () => tensor([[3, 1], [2, 4]], { dtype: 'float32' });
  it('a key the op does not know is a ValueError naming it (it was ignored: sort ascending, unique without dim)', () => {
    expectError(() => t().sort(-1, { descend: true } as never), ValueError, { op: 'sort', argument: 'options', expected: 'only the options descending, stable', got: '"descend"' });
    expectError(() => t().argsort(0, { reverse: true } as never), ValueError, { op: 'argsort', argument: 'options', got: '"reverse"' });
    expectError(() => t().topk(1, -1, { smallest: true } as never), ValueError, { op: 'topk', argument: 'options', expected: 'only the options largest, sorted', got: '"smallest"' });
    expectError(() => t().nonzero({ as_tuple: true } as never), ValueError, { op: 'nonzero', argument: 'options', expected: 'only the options asTuple', got: '"as_tuple"' });
    expectError(() => unique(t(), { returnInverse: 'no' } as never), ValueError, { op: 'unique', argument: 'returnInverse', expected: 'true or false', got: '"no"' });
    expectError(() => unique(t(), { dim: 0 } as never), ValueError, { op: 'unique', argument: 'options', expected: 'only the options sorted, returnInverse, returnCounts', got: '"dim"' });
    expectError(() => t().var(0, { unbiased: false } as never), ValueError, { op: 'var', argument: 'options', expected: 'only the options correction, keepdim', got: '"unbiased"' });
    expectError(() => t().std(0, 'keepdim' as never), ValueError, { op: 'std', argument: 'options', expected: 'an object of options', got: '"keepdim"' });
    // the factories: a misspelt dtype or requiresGrad gave float32 / no grad
    expectError(() => tensor([1, 2], { dtyp: 'int32' } as never), ValueError, { op: 'tensor', argument: 'options', expected: 'only the options dtype, device, requiresGrad', got: '"dtyp"' });
    expectError(() => zeros([2], { requiresgrad: true } as never), ValueError, { op: 'zeros', argument: 'options', got: '"requiresgrad"' });
    expectError(() => zerosLike(t(), { dype: 'int32' } as never), ValueError, { op: 'zerosLike', got: '"dype"' });
    expectError(() => arange(3, undefined, 1, { dtype: 'int32', devcie: 'cpu' } as never), ValueError, { op: 'arange', got: '"devcie"' });
    expectError(() => randn([2], { gen: null } as never), ValueError, { op: 'randn', argument: 'options', expected: 'only the options dtype, device, seed, generator, requiresGrad', got: '"gen"' });
    expectError(() => conv2d(zeros([1, 1, 4, 4]), zeros([1, 1, 3, 3]), null, { pad: 1 } as never), ValueError, { op: 'conv2d', argument: 'options', expected: 'only the options stride, padding, dilation, groups', got: '"pad"' });
    expectError(() => t().to({ dtype: 'float64', copy_: true } as never), ValueError, { op: 'to', argument: 'options', expected: 'only the options dtype, device, copy, nonBlocking', got: '"copy_"' });
    expectError(() => meshgrid([t().select(0, 0), t().select(0, 1)], { index: 'xy' } as never), ValueError, { op: 'meshgrid', argument: 'options', expected: 'only the options indexing', got: '"index"' });
    expectError(() => autocast({ deviceType: 'cpu', dtpye: 'float16' } as never, () => 0), ValueError, { op: 'autocast', argument: 'options', got: '"dtpye"' });
    // the known keys still work, undefined values included
    expect(t().sort(-1, { descending: true, stable: undefined }).values.toArray()).toEqual([[3, 1], [4, 2]]);
    expect(t().var(0, { correction: 0, keepdim: true }).toArray()).toEqual([[0.25, 2.25]]);
    expect(t().topk(1, -1, { largest: false, other: undefined } as never).values.toArray()).toEqual([[1], [2]]);   // nothing given, nothing ignored
  });
});

describe('wrong-type scalars are DTypeErrors', () => {
  const t = () => tensor([1, 2], { dtype: 'float32' });
  it('in binary ops, their in-place forms, where, fill and full', () => {
    for (const bad of ['x', '2', null, undefined, 2n, {}, [1], Symbol('s')]) {
      expectError(() => t().add(bad as never), DTypeError, { op: 'add', argument: 'other', expected: 'a Tensor, a number or a boolean' });   // was an all-NaN tensor for 'x'
      expectError(() => t().mul_(bad as never), DTypeError, { op: 'mul_', argument: 'other', expected: 'a Tensor, a number or a boolean' });
      expectError(() => t().fill_(bad as never), DTypeError, { op: 'fill_', argument: 'value', expected: 'a Tensor, a number or a boolean' });
      expectError(() => full([2], bad as never), DTypeError, { op: 'full', argument: 'value', expected: 'a Tensor, a number or a boolean' });
      expectError(() => t().gt(0).where(t(), bad as never), DTypeError, { op: 'where', argument: 'other', expected: 'a Tensor, a number or a boolean' });
    }
    expectError(() => t().add('x' as never), DTypeError, { op: 'add', argument: 'other', expected: 'a Tensor, a number or a boolean', got: 'the string "x"' });
  });
});

describe('borrowed JS memory (fromTypedArray)', () => {
  it('a transferred buffer never leaves a kernel holding a dead address', () => {
    const a = new Float32Array(4 << 20).fill(1);
    const t = fromTypedArray(a);
    expect(t.sum().item()).toBe(4 << 20);
    const moved = structuredClone(a.buffer, { transfer: [a.buffer] });   // detaches a.buffer
    expect(moved.byteLength).toBe(16 << 20);
    expectError(() => t.sum(), DisposedError, { op: 'sum' });
    expectError(() => t.add(1), DisposedError, { op: 'add', message: /memory is gone/ });
    expectError(() => t.toArray(), DisposedError, { op: 'toArray' });
    expect(t.isDisposed).toBe(true);
    t.dispose();   // harmless
  });

  it('a resizable buffer is copied (it can shrink under the tensor); a plain one is shared', () => {
    // (resizable ArrayBuffers are ES2024; this project's lib is ES2023, Node 20 has them)
    const rb = new (ArrayBuffer as unknown as new (n: number, o: object) => ArrayBuffer & { resize(n: number): void })(16, { maxByteLength: 64 });
    const ra = new Float32Array(rb);
    ra.set([1, 2, 3, 4]);
    const t = fromTypedArray(ra);
    rb.resize(0);
    expect(t.toArray()).toEqual([1, 2, 3, 4]);
    const plain = new Float32Array([1, 2]);
    const p = fromTypedArray(plain);
    plain[0] = 5;
    expect(p.toArray()).toEqual([5, 2]);
  });
});

forEachDevice('copy_ between overlapping views', (dev) => {
  const seq = (n: number) => arange(n, undefined, 1, { dtype: 'float32', device: dev });
  it('gives the source values from before the call (through a temporary)', () => {
    const x = seq(8);
    x.slice(0, 1).copy_(x.slice(0, 0, 7));           // shift right by one: a partial overlap
    expect(x.toArray()).toEqual([0, 0, 1, 2, 3, 4, 5, 6]);
    const y = seq(8);
    y.slice(0, 0, 7).copy_(y.slice(0, 1));           // shift left
    expect(y.toArray()).toEqual([1, 2, 3, 4, 5, 6, 7, 7]);
    const m = seq(9).reshape([3, 3]);
    m.copy_(m.t());                                  // the same memory in another order
    expect(m.toArray()).toEqual([[0, 3, 6], [1, 4, 7], [2, 5, 8]]);
    const r = seq(6);
    r.copy_(r);                                      // a view onto itself: nothing to do
    expect(r.toArray()).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('copies between overlapping views leak nothing', () => {
    const x = seq(64);
    const before = memoryStats(dev).allocated;
    for (let i = 0; i < 10; i++) x.slice(0, 1).copy_(x.slice(0, 0, 63));
    expect(memoryStats(dev).allocated).toBe(before);
    x.dispose();
    emptyCache(dev);
  });
});

describe('nested data', () => {
  it('an array that contains itself, or nesting deeper than 12, is a ShapeError (no hang, no stack overflow)', () => {
    const self: unknown[] = [];
    self.push(self);
    expectError(() => tensor(self as never), ShapeError, { op: 'tensor', argument: 'data', expected: 'nested arrays at most 12 deep', got: 'deeper nesting' });
    let deep: unknown = 1;
    for (let i = 0; i < 10_000; i++) deep = [deep];
    expectError(() => tensor(deep as never), ShapeError, { op: 'tensor', argument: 'data', expected: 'nested arrays at most 12 deep', got: 'deeper nesting' });
    expectError(() => tensor([[1, 2], [3]] as never), ShapeError, { op: 'tensor', argument: 'data', expected: 'a regular nested array of shape [2, 2]', got: 'a ragged array' });
    expectError(() => tensor([1, 'a'] as never), ValueError, { op: 'tensor', argument: 'data', expected: 'numbers, booleans or bigints', got: 'string' });
  });
});
