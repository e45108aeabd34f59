import assert from 'node:assert/strict';
import { memoryStats, tensor, tidy, zeros } from '@kiln/tensor';

// A view shares its base's storage; the storage counts the tensors using it.
const base = zeros([4, 4]);
const row = base.select(0, 1);                   // a view: same storage, offset 4
assert.equal(row.storage, base.storage);
assert.equal(base.storage.refs, 2);

// Writing through the view changes the base, and bumps the storage's version (autograd checks it).
row.fill_(7);
assert.deepEqual((base.toArray() as number[][])[1], [7, 7, 7, 7]);

// Disposing the base keeps the memory alive for the view; the last holder frees it.
const before = memoryStats().allocated;
base.dispose();
assert.equal(row.storage.freed, false);
row.dispose();
assert.equal(row.storage.freed, true);
assert.ok(memoryStats().allocated < before);     // the block went back to the caching allocator

// tidy(): tensors created inside and not returned are disposed when it returns.
const kept = tidy(() => {
  const t = tensor([1, 2, 3], { dtype: 'float32' });
  return t.mul(t).add(1);                        // t and t·t are disposed; the result is kept
});
assert.deepEqual(kept.toArray(), [2, 5, 10]);
kept.dispose();
