// The CPU device's JS free list of small buffers (packages/tensor/src/native/small-buffer-cache.ts)
// in front of the native caching allocator: memoryStats figures stay exact, nothing leaks,
// emptyCache releases it, a recycled buffer never serves two live tensors, user buffers and
// buffers a user viewed never enter it, and sizes past the limit bypass it. The native addon's own
// figures (read directly) show what the JS cache holds: native `allocated` counts parked buffers,
// memoryStats('cpu').allocated does not. Every test disposes what it makes, so the figures can be
// compared exactly.
import { expect, it } from 'vitest';
import {
  type KernelAddon, type MemoryStats, emptyCache, empty, fromTypedArray, full, loadAddon, memoryStats, toNdarray, zeros,
} from '@kiln/tensor';
import { settleMemoryBeforeEach } from '@kiln/tensor/testing';

settleMemoryBeforeEach();

const addon = loadAddon<KernelAddon & { memoryStats(): MemoryStats }>('kiln_cpu.node', 'cpu');
/** Bytes the JS cache holds now: native allocated counts them, memoryStats does not. */
const parked = () => addon.memoryStats().allocated - memoryStats('cpu').allocated;
const LIMIT = 64 * 1024;        // the cache's size limit (bytes), SMALL_LIMIT in the source
const BUDGET = 4 * 1024 * 1024; // the most it parks, CACHE_BUDGET in the source
const bytesTensor = (n: number) => empty([n], { dtype: 'bool' }); // n bytes, uninitialised

// Mixed sizes in bytes: tiny, odd, on and just past a 64-byte step, 4 KiB and past it, the limit.
const SIZES = [1, 4, 16, 63, 64, 65, 100, 1000, 4096, 4097, 5000, 12288, 40000, LIMIT - 1, LIMIT];

it('allocating and freeing many small tensors of mixed sizes returns allocated to the start and stops reserved growing', () => {
  const start = memoryStats('cpu');
  const round = (r: number) => {
    // the same sizes every round, in a different order, some tensors alive across the frees
    const ts = SIZES.map((_, i) => bytesTensor(SIZES[(i * 7 + r) % SIZES.length]));
    for (let i = 0; i < ts.length; i += 2) ts[i].dispose();
    const more = SIZES.map((n) => bytesTensor(n));
    for (let i = 1; i < ts.length; i += 2) ts[i].dispose();
    for (const t of more) t.dispose();
  };
  // which sizes are alive together repeats every SIZES.length rounds: after one such period every
  // size class holds as many blocks as it will ever need
  for (let r = 0; r < SIZES.length; r++) round(r);
  const warm = memoryStats('cpu');
  expect(warm.allocated).toBe(start.allocated);
  for (let r = SIZES.length; r < 200; r++) round(r);
  const end = memoryStats('cpu');
  expect(end.allocated).toBe(start.allocated);
  expect(end.reserved).toBe(warm.reserved);                                // no growth after warm-up
  // after warm-up every allocation was served from a cache (and each one counted once)
  const allocations = (200 - SIZES.length) * 2 * SIZES.length;
  expect(end.allocCount - warm.allocCount).toBe(allocations);
  expect(end.cacheHits - warm.cacheHits).toBe(allocations);
  expect(parked()).toBeGreaterThan(0);
  expect(parked()).toBeLessThanOrEqual(BUDGET);
});

it('allocated counts a small tensor by its 64-byte block, as the native allocator does', () => {
  const start = memoryStats('cpu').allocated;
  const ts = [bytesTensor(1), bytesTensor(64), bytesTensor(65), bytesTensor(4000), bytesTensor(0)];
  expect(memoryStats('cpu').allocated - start).toBe(64 + 64 + 128 + 4032 + 64);
  for (const t of ts) t.dispose();
  expect(memoryStats('cpu').allocated).toBe(start);
});

it('emptyCache hands the JS cache back to the native allocator, then empties that: reserved drops to allocated', () => {
  const keepAlive = bytesTensor(300);
  const ts = SIZES.map((n) => bytesTensor(n));
  for (const t of ts) t.dispose();
  expect(parked()).toBeGreaterThan(0);
  const before = memoryStats('cpu');
  expect(before.reserved).toBeGreaterThan(before.allocated);
  emptyCache('cpu');
  const after = memoryStats('cpu');
  expect(parked()).toBe(0);
  expect(after.reserved).toBe(after.allocated);                            // nothing cached anywhere
  expect(after.allocated).toBe(before.allocated);
  keepAlive.dispose();
});

