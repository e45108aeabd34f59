// The 'nccl' backend on one GPU (world size 1): NCCL loads, each collective runs on CUDA tensors
// (in place, through a copy for a view, several dtypes), and a DistributedDataParallel step gives
// the plain module's gradients. For the GPU machine: skips here with the reason.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cuda, ncclBinding } from '@kiln/cuda';
import { type Tensor, manualSeed, randn, tensor, tidy, zeros } from '@kiln/tensor';
import { Linear, Module } from '@kiln/nn';
import {
  DistributedDataParallel, allGather, allReduce, barrier, broadcast, destroyProcessGroup, initProcessGroup, isInitialized, reduceScatter,
} from '../src/index.js';

const nccl = cuda.isAvailable() ? ncclBinding() : null;
const status = nccl?.ncclStatus();
const why = !cuda.isAvailable() ? `no CUDA: ${cuda.unavailableReason() ?? 'unknown reason'}` : nccl === null ? 'the CUDA addon has no NCCL entry points' : !status!.available ? `NCCL: ${status!.reason ?? 'unknown reason'}` : '';

describe.skipIf(why !== '')(`the nccl backend on one GPU${why ? ` (skipped: ${why})` : ''}`, () => {
  beforeAll(() => {
    initProcessGroup({ backend: 'nccl', rank: 0, worldSize: 1, masterPort: 0, device: 'cuda:0', timeout: 60_000 });
  });
  afterAll(() => { if (isInitialized()) destroyProcessGroup(); });

  it('reports the library it loaded', () => {
    expect(status!.version).toMatch(/^2\.\d+\.\d+$/);
    expect(status!.path).toMatch(/libnccl\.so/);
  });

  for (const dtype of ['float32', 'float64', 'float16', 'int32'] as const) {
    it(`runs each collective on ${dtype}`, () => {
      const values = [1, -2, 3, 0, 5];
      const t = tensor(values, { dtype, device: 'cuda:0' });
      for (const op of dtype === 'int32' ? (['sum', 'max', 'min'] as const) : (['sum', 'avg', 'max', 'min'] as const)) {
        allReduce(t, { op });
        expect(t.toArray()).toEqual(values);
      }
      broadcast(t, 0);
      expect(t.toArray()).toEqual(values);
      const all = zeros([1, 5], { dtype, device: 'cuda:0' });
      allGather(all, t);
      expect(all.toArray()).toEqual([values]);
      const out = zeros([5], { dtype, device: 'cuda:0' });
      reduceScatter(out, t);
      expect(out.toArray()).toEqual(values);
      barrier();
    });
  }

  it('reduces a non-contiguous view and an empty tensor; waits asynchronously', async () => {
    const base = tensor([[1, 2, 3], [4, 5, 6]], { device: 'cuda:0' });
    allReduce(base.transpose(0, 1), { op: 'sum' });
    expect(base.toArray()).toEqual([[1, 2, 3], [4, 5, 6]]);
    allReduce(zeros([0], { device: 'cuda:0' }));
    const w = allReduce(base, { asyncOp: true });
    await w.promise;
    expect(w.isCompleted()).toBe(true);
  });

  it('refuses CPU tensors with a DeviceError naming the collective', () => {
    expect(() => allReduce(zeros([2]))).toThrow(/allReduce.*tensor.*cuda/);
  });

  it('DistributedDataParallel gives the plain module\'s gradients', () => {
    class Net extends Module {
      fc = new Linear(7, 3, { device: 'cuda:0' });
      forward(x: Tensor): Tensor { return this.fc.call(x).tanh(); }
    }
    manualSeed(3);
    const net = new Net();
    manualSeed(3);
    const plain = new Net();
    const x = randn([5, 7], { device: 'cuda:0' });
    const ddp = new DistributedDataParallel(net);
    tidy(() => ddp.call(x).sum().backward());
    tidy(() => plain.call(x).sum().backward());
    expect(net.fc.weight.grad!.toArray()).toEqual(plain.fc.weight.grad!.toArray());
    ddp.destroy();
  });
});
