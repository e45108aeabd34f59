// The native boundary checks every tensor argument of every call against its storage
// (native/core/call_record.cc), on every device: a view that TypeScript let through by mistake is a
// typed error naming the op and the argument, never a read or write outside the block. The views
// here are forged with Tensor's internal constructor, which checks nothing, to reach the native
// side with what no public op would send.
import { describe, expect, it } from 'vitest';
import {
  DTypeError, DeviceError, InternalError, type KernelAddon, MAX_DIMS, type Storage, ShapeError, Tensor, ValueError, empty, emptyOn,
  fromNativeError, kernelTable, launchKernel, loadAddon, tensor, device as toDevice, zeros,
} from '@kiln/tensor';
import { forEachDevice, expectError } from '@kiln/tensor/testing';

/** A view of `base`'s storage with any metadata (the internal constructor: no checks). */
const forge = (base: Tensor, shape: number[], strides: number[], offset: number, dtype = base.dtype): Tensor =>
  new Tensor(base.storage, shape, strides, offset, dtype);

/** Runs the 'fill' kernel into `out`: the simplest kernel that writes every element of its output. */
const fill = (out: Tensor, v = 1): void => launchKernel('fill', [], [out], [v]);

forEachDevice('native boundary', (dev) => {
  const base = () => zeros([4, 4], { dtype: 'float32', device: dev });   // 16 elements, 64 bytes

  it('refuses views that reach outside their storage, naming the op and the argument', () => {
    const b = base();
    const cases: [string, Tensor][] = [
      ['shape too large', forge(b, [5, 4], [4, 1], 0)],
      ['offset past the end', forge(b, [4], [1], 13)],
      ['stride past the end', forge(b, [4], [6], 0)],
      ['negative stride below the start', forge(b, [4], [-1], 2)],
      ['a huge stride (overflows 64 bits)', forge(b, [3], [2 ** 52], 0)],
      ['a larger dtype over the same bytes', forge(b, [16], [1], 0, 'float64')],
    ];
    for (const [_what, v] of cases) {
      expectError(() => fill(v), ShapeError, { op: 'fill', message: /fill: output 0 .*caught at the native boundary/ });
      expectError(() => launchKernel('add', [v, b], [b], []), ShapeError, { op: 'add', message: /add: input 0/ });
    }
    // the storage was never written
    expect(b.sum().item()).toBe(0);
  });

  it('refuses sizes and strides that are not whole numbers, and too many dimensions', () => {
    const b = base();
    expectError(() => fill(forge(b, [-5], [1], 0)), ShapeError, { op: 'fill', message: /invalid size -5/ });
    expectError(() => fill(forge(b, [2.5], [1], 0)), ShapeError, { op: 'fill', message: /invalid size 2.5/ });
    expectError(() => fill(forge(b, [NaN], [1], 0)), ShapeError, { op: 'fill' });
    expectError(() => fill(forge(b, [2], [0.5], 0)), ShapeError, { op: 'fill', message: /invalid stride/ });
    expectError(() => fill(forge(b, [2], [1], 0.5)), ShapeError, { op: 'fill', message: /invalid storage offset/ });
    expectError(() => fill(forge(b, [2], [1], -1)), ShapeError, { op: 'fill', message: /invalid storage offset/ });
    const ones = Array<number>(MAX_DIMS + 1).fill(1);
    expect(() => fill(forge(b, ones, ones, 0))).toThrow(new RegExp(`at most ${MAX_DIMS}`));
    // MAX_DIMS itself is the native limit: a view of exactly that many dimensions runs
    const atMax = forge(b, Array<number>(MAX_DIMS).fill(1), Array<number>(MAX_DIMS).fill(1), 3);
    fill(atMax, 7);
    expect((b.flatten().toArray() as number[])[3]).toBe(7);
  });

  it('refuses a storage without memory', () => {
    const b = base();
    const nowhere: Storage = { ...b.storage, address: 0, nbytes: 64, device: b.storage.device, version: 0, refs: 1, freed: false, free() {} };
    expectError(() => fill(new Tensor(nowhere, [2], [1], 0, 'float32')), ValueError, { op: 'fill' });
  });

  it('lets valid edge views through: empty views at the end, negative strides inside, broadcast inputs', () => {
    const b = base();
    fill(forge(b, [0], [1], 16));                     // empty, offset at the end: touches nothing
    fill(forge(b, [0, 3], [4, 1], 100));              // empty with any offset
    fill(forge(b, [4], [-1], 3), 2);                  // elements 3, 2, 1, 0
    expect((b.flatten().toArray() as number[]).slice(0, 5)).toEqual([2, 2, 2, 2, 0]);
    const row = tensor([1, 2, 3, 4], { dtype: 'float32', device: dev });
    const out = empty([4, 4], { dtype: 'float32', device: dev });
    launchKernel('add', [forge(row, [4, 4], [0, 1], 0), b], [out], []);   // a stride-0 (expanded) input
    expect((out.toArray() as number[][])[0]).toEqual([3, 4, 5, 6]);   // b's row 0 holds 2s
  });

  it('an empty storage (0 bytes) works for empty tensors', () => {
    const e = emptyOn([0], 'float32', toDevice(dev));
    fill(e);
    expect(e.numel).toBe(0);
  });
});