it('a recycled buffer serves one live tensor at a time; zeros() on a recycled buffer is zero', () => {
  const a = full([8], 7, { dtype: 'float32' });
  const address = a.storage.address;
  a.dispose();
  const b = empty([8], { dtype: 'float32' });
  expect(b.storage.address).toBe(address);                                 // it was recycled
  const c = empty([8], { dtype: 'float32' });
  expect(c.storage.address).not.toBe(address);                             // not handed out twice
  b.fill_(1);
  c.fill_(2);
  expect(b.toArray()).toEqual(new Array(8).fill(1));
  expect(c.toArray()).toEqual(new Array(8).fill(2));
  b.dispose();
  const z = zeros([8], { dtype: 'float32' });                              // b's block, filled with 1
  expect(z.storage.address).toBe(address);
  expect(z.toArray()).toEqual(new Array(8).fill(0));
  c.dispose();
  z.dispose();
});

it('sizes past the limit bypass the JS cache; the cache parks no more than its budget', () => {
  emptyCache('cpu');
  const p0 = parked();
  expect(p0).toBe(0);
  const atLimit = bytesTensor(LIMIT), past = bytesTensor(LIMIT + 1);
  past.dispose();
  expect(parked()).toBe(p0);                                               // straight back to the native side
  atLimit.dispose();
  expect(parked()).toBe(p0 + LIMIT);
  const many = Array.from({ length: (2 * BUDGET) / LIMIT }, () => bytesTensor(LIMIT));
  for (const t of many) t.dispose();
  expect(parked()).toBe(BUDGET);                                           // full, the rest released
  emptyCache('cpu');
});

it('the peak counts live tensors only, not buffers parked in the JS cache', () => {
  const ts = Array.from({ length: 256 }, () => bytesTensor(4096));
  for (const t of ts) t.dispose();                                         // 1 MiB parked (within the budget)
  expect(parked()).toBeGreaterThanOrEqual(1 << 20);
  const before = memoryStats('cpu');
  // a size past the peak so far: 3·2^k + 1 bytes take a native block of 4·2^k (a quarter of the
  // next power of two, rounded up: allocator.cc)
  let k = 20;
  while (3 * 2 ** k + 1 <= before.peakAllocated - before.allocated) k++;
  const big = bytesTensor(3 * 2 ** k + 1);
  big.dispose();                                                           // no memoryStats() while it lives
  const after = memoryStats('cpu');
  expect(after.peakAllocated).toBe(before.allocated + 4 * 2 ** k);
  expect(addon.memoryStats().peakAllocated).toBeGreaterThan(after.peakAllocated); // the native peak counts parked bytes
  expect(after.allocated).toBe(before.allocated);
  emptyCache('cpu');
});

it('a user buffer (fromTypedArray) never enters the cache and stays intact after dispose', () => {
  const data = new Float32Array([1, 2, 3, 4]);
  const p0 = parked(), allocated0 = memoryStats('cpu').allocated;
  const t = fromTypedArray(data);
  expect(memoryStats('cpu').allocated).toBe(allocated0);                   // not the allocator's
  t.dispose();
  expect(parked()).toBe(p0);
  expect(Array.from(data)).toEqual([1, 2, 3, 4]);                          // not detached, not reused
  const u = empty([4], { dtype: 'float32' });
  u.fill_(9);
  expect(Array.from(data)).toEqual([1, 2, 3, 4]);
  u.dispose();
});

it('a buffer a user viewed (toNdarray, storage.buffer) is released and detached on dispose, not recycled', () => {
  const t = full([4], 5, { dtype: 'float32' });
  const nd = toNdarray(t);
  const p0 = parked();
  t.dispose();
  expect(parked()).toBe(p0);
  expect(nd.data.length).toBe(0);                                          // detached: empty, never another tensor's data
  const u = full([4], 3, { dtype: 'float32' });
  const view = new Float32Array(u.storage.buffer!, 0, 4);
  expect(Array.from(view)).toEqual([3, 3, 3, 3]);
  u.dispose();
  expect(view.length).toBe(0);
  // one never viewed is recycled, and its freed storage reads as an empty buffer
  const v = full([4], 1, { dtype: 'float32' });
  const storage = v.storage;
  v.dispose();
  expect(parked()).toBe(p0 + 64);
  expect(storage.buffer!.byteLength).toBe(0);
});
