/**
 * The engine frees each gradient as soon as the last node that reads it has run, so backward
 * through a long chain holds a few gradients at a time, not one per node. (Its own file: it reads
 * the process's peak allocation.)
 */
import { expect, it } from 'vitest';
import { memoryStats, tidy } from '@kiln/tensor';
import { forEachDevice } from '@kiln/tensor/testing';
import '@kiln/autograd';
import { leaf } from './helpers.js';

forEachDevice('memory during backward', (dev) => {
  it('holds a few gradients at a time through a chain of 200 ops', () => {
    tidy(() => {
      const x = leaf(dev, [64, 64]);
      const gradBytes = 64 * 64 * 8;
      let y = x;
      for (let i = 0; i < 200; i++) y = y.mul(1.001).sin(); // each node saves a [64, 64] tensor
      const loss = y.sum();
      const before = memoryStats(dev);
      loss.backward();
      const after = memoryStats(dev);
      // the forward's intermediates were all alive before; backward adds a handful of gradients
      expect(after.peakAllocated - before.allocated).toBeLessThan(8 * gradBytes);
      expect(after.peakAllocated - before.allocated).toBeGreaterThan(0);
      expect(x.grad!.shape).toEqual([64, 64]);
    });
  });
});
