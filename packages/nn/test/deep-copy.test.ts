// deepCopy: the copy has its own parameters and buffers (same values, devices and requiresGrad),
// the same structure and class, computes the same function, and shares what was shared.
import { expect, it } from 'vitest';
import { type Tensor, memoryStats } from '@kiln/tensor';
import { noGrad } from '@kiln/autograd';
import { BatchNorm2d, Conv2d, Linear, Module, Parameter, deepCopy } from '@kiln/nn';
import { forEachDevice, settledAllocated } from '@kiln/tensor/testing';
import { rand, values } from './test-helpers.js';

class Net extends Module {
  conv: Conv2d;
  norm: BatchNorm2d;
  heads: Linear[];
  tied: Linear;
  frozen: Parameter;
  readonly width = 3;
  constructor(dev: 'cpu' | 'cuda') {
    super();
    this.conv = new Conv2d(2, 3, 3, { padding: 1, dtype: 'float64', device: dev });
    this.norm = new BatchNorm2d(3, { dtype: 'float64', device: dev });
    this.heads = [new Linear(3, 2, { dtype: 'float64', device: dev }), new Linear(3, 2, { dtype: 'float64', device: dev })];
    this.tied = this.heads[0]!;
    this.frozen = new Parameter(rand(3, [2], dev), false);
  }
  forward(x: Tensor): Tensor {
    const f = this.norm.call(this.conv.call(x)).mean([2, 3]);
    return this.heads[0].call(f).add(this.heads[1].call(f)).add(this.frozen);
  }
}

forEachDevice('deepCopy', (dev) => {
  it('copies parameters and buffers into tensors of its own, with the same structure and values', () => {
    const net = new Net(dev);
    net.norm.call(rand(1, [4, 3, 2, 2], dev));      // running statistics away from their initial values
    const copy = deepCopy(net);
    expect(copy).toBeInstanceOf(Net);
    expect(copy.conv).toBeInstanceOf(Conv2d);
    expect(Object.keys(copy.stateDict())).toEqual(Object.keys(net.stateDict()));
    for (const [k, t] of Object.entries(copy.stateDict())) {
      const o = net.stateDict()[k];
      expect(t, k).not.toBe(o);
      expect(t.storage, k).not.toBe(o.storage);
      expect(values(t), k).toEqual(values(o));
      expect([t.device.type, t.dtype, t.requiresGrad], k).toEqual([o.device.type, o.dtype, o.requiresGrad]);
    }
    expect(copy.frozen.requiresGrad).toBe(false);
    expect(copy.tied).toBe(copy.heads[0]);               // shared modules stay shared
    expect(copy.width).toBe(3);
    const x = rand(2, [2, 2, 4, 4], dev);
    expect(values(copy.eval().call(x))).toEqual(values(net.eval().call(x)));
  });

  it('is independent: changing the copy leaves the original as it was', () => {
    const net = new Net(dev);
    const copy = deepCopy(net);
    const before = values(net.conv.weight);
    noGrad(() => copy.conv.weight.fill_(0));
    copy.norm.train().call(rand(4, [2, 3, 2, 2], dev));
    expect(values(net.conv.weight)).toEqual(before);
    expect(values(net.norm.numBatchesTracked!)).toEqual([0]);
    copy.train(false);
    expect(net.training).toBe(true);
  });

  it('copies no gradients and records nothing', () => {
    const net = new Net(dev);
    net.call(rand(5, [1, 2, 3, 3], dev)).sum().backward();
    expect(net.conv.weight.grad).not.toBeNull();
    const copy = deepCopy(net);
    expect(copy.conv.weight.grad).toBeNull();
    expect(copy.conv.weight.isLeaf).toBe(true);
  });

  it('frees the copy with its tensors', async () => {
    const net = new Net(dev);
    // settled: the tensors the test before left to the collector must not return during the check
    const before = await settledAllocated(dev);
    const copy = deepCopy(net);
    expect(memoryStats(dev).allocated).toBeGreaterThan(before);
    for (const t of Object.values(copy.stateDict())) t.dispose();
    expect(memoryStats(dev).allocated).toBe(before);
  });
});
