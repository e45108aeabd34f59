// Dataset / DataLoader: batching, seeded shuffles per epoch, dropLast, prefetch overlapping the
// consumer, errors, and no tensors left behind when a loop stops early.
import { describe, expect, it } from 'vitest';
import { type Tensor, ValueError, memoryStats, tensor } from '@kiln/tensor';
import { expectError, settleMemoryBeforeEach } from '@kiln/tensor/testing';
import { DataLoader, Dataset, epochOrder } from '@kiln/vision';

settleMemoryBeforeEach();

class Range extends Dataset<number> {
  constructor(readonly n: number, readonly log: string[] = [], readonly delayMs = 0, readonly broken = -1) { super(); }
  get length() { return this.n; }
  async get(i: number) {
    this.log.push(`get ${i}`);
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    if (i === this.broken) throw new Error(`item ${i} is broken`);
    return i;
  }
}

const epoch = async <B>(loader: AsyncIterable<B>) => { const out: B[] = []; for await (const b of loader) out.push(b); return out; };

describe('DataLoader', () => {
  it('batches in order, with a smaller last batch unless dropLast', async () => {
    expect(await epoch(new DataLoader(new Range(7), { batchSize: 3 }))).toEqual([[0, 1, 2], [3, 4, 5], [6]]);
    expect(await epoch(new DataLoader(new Range(7), { batchSize: 3, dropLast: true }))).toEqual([[0, 1, 2], [3, 4, 5]]);
    expect(new DataLoader(new Range(7), { batchSize: 3 }).length).toBe(3);
    expect(new DataLoader(new Range(7), { batchSize: 3, dropLast: true }).length).toBe(2);
    expect(await epoch(new DataLoader(new Range(0), { batchSize: 3 }))).toEqual([]);
    expect(await epoch(new DataLoader(new Range(2), { batchSize: 5, dropLast: true }))).toEqual([]);
  });

  it('shuffles with a seed: a permutation per epoch, the same for the same seed and epoch', async () => {
    const a = new DataLoader(new Range(50), { batchSize: 8, shuffle: true, seed: 3 });
    const b = new DataLoader(new Range(50), { batchSize: 8, shuffle: true, seed: 3 });
    const a0 = (await epoch(a)).flat(), a1 = (await epoch(a)).flat();
    expect([...a0].sort((x, y) => x - y)).toEqual([...Array(50).keys()]);
    expect(a0).not.toEqual([...Array(50).keys()]);
    expect(a1).not.toEqual(a0);                                      // a new order each epoch
    expect((await epoch(b)).flat()).toEqual(a0);                     // same seed, same epoch: same order
    b.setEpoch(0);
    expect((await epoch(b)).flat()).toEqual(a0);
    expect((await epoch(b)).flat()).toEqual(a1);
    const c = new DataLoader(new Range(50), { batchSize: 8, shuffle: true, seed: 4 });
    expect((await epoch(c)).flat()).not.toEqual(a0);
  });

  it('collates with the given function, which may be async', async () => {
    const loader = new DataLoader(new Range(5), { batchSize: 2, collate: (xs: number[]) => Promise.resolve(xs.reduce((s, x) => s + x, 0)) });
    expect(await epoch(loader)).toEqual([1, 5, 4]);
  });

  it('prepares the next batches while the current one is used', async () => {
    const log: string[] = [];
    const loader = new DataLoader(new Range(8, log, 5), { batchSize: 2, prefetch: 2 });
    for await (const batch of loader) {
      log.push(`use ${batch.join(',')}`);
      await new Promise((r) => setTimeout(r, 5));                  // the device's work on the batch
    }
    // while batch [0, 1] is used, items of the two batches after it are already being read
    const using01 = log.indexOf('use 0,1');
    expect(log.indexOf('get 5')).toBeLessThan(using01);
    expect(log.indexOf('get 6')).toBeGreaterThan(using01);          // no more than 2 batches ahead
    const none: string[] = [];
    for await (const batch of new DataLoader(new Range(4, none), { batchSize: 2, prefetch: 0 })) none.push(`use ${batch.join(',')}`);
    expect(none).toEqual(['get 0', 'get 1', 'use 0,1', 'get 2', 'get 3', 'use 2,3']);
  });

  it('rejects the batch holding a failing item and stops', async () => {
    const loader = new DataLoader(new Range(20, [], 0, 13), { batchSize: 4 });
    const seen: number[][] = [];
    await expect((async () => { for await (const b of loader) seen.push(b); })()).rejects.toThrow('item 13 is broken');
    expect(seen).toEqual([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]);
  });

  it('disposes the tensors of prefetched batches when the loop stops early', async () => {
    class Tensors extends Dataset<Tensor> {
      get length() { return 40; }
      get(i: number) { return tensor([i, i, i], { dtype: 'float32' }); }
    }
    const before = memoryStats().allocated;
    const loader = new DataLoader(new Tensors(), { batchSize: 4, prefetch: 3, collate: (xs: Tensor[]) => ({ items: xs }) });
    for await (const { items } of loader) {
      for (const t of items) t.dispose();
      break;
    }
    expect(memoryStats().allocated).toBe(before);
  });

  it('rejects bad options', () => {
    expectError(() => new DataLoader(new Range(3), { batchSize: 0 }), ValueError, { op: 'DataLoader', argument: 'batchSize', expected: 'an integer >= 1', got: '0' });
    expectError(() => new DataLoader(new Range(3), { prefetch: -1 }), ValueError, { op: 'DataLoader', argument: 'prefetch', expected: 'an integer >= 0', got: '-1' });
    expectError(() => new DataLoader(new Range(3), { seed: 0.5 }), ValueError, { op: 'DataLoader', argument: 'seed', expected: 'an integer', got: '0.5' });
    expectError(() => new DataLoader(new Range(3)).setEpoch(-1), ValueError, { op: 'DataLoader', argument: 'epoch', expected: 'an integer >= 0', got: '-1' });
    // a missing dataset failed at the first batch with a TypeError; a truthy 'no' shuffled
    expectError(() => new DataLoader(null as never), ValueError, { op: 'DataLoader', argument: 'dataset', expected: 'a Dataset (a length and get(index))', got: 'null' });
    expectError(() => new DataLoader(new Range(3), { shuffle: 'no' as unknown as boolean }), ValueError, { op: 'DataLoader', argument: 'shuffle', expected: 'true or false', got: '"no"' });
    expectError(() => new DataLoader(new Range(3), { dropLast: 1 as unknown as boolean }), ValueError, { op: 'DataLoader', argument: 'dropLast', expected: 'true or false', got: '1' });
    expectError(() => new DataLoader(new Range(3), { pinMemory: 'yes' as unknown as boolean }), ValueError, { op: 'DataLoader', argument: 'pinMemory', expected: 'true or false', got: '"yes"' });
    expectError(() => new DataLoader(new Range(3), { batch_size: 2 } as never), ValueError, { op: 'DataLoader', argument: 'options', got: '"batch_size"' });
    // a dataset whose length is no count gave an empty epoch ([] for -1) or a fractional index
    expectError(() => new DataLoader(new Range(-1)).length, ValueError, { op: 'DataLoader', argument: 'dataset.length', expected: 'an integer >= 0', got: '-1' });
    expectError(() => new DataLoader(new Range(2.5)).batchIndices(0), ValueError, { op: 'DataLoader', argument: 'dataset.length', got: '2.5' });
  });

  it('epochOrder refuses counts, seeds and epochs that are not integers', () => {
    expect(epochOrder(3, false, 0, 0)).toEqual([0, 1, 2]);
    expectError(() => epochOrder(-1, false, 0, 0), ValueError, { op: 'epochOrder', argument: 'n', expected: 'an integer >= 0', got: '-1' });
    expectError(() => epochOrder(1.5, false, 0, 0), ValueError, { op: 'epochOrder', argument: 'n', got: '1.5' });
    expectError(() => epochOrder(4, true, NaN, 0), ValueError, { op: 'epochOrder', argument: 'seed', got: 'NaN' });
    expectError(() => epochOrder(4, true, 0, -1), ValueError, { op: 'epochOrder', argument: 'epoch', expected: 'an integer >= 0', got: '-1' });
  });

  it('visits the indices a sampler gives for each epoch (the loader passes its epoch)', async () => {
    const asked: number[] = [];
    const sampler = { length: 3, indices: (e: number) => { asked.push(e); return [e, 4, 1]; } };
    const loader = new DataLoader(new Range(5), { batchSize: 2, sampler });
    expect(loader.length).toBe(2);
    expect(await epoch(loader)).toEqual([[0, 4], [1]]);
    expect(await epoch(loader)).toEqual([[1, 4], [1]]);
    loader.setEpoch(3);
    expect(await epoch(loader)).toEqual([[3, 4], [1]]);
    expect(asked).toEqual([0, 1, 3]);
    expectError(() => new DataLoader(new Range(5), { sampler, shuffle: true }), ValueError, 'shuffle');
    expectError(() => new DataLoader(new Range(5), { sampler: {} as never }), ValueError, 'sampler');
  });
});