describe('native boundary: the call record itself', () => {
  // Records written by hand into a buffer of our own (loadAddon hands the addon the shared buffer
  // back afterwards): fields no TypeScript path writes.
  const addon = loadAddon<KernelAddon>('kiln_cpu.node', 'cpu');
  const fillId = kernelTable(addon).get('fill')!;
  const run = (record: number[]): void => {
    const buf = new Float64Array(64);
    buf.set(record);
    addon.setArgBuffer(buf);
    try {
      addon.launch(fillId);
    } catch (e) {
      throw fromNativeError(e);
    } finally {
      loadAddon<KernelAddon>('kiln_cpu.node', 'cpu');   // back to the shared buffer
    }
  };
  const t = zeros([4]);
  const tensorRecord = (code: number, ndim = 1, bytes = 16): number[] => [code, ndim, t.storage.address, bytes, 0, 4, 1];

  it('refuses unknown dtype codes, negative and fractional counts, records past the buffer', () => {
    expectError(() => run([0, 0, 1, 1, ...tensorRecord(9), 1]), DTypeError, { op: 'fill' });
    expectError(() => run([0, 0, 1, 1, ...tensorRecord(-1), 1]), DTypeError, { op: 'fill' });
    expectError(() => run([0, 0, 1, 1, ...tensorRecord(0.5), 1]), DTypeError, { op: 'fill' });
    expectError(() => run([0, -1, 1, 1, ...tensorRecord(0), 1]), InternalError, { op: 'fill' });
    expectError(() => run([0, 0, 1.5, 1, ...tensorRecord(0), 1]), InternalError, { op: 'fill' });
    expectError(() => run([0, 0, 1, 70, ...tensorRecord(0), 1]), InternalError, { op: 'fill' });            // more attributes than kMaxAttrs
    expectError(() => run([0, 0, 1, 1, 0, 60, t.storage.address, 16, 0]), ShapeError, { op: 'fill' });       // 60 dimensions
    expectError(() => run([NaN, 0, 1, 1, ...tensorRecord(0), 1]), DeviceError, { op: 'fill' });
    run([0, 0, 1, 1, ...tensorRecord(0), 5]);                                                   // a valid record still works
    expect(t.toArray()).toEqual([5, 5, 5, 5]);
  });

  it('counts beyond the native limits are refused', () => {
    const b = zeros([2]);
    const many = Array.from({ length: 17 }, () => b);
    expectError(() => launchKernel('add', many, [b], []), InternalError, { op: 'add', message: /at most 16/ });
  });
});
