/**
 * The allocator's figure for leak checks, once tensors that earlier code dropped (left to the
 * garbage collector, not disposed) have been given back. A dropped tensor's block returns only after
 * a collection took its object and a later native allocation swept it, at a time no test controls;
 * one that returns in the middle of a leak check makes the figure fall, and the check fails for
 * memory it never allocated. So: collect, allocate and yield until the figure stops moving.
 */
import { collectGarbage } from '../native/collect.js';
import { memoryStats, synchronize } from '../device.js';
import { zeros } from '../ops/creation.js';
import { expect } from 'vitest';

/**
 * `memoryStats(device).allocated` once it has settled (see the file's comment); take it before and
 * after the code under test.
 *
 * @example
 * ```ts
 * const before = await settledAllocated('cuda');
 * for (let i = 0; i < 20; i++) op(x).dispose();
 * expect(await settledAllocated('cuda')).toBe(before);
 * ```
 */
export async function settledAllocated(device: 'cpu' | 'cuda'): Promise<number> {
  synchronize(device);
  let last = -1;
  for (let i = 0; i < 10 && memoryStats(device).allocated !== last; i++) {
    last = memoryStats(device).allocated;
    collectGarbage();
    // the next native allocation sweeps the blocks of the tensors the collection took (1 MiB: past
    // the small buffers TypeScript keeps for reuse)
    zeros([1 << 18], { dtype: 'float32', device }).dispose();
    await new Promise((resolve) => setImmediate(resolve));
  }
  return memoryStats(device).allocated;
}

/**
 * Calls `fn` once (allocations that live on, such as a first-call cache, happen there), then
 * `times` more times, and expects the device's allocated bytes after them to equal those before
 * (synchronised both times, so that frees queued behind CUDA work have run): the leak check of a
 * call that must leave nothing behind.
 *
 * @example
 * ```ts
 * expectAllocatedUnchanged('cuda', () => a.mul(b).dispose(), 10);
 * ```
 */
export function expectAllocatedUnchanged(device: 'cpu' | 'cuda', fn: () => void, times = 10): void {
  fn();
  synchronize(device);
  const before = memoryStats(device).allocated;
  for (let i = 0; i < times; i++) fn();
  synchronize(device);
  expect(memoryStats(device).allocated, `allocated bytes on ${device} after ${times} calls`).toBe(before);
}
