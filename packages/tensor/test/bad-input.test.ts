// Issue 14's reproducers and their classes: sizes that cannot exist, fractional and negative sizes
// and indices, absurd ranges, wrong-type scalars, borrowed memory that goes away, and copies
// between overlapping views. Each ends in a typed error naming the op and the argument, or in the
// right values, never a crash, a hang or a silent wrong value.
import { describe, expect, it } from 'vitest';
import {
  DTypeError, DisposedError, OutOfMemoryError, ShapeError, ValueError, arange, emptyCache, fromTypedArray, full, linspace, memoryStats,
  ones, tensor, zeros,
} from '@kiln/tensor';
import { forEachDevice } from '@kiln/tensor/testing';

describe('sizes that cannot exist', () => {
  it('are typed errors before anything is allocated (no SIGSEGV, no hang)', () => {
    const before = memoryStats('cpu').allocated;
    expect(() => zeros([2 ** 31, 2 ** 31])).toThrow(OutOfMemoryError);      // 2^64 bytes: was a 64-byte block, then SIGSEGV
    expect(() => zeros([3 * 2 ** 60])).toThrow(ValueError);                  // not a safe integer: the rounding loop hung
    expect(() => zeros([2 ** 45, 8])).toThrow(OutOfMemoryError);             // 2^50 bytes: past what a device holds
    expect(() => zeros([2 ** 31])).toThrow(OutOfMemoryError);                // 8 GiB: past Node 20's largest buffer (was a double free)
    expect(() => ones([2 ** 53])).toThrow(ValueError);
    expect(() => full([1e300], 1)).toThrow(ValueError);
    expect(() => zeros(Array(13).fill(1))).toThrow(ShapeError);              // more dimensions than kernels take
    expect(memoryStats('cpu').allocated).toBe(before);
  });

  it('a view whose element count exceeds 2^53 is refused, and a huge expanded view does not allocate', () => {
    const one = tensor([1], { dtype: 'float32' });
    expect(() => one.expand([2 ** 31, 2 ** 31, 4])).toThrow(ShapeError);
    const big = one.expand([2 ** 26, 2 ** 26]);                              // fine as a view (stride 0)
    expect(() => big.contiguous()).toThrow(OutOfMemoryError);                // 2^54 bytes to copy it
  });
});

describe('sizes, dims and indices are safe integers in range', () => {
  const x = () => ones([4, 6]);
  it('creation', () => {
    for (const bad of [[-1], [2.5], [NaN], [Infinity], ['3' as unknown as number], [null as unknown as number]]) {
      expect(() => zeros(bad), String(bad)).toThrow(ValueError);
    }
    expect(() => zeros(5 as unknown as number[])).toThrow(ValueError);
    expect(() => zeros([2], { dtype: 'float128' as never })).toThrow(DTypeError);
  });

  it('views: slice, narrow, select, expand, reshape, permute', () => {
    expect(() => ones([4, 1 << 20]).slice(0, 0.5).sum()).toThrow(/slice: argument 'start' expected an integer/);
    expect(() => x().slice(1, 0, 2.5)).toThrow(ValueError);
    expect(() => x().slice(1, NaN)).toThrow(ValueError);
    expect(() => x().slice(1, 0, 4, 0)).toThrow(ValueError);
    expect(x().slice(1, -Infinity, Infinity).shape).toEqual([4, 6]);         // ±Infinity: "from the start / to the end"
    expect(() => x().narrow(0, 1.5, 2)).toThrow(ValueError);
    expect(() => x().narrow(0, 0, 5)).toThrow(ValueError);
    expect(() => x().select(1, 6)).toThrow(ValueError);
    expect(() => x().select(1, 0.5)).toThrow(ValueError);
    expect(() => x().select(2.5, 0)).toThrow(ShapeError);
    expect(() => tensor([1], { dtype: 'float32' }).expand([-5])).toThrow(ShapeError);   // was numel -5, sum 0
    expect(() => tensor([1], { dtype: 'float32' }).expand([2.5])).toThrow(ShapeError);
    expect(() => tensor([1], { dtype: 'float32' }).expand([NaN])).toThrow(ShapeError);
    expect(() => x().reshape([2, 12.5])).toThrow(ShapeError);
    expect(() => x().reshape([-2, -12])).toThrow(ShapeError);
    expect(() => x().permute([0, 0])).toThrow(ShapeError);
    expect(() => x().sum(1.5)).toThrow(ShapeError);
    expect(() => x().sum([0, '1' as unknown as number])).toThrow(ShapeError);
  });

  it('arange and linspace with non-finite or absurd arguments', () => {
    expect(() => arange(0, Infinity)).toThrow(ValueError);
    expect(() => arange(NaN)).toThrow(ValueError);
    expect(() => arange(0, 1e300)).toThrow(/arange: argument 'end' expected a range of at most 2\^53 - 1 values/);
    expect(() => arange(0, 2 ** 50)).toThrow(OutOfMemoryError);
    expect(() => arange('5' as unknown as number)).toThrow(DTypeError);
    expect(() => linspace(0, Infinity, 5)).toThrow(ValueError);
    expect(() => linspace(NaN, 1, 5)).toThrow(ValueError);
    expect(() => linspace(0, 1, 2.5)).toThrow(ValueError);
    expect(() => linspace(-1.7e308, 1.7e308, 3)).toThrow(ValueError);
    expect(linspace(0, 1, 3).toArray()).toEqual([0, 0.5, 1]);
  });
});

describe('wrong-type scalars are DTypeErrors', () => {
  const t = () => tensor([1, 2], { dtype: 'float32' });
  it('in binary ops, their in-place forms, where, fill and full', () => {
    for (const bad of ['x', '2', null, undefined, 2n, {}, [1], Symbol('s')]) {
      expect(() => t().add(bad as never), String(typeof bad)).toThrow(DTypeError);   // was an all-NaN tensor for 'x'
      expect(() => t().mul_(bad as never), String(typeof bad)).toThrow(DTypeError);
      expect(() => t().fill_(bad as never), String(typeof bad)).toThrow(DTypeError);
      expect(() => full([2], bad as never), String(typeof bad)).toThrow(DTypeError);
      expect(() => t().gt(0).where(t(), bad as never), String(typeof bad)).toThrow(DTypeError);
    }
    expect(() => t().add('x' as never)).toThrow(/add: argument 'other' expected a Tensor, a number or a boolean, got the string "x"/);
  });
});

describe('borrowed JS memory (fromTypedArray)', () => {
  it('a transferred buffer never leaves a kernel holding a dead address', () => {
    const a = new Float32Array(4 << 20).fill(1);
    const t = fromTypedArray(a);
    expect(t.sum().item()).toBe(4 << 20);
    const moved = structuredClone(a.buffer, { transfer: [a.buffer] });   // detaches a.buffer
    expect(moved.byteLength).toBe(16 << 20);
    expect(() => t.sum()).toThrow(DisposedError);
    expect(() => t.add(1)).toThrow(/memory is gone/);
    expect(() => t.toArray()).toThrow(DisposedError);
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
    expect(() => tensor(self as never)).toThrow(ShapeError);
    let deep: unknown = 1;
    for (let i = 0; i < 10_000; i++) deep = [deep];
    expect(() => tensor(deep as never)).toThrow(ShapeError);
    expect(() => tensor([[1, 2], [3]] as never)).toThrow(ShapeError);
    expect(() => tensor([1, 'a'] as never)).toThrow(ValueError);
  });
});
