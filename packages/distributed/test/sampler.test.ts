// DistributedSampler: PyTorch's shares and padding, one shuffled order agreed by every rank, epochs,
// and its use as a DataLoader's sampler.
import { describe, expect, it } from 'vitest';
import { ValueError } from '@kiln/tensor';
import { DataLoader, Dataset } from '@kiln/vision';
import { DistributedSampler } from '../src/data/distributed-sampler.js';

const shares = (n: number, W: number, o: { shuffle?: boolean; dropLast?: boolean; seed?: number } = {}, epoch = 0) =>
  Array.from({ length: W }, (_, rank) => new DistributedSampler(n, { numReplicas: W, rank, ...o }).indices(epoch));

describe('DistributedSampler', () => {
  it('pads with the first indices as PyTorch (10 items, 4 ranks)', () => {
    expect(shares(10, 4, { shuffle: false })).toEqual([[0, 4, 8], [1, 5, 9], [2, 6, 0], [3, 7, 1]]);
  });

  it('drops the uneven tail with dropLast', () => {
    expect(shares(10, 4, { shuffle: false, dropLast: true })).toEqual([[0, 4], [1, 5], [2, 6], [3, 7]]);
    expect(shares(3, 4, { dropLast: true })).toEqual([[], [], [], []]);
  });

  it('repeats the order when the padding is longer than the dataset, and handles empty datasets', () => {
    expect(shares(2, 5, { shuffle: false })).toEqual([[0], [1], [0], [1], [0]]);
    expect(shares(0, 3)).toEqual([[], [], []]);
    expect(new DistributedSampler(1, { numReplicas: 1, rank: 0 }).indices()).toEqual([0]);
  });

  for (const [n, W] of [[12, 3], [13, 4], [7, 2]] as const) {
    it(`shuffled: the ${W} shares of ${n} items cover the dataset, equally long (seed and epoch decide)`, () => {
      const s = shares(n, W, { seed: 3 }, 1);
      s.forEach((x) => expect(x.length).toBe(Math.ceil(n / W)));
      expect(new Set(s.flat())).toEqual(new Set(Array.from({ length: n }, (_, i) => i)));
      if (n % W === 0) expect(s.flat().length).toBe(n);                  // disjoint without padding
      expect(shares(n, W, { seed: 3 }, 1)).toEqual(s);                    // every rank computes the same order
      expect(shares(n, W, { seed: 3 }, 2)).not.toEqual(s);                // another epoch, another order
      expect(shares(n, W, { seed: 4 }, 1)).not.toEqual(s);
    });
  }

  it('setEpoch fixes the epoch whatever a loader passes', () => {
    const s = new DistributedSampler(20, { numReplicas: 2, rank: 1, seed: 9 });
    const e5 = s.indices(5);
    s.setEpoch(5);
    expect(s.indices(0)).toEqual(e5);
    expect(() => s.setEpoch(-1)).toThrow(ValueError);
  });

  it('refuses bad arguments with a ValueError naming them', () => {
    expect(() => new DistributedSampler(-1, { numReplicas: 2, rank: 0 })).toThrow(/datasetLength/);
    expect(() => new DistributedSampler(4, { numReplicas: 2, rank: 2 })).toThrow(/rank/);
    expect(() => new DistributedSampler(4, { numReplicas: 0, rank: 0 })).toThrow(/numReplicas/);
    expect(() => new DistributedSampler(4, { numReplicas: 2 })).toThrow(ValueError);   // no rank, no process group
  });

  it("drives a DataLoader's batches; shuffle and sampler together are refused", async () => {
    class Numbers extends Dataset<number> {
      get length() { return 10; }
      get(i: number) { return i; }
    }
    const sampler = new DistributedSampler(10, { numReplicas: 4, rank: 2, shuffle: false });
    const loader = new DataLoader(new Numbers(), { batchSize: 2, sampler });
    expect(loader.length).toBe(2);
    const batches: number[][] = [];
    for await (const b of loader) batches.push(b);
    expect(batches).toEqual([[2, 6], [0]]);
    expect(() => new DataLoader(new Numbers(), { sampler, shuffle: true })).toThrow(/shuffle/);
  });
});
