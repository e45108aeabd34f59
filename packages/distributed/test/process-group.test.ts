// A process group of one rank in this process: the collectives are identities, every bad argument
// is a typed error naming the collective and the argument, DistributedDataParallel steps as the
// plain module, and nothing leaks.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DTypeError, ShapeError, ValueError, manualSeed, memoryStats, randn, tensor, tidy, zeros } from '@kiln/tensor';
import { Linear, Module } from '@kiln/nn';
import type { Tensor } from '@kiln/tensor';
import {
  DistributedDataParallel, DistributedError, type ProcessGroup, allGather, allReduce, barrier, broadcast, destroyProcessGroup, getRank,
  getWorldSize, initProcessGroup, isInitialized, reduceScatter,
} from '../src/index.js';
import { settleMemoryBeforeEach } from '@kiln/tensor/testing';

settleMemoryBeforeEach();

let group: ProcessGroup;
beforeAll(() => {
  expect(() => getRank()).toThrow(DistributedError);          // before initProcessGroup: a usage error
  group = initProcessGroup({ backend: 'cpu', rank: 0, worldSize: 1, masterPort: 0, timeout: 10_000 });
});
afterAll(() => { if (isInitialized()) destroyProcessGroup(); });

describe('a process group of one rank', () => {
  it('knows its rank and size and refuses a second default group', () => {
    expect([getRank(), getWorldSize(), group.backend, group.device.type]).toEqual([0, 1, 'cpu', 'cpu']);
    expect(() => initProcessGroup({ rank: 0, worldSize: 1, masterPort: 0 })).toThrow(/already initialized/);
  });

  it('runs every collective as an identity', async () => {
    const t = tensor([1.5, -2, 3], { dtype: 'float32' });
    allReduce(t, { op: 'avg' });
    broadcast(t, 0);
    expect(t.toArray()).toEqual([1.5, -2, 3]);
    const out = zeros([1, 3]);
    allGather(out, t);
    expect(out.toArray()).toEqual([[1.5, -2, 3]]);
    const rs = zeros([3]);
    reduceScatter(rs, [t], { op: 'max' });
    expect(rs.toArray()).toEqual([1.5, -2, 3]);
    await allReduce(t, { asyncOp: true }).promise;
    barrier();
  });

  it('refuses bad arguments with typed errors naming the collective and argument', () => {
    const f = zeros([4]);
    expect(() => allReduce(f, { op: 'prod' as never })).toThrow(ValueError);
    expect(() => allReduce(f, { timeout: -1 })).toThrow(/allReduce.*timeout/);
    expect(() => allReduce(zeros([2], { dtype: 'int32' }), { op: 'avg' })).toThrow(DTypeError);
    expect(() => allReduce(zeros([2], { dtype: 'bool' }))).toThrow(/allReduce.*tensor/);
    expect(() => allReduce('x' as never)).toThrow(DTypeError);
    expect(() => broadcast(f, 1)).toThrow(/broadcast.*src/);
    expect(() => allGather([f, f], f)).toThrow(/allGather.*output/);
    expect(() => allGather(zeros([5]), f)).toThrow(ShapeError);
    expect(() => allGather(zeros([4], { dtype: 'float64' }), f)).toThrow(DTypeError);
    expect(() => reduceScatter(f, zeros([3]))).toThrow(ShapeError);
    const gone = zeros([2]);
    gone.dispose();
    expect(() => allReduce(gone)).toThrow();
  });

  it('DistributedDataParallel gives the plain module\'s gradients, and leaks nothing', () => {
    class Net extends Module {
      fc = new Linear(5, 3, { dtype: 'float64' });
      forward(x: Tensor): Tensor { return this.fc.call(x).tanh(); }
    }
    manualSeed(1);
    const net = new Net();
    manualSeed(1);
    const plain = new Net();
    const x = randn([4, 5], { dtype: 'float64' });
    const ddp = new DistributedDataParallel(net, { bucketCapMb: 0.00001 });
    expect(ddp.namedParameters().map(([n]) => n)).toEqual(['module.fc.weight', 'module.fc.bias']);
    const step = (m: Module) => { m.zeroGrad(); tidy(() => { m.call(x).sum().backward(); }); };
    step(ddp);                                           // warm-up: gradients allocated once
    const before = memoryStats().allocated;
    for (let k = 0; k < 3; k++) step(ddp);
    expect(memoryStats().allocated).toBe(before);
    step(plain);
    expect(net.fc.weight.grad!.toArray()).toEqual(plain.fc.weight.grad!.toArray());
    expect(net.fc.bias!.grad!.toArray()).toEqual(plain.fc.bias!.grad!.toArray());
    ddp.destroy();
    expect(() => ddp.call(x)).toThrow(/destroyed/);
  });

  it('destroyProcessGroup ends it; collectives then need a new one', () => {
    destroyProcessGroup();
    expect(isInitialized()).toBe(false);
    expect(() => allReduce(zeros([1]))).toThrow(DistributedError);
  });
});
