// Pinned host memory (run on the GPU machine; skipped with the reason elsewhere): Tensor.pinMemory()
// and isPinned(), uploads that return at once (to('cuda', { nonBlocking: true })), the rule that a
// pinned block is not handed out again while an upload from it is queued (the allocator's figures
// show it), a copy without nonBlocking complete on return, DataLoader's pinMemory, and no leaks.
import { describe, expect, it } from 'vitest';
import { type Tensor, DeviceError, ValueError, arange, isPinned, matmul, pinMemory, randn, synchronize, tensor, zeros } from '@kiln/tensor';
import { devicesUnderTest, expectError } from '@kiln/tensor/testing';
import { DataLoader, Dataset } from '@kiln/vision';
import { cuda } from '@kiln/cuda';

const status = devicesUnderTest().find((d) => d.name === 'cuda')!;
const suite = status.available ? describe : describe.skip;

/** Queues about a hundred milliseconds of work on the GPU and returns at once. */
function keepGpuBusy(): () => void {
  const a = randn([4096, 4096], { device: 'cuda' });
  const outs: Tensor[] = [];
  for (let i = 0; i < 12; i++) outs.push(matmul(a, a));
  return () => {
    a.dispose();
    for (const o of outs) o.dispose();
  };
}

suite(`pinned host memory${status.available ? '' : ` (skipped: ${status.reason})`}`, () => {
  it('pinMemory copies into pinned memory (contiguous, every dtype); a pinned tensor pins to itself', () => {
    for (const dtype of ['float32', 'float64', 'int64', 'bfloat16', 'bool'] as const) {
      const x = dtype === 'bool' ? tensor([[true, false, true], [false, false, true]]) : arange(0, 6, 1, { dtype }).reshape([2, 3]);
      const view = x.t();                                   // not contiguous
      const p = view.pinMemory();
      expect(p.isPinned(), dtype).toBe(true);
      expect(isPinned(view), dtype).toBe(false);
      expect(p.isContiguous, dtype).toBe(true);
      expect(p.device.type).toBe('cpu');
      expect(p.toArray(), dtype).toEqual(view.toArray());
      expect(pinMemory(p)).toBe(p);
      expect(p.add(1).isPinned()).toBe(false);              // results of ops are ordinary memory
      p.dispose();
    }
    expectError(() => zeros([2], { device: 'cuda' }).pinMemory(), DeviceError, { op: 'pinMemory', argument: 'self' });
  });

  it('uploads from pinned memory, with and without nonBlocking, give the values; the gradient passes through', () => {
    const x = randn([64, 33]).requiresGrad_();
    const p = x.pinMemory();
    for (const y of [p.to('cuda', { nonBlocking: true }), p.to({ device: 'cuda', nonBlocking: true }), p.to('cuda'), x.to('cuda', { nonBlocking: true })]) {
      expect(y.device.type).toBe('cuda');
      expect(y.toArray()).toEqual(x.toArray());
    }
    p.to('cuda', { nonBlocking: true }).mul(2).sum().backward();
    expect(x.grad!.toArray()).toEqual(zeros([64, 33]).add(2).toArray());
  });

  it('a block is not handed out again while an upload from it is queued', () => {
    cuda.emptyHostCache();
    const n = 1 << 20;
    const values = arange(0, n, 1, { dtype: 'float32' });
    const release = keepGpuBusy();
    const src = values.pinMemory();
    const onGpu = src.to('cuda', { nonBlocking: true });   // queued behind the matmuls
    const hitsBefore = cuda.hostMemoryStats().cacheHits;
    expect(cuda.hostMemoryStats().pendingUploads).toBeGreaterThan(0);
    src.dispose();                                          // its block goes back to the cache...
    const other = zeros([n]).pinMemory();                   // ...but is not reused for this one
    expect(cuda.hostMemoryStats().cacheHits).toBe(hitsBefore);
    other.fill_(-1);                                        // would overwrite the queued upload's source if it were the same block
    expect(onGpu.toArray()).toEqual(values.toArray());
    synchronize('cuda');
    expect(cuda.hostMemoryStats().pendingUploads).toBe(0);
    other.dispose();
    const again = zeros([n]).pinMemory();                   // now a cached block serves it
    expect(cuda.hostMemoryStats().cacheHits).toBe(hitsBefore + 1);
    again.dispose();
    release();
  });

  it('a copy from pinned memory without nonBlocking is complete on return', () => {
    const src = arange(0, 1 << 18, 1, { dtype: 'float32' }).pinMemory();
    const expected = src.toArray();
    const release = keepGpuBusy();
    const onGpu = src.to('cuda');
    src.fill_(7);                                           // after the call returned
    expect(onGpu.toArray()).toEqual(expected);
    release();
    src.dispose();
  });

  it('leaves nothing allocated; emptyHostCache returns the cached blocks', () => {
    synchronize('cuda');
    const before = cuda.hostMemoryStats();
    for (let i = 0; i < 20; i++) {
      const p = randn([1000 + i]).pinMemory();
      p.to('cuda', { nonBlocking: true }).dispose();
      p.dispose();
    }
    synchronize('cuda');
    expect(cuda.hostMemoryStats().allocated).toBe(before.allocated);
    cuda.emptyHostCache();
    const after = cuda.hostMemoryStats();
    expect(after.reserved).toBe(after.allocated);
    expect(after.pendingUploads).toBe(0);
  });

  it('DataLoader({ pinMemory }) pins each batch and disposes nothing it was given', async () => {
    const items = Array.from({ length: 6 }, (_, i) => tensor([i, i], { dtype: 'float32' }));
    class Items extends Dataset<Tensor> {
      get length() { return items.length; }
      get(i: number) { return items[i]; }
    }
    const made: Tensor[] = [];
    const collate = (xs: Tensor[]) => {
      const images = xs[0].unsqueeze(0);
      made.push(images);
      return { images, first: xs[0], rest: xs.slice(1) };
    };
    const before = cuda.hostMemoryStats().allocated;
    for await (const batch of new DataLoader(new Items(), { batchSize: 3, collate, pinMemory: true })) {
      expect(batch.images.isPinned()).toBe(true);
      expect(batch.first.isPinned()).toBe(true);
      expect(batch.rest.every((t) => t.isPinned())).toBe(true);
      const first = (batch.first.toArray() as number[])[0];
      expect(batch.rest.map((t) => t.toArray())).toEqual([1, 2].map((k) => [first + k, first + k]));
      for (const t of [batch.images, batch.first, ...batch.rest]) t.dispose();
    }
    expect(made.every((t) => !t.isDisposed && !t.isPinned())).toBe(true);   // copied, left to the collector
    expect(items.every((t) => !t.isDisposed)).toBe(true);                     // the dataset's own live on
    expect(cuda.hostMemoryStats().allocated).toBe(before);
  });
});

describe('pinned host memory without a CUDA device', () => {
  it.skipIf(status.available)('pinMemory is a DeviceError naming the op', () => {
    expectError(() => tensor([1, 2]).pinMemory(), DeviceError, { op: 'pinMemory' });
  });
  it('to() refuses options that are not its own or not booleans', () => {
    const x = tensor([1, 2]);
    expectError(() => x.to('cpu', { nonBlocking: 1 as unknown as boolean }), ValueError, { op: 'to', argument: 'nonBlocking' });
    expectError(() => x.to('float64', { blocking: true } as never), ValueError, { op: 'to', argument: 'options' });
    expectError(() => x.to({ dtype: 'float64', copy: 'yes' as unknown as boolean }), ValueError, { op: 'to', argument: 'copy' });
    expect(x.to('float64', { copy: true }).toArray()).toEqual([1, 2]);
    expect(x.to('cpu', { nonBlocking: true })).toBe(x);
    expect(isPinned(x)).toBe(false);
  });
});
