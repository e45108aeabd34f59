import { describe, expect, it } from 'vitest';
import { tensor, arange, zeros, eye, full } from '@kiln/tensor';

describe('smoke', () => {
  it('creates and computes', () => {
    const x = tensor([[1, 2], [3, 4]], { dtype: 'float32' });
    expect(x.mul(2).add(1).toArray()).toEqual([[3, 5], [7, 9]]);
    expect(x.t().contiguous().toArray()).toEqual([[1, 3], [2, 4]]);
    expect(arange(5).toArray()).toEqual([0, 1, 2, 3, 4]);
    expect(eye(2).toArray()).toEqual([[1, 0], [0, 1]]);
    expect(x.sigmoid().toArray()).toBeDefined();
    expect(x.gt(2).toArray()).toEqual([[false, false], [true, true]]);
    expect(x.add(tensor([10, 20])).toArray()).toEqual([[11, 22], [13, 24]]);
    expect(full([2], 3, { dtype: 'float16' }).toArray()).toEqual([3, 3]);
    expect(tensor([1.5, 2.5], { dtype: 'bfloat16' }).toArray()).toEqual([1.5, 2.5]);
    expect(zeros([0, 3]).toArray()).toEqual([]);
  });
});

import { forEachDevice } from '@kiln/tensor/testing';
forEachDevice('smoke', (dev) => {
  it('adds', () => {
    expect(tensor([1, 2], { device: dev }).add(1).toArray()).toEqual([2, 3]);
  });
});
