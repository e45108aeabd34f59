// The CUDA device itself: availability, memory figures, copies, errors, events. Skipped (with the
// reason) where no GPU exists; run on the GPU machine with KILN_REQUIRE_CUDA=1.
import { describe, expect, it } from 'vitest';
import { OutOfMemoryError, ValueError, DeviceError, empty, full, tensor, memoryStats, synchronize, zeros } from '@kiln/tensor';
import { cudaAvailable, devicesUnderTest, expectError, settleMemoryBeforeEach } from '@kiln/tensor/testing';
import { cuda } from '@kiln/cuda';

settleMemoryBeforeEach();

const status = devicesUnderTest().find((d) => d.name === 'cuda')!;
const suite = status.available ? describe : describe.skip;

describe('cuda availability', () => {
  it('reports availability and the reason when unavailable, without crashing', () => {
    expect(cuda.isAvailable()).toBe(cudaAvailable());
    if (!cuda.isAvailable()) {
      expect(cuda.unavailableReason()).toMatch(/CUDA|GPU|addon/);
      expect(cuda.deviceCount()).toBe(0);
      expectError(() => tensor([1, 2], { device: 'cuda' }), DeviceError, { op: 'device', argument: 'device' });
    }
  });
});

suite(`cuda device${status.available ? '' : ` (skipped: ${status.reason})`}`, () => {
  it('describes the device', () => {
    const p = cuda.deviceProperties(0);
    expect(p.name.length).toBeGreaterThan(0);
    expect(p.totalMemory).toBeGreaterThan(1e9);
    expect(p.major).toBeGreaterThanOrEqual(7);
    expect(cuda.deviceCount()).toBeGreaterThanOrEqual(1);
  });

  it('copies host -> device -> host exactly, in every dtype', () => {
    for (const dtype of ['float32', 'float64', 'int32', 'int64', 'bool', 'float16', 'bfloat16'] as const) {
      const vals = dtype === 'bool' ? [true, false, true] : [1, -2, 3.5, 0].map((v) => (dtype.startsWith('int') ? Math.trunc(v) : v));
      const t = tensor(vals, { dtype, device: 'cuda' });
      expect(t.device.toString()).toBe('cuda:0');
      expect(t.toArray()).toEqual(vals);
      expect(t.to('cpu').toArray()).toEqual(vals);
      expect(t.to('cpu').to('cuda').toArray()).toEqual(vals);
    }
  });

  it('reads asynchronously without blocking the event loop', async () => {
    const x = full([1 << 20], 2, { device: 'cuda' }).mul(3);
    let ticked = false;
    const timer = new Promise<void>((r) => setImmediate(() => { ticked = true; r(); }));
    const values = await x.data();
    await timer;
    expect(ticked).toBe(true);
    expect(values[0]).toBe(6);
    expect(values[(1 << 20) - 1]).toBe(6);
  });

  it('returns memory to the caching allocator on dispose, and reports it', () => {
    synchronize('cuda');
    const before = memoryStats('cuda');
    const ts = Array.from({ length: 10 }, () => empty([1 << 20], { device: 'cuda' }));
    const during = memoryStats('cuda');
    expect(during.allocated - before.allocated).toBeGreaterThanOrEqual(10 * 4 * (1 << 20));
    for (const t of ts) t.dispose();
    const after = memoryStats('cuda');
    expect(after.allocated).toBe(before.allocated);
    expect(after.reserved).toBeGreaterThanOrEqual(during.allocated - before.allocated);
    const again = empty([1 << 20], { device: 'cuda' });
    expect(memoryStats('cuda').cacheHits).toBeGreaterThan(after.cacheHits);
    again.dispose();
    cuda.emptyCache();
    expect(memoryStats('cuda').reserved).toBeLessThan(after.reserved);
  });

  it('keeps a storage alive while a view uses it', () => {
    const before = memoryStats('cuda').allocated;
    const x = tensor([1, 2, 3, 4], { dtype: 'float32', device: 'cuda' });
    const v = x.slice(0, 1, 3);
    x.dispose();
    expect(v.toArray()).toEqual([2, 3]);
    v.dispose();
    expect(memoryStats('cuda').allocated).toBe(before);
  });

  it('turns running out of memory into a catchable error, and goes on working', () => {
    expect(() => empty([1e14], { dtype: 'float32', device: 'cuda' })).toThrow(OutOfMemoryError);
    expect(zeros([4], { device: 'cuda' }).add(1).toArray()).toEqual([1, 1, 1, 1]);
  });

  it('runs non-contiguous and broadcast elementwise ops like the CPU', () => {
    const a = tensor([[1, 2, 3], [4, 5, 6]], { dtype: 'float32' });
    const b = tensor([10, 20], { dtype: 'float32' });
    const cpuResult = a.t().mul(b).sigmoid().toArray();
    const gpuResult = a.to('cuda').t().mul(b.to('cuda')).sigmoid().toArray();
    expect(gpuResult).toEqual(cpuResult);
  });

  it('times work with events', () => {
    const start = new cuda.Event().record();
    const x = full([1 << 22], 1, { device: 'cuda' });
    for (let i = 0; i < 10; i++) x.mul_(1.0001);
    const end = new cuda.Event().record();
    const ms = start.elapsedTime(end);
    expect(ms).toBeGreaterThan(0);
    expect(ms).toBeLessThan(10_000);
    start.dispose();
    end.dispose();
  });

  it('raises a kernel-reported error at the next synchronisation, once, as a ValueError', async () => {
    const { prepareFocal, focalForward } = await import('../../losses/src/sigmoid-focal-loss/kernels.js');
    const x = zeros([4, 3], { device: 'cuda' });
    const bad = tensor([0, 1, 9, 2], { dtype: 'int64', device: 'cuda' });
    const r = focalForward(prepareFocal(x, bad, { gamma: 2, alpha: 0.25, reduction: 'sum' }), false);
    expect(() => r.loss.item()).toThrow(ValueError);
    expect(() => synchronize('cuda')).not.toThrow();
    expect(zeros([2], { device: 'cuda' }).add(1).toArray()).toEqual([1, 1]);
  });
});
