// Device memory under pressure (run on the GPU machine; skipped with the reason elsewhere): tensors
// dropped without dispose() never cause an OutOfMemoryError, because the addon returns the blocks
// of collected storages at the next allocation and an allocation that fails forces a collection
// and tries again; a request no device can hold is still an OutOfMemoryError the process survives.
import { describe, expect, it } from 'vitest';
import { OutOfMemoryError, empty, memoryStats, zeros } from '@kiln/tensor';
import { devicesUnderTest } from '@kiln/tensor/testing';
import { cuda } from '@kiln/cuda';

const status = devicesUnderTest().find((d) => d.name === 'cuda')!;
const suite = status.available ? describe : describe.skip;

suite(`cuda memory pressure${status.available ? '' : ` (skipped: ${status.reason})`}`, () => {
  it('dropping tensors of twice the device memory in all never runs out of memory', () => {
    const total = cuda.deviceProperties(0).totalMemory;
    const chunk = 2 ** 30;                                     // 1 GiB per tensor
    const rounds = Math.ceil((2 * total) / chunk);
    let last = 0;
    for (let i = 0; i < rounds; i++) {
      const t = zeros([chunk / 4], { device: 'cuda' });       // dropped at once, never disposed
      last = t.numel;
    }
    expect(last).toBe(chunk / 4);
    expect(memoryStats('cuda').reserved).toBeLessThanOrEqual(total);
  }, 300_000);

  it('a request the device cannot hold is an OutOfMemoryError after the collection, and work goes on', () => {
    expect(() => empty([2 ** 44], { dtype: 'bool', device: 'cuda' })).toThrow(OutOfMemoryError);   // 16 TiB: reaches cudaMalloc
    expect(() => empty([2 ** 47], { dtype: 'bool', device: 'cuda' })).toThrow(OutOfMemoryError);   // refused before any call
    expect(zeros([4], { device: 'cuda' }).add(1).toArray()).toEqual([1, 1, 1, 1]);
  });
});
