// Memory in training loops stays flat: the documented loop (tidy + zeroGrad) returns to the same
// allocation after every step, and a loop that disposes nothing (left to the garbage collector)
// stays bounded while it runs synchronously, because the addons return the memory of collected
// tensors at once instead of waiting for finalizers that run only when the event loop turns.
import { expect, it } from 'vitest';
import { type Tensor, matmul, memoryStats, randn, tensor, tidy } from '@kiln/tensor';
import { forEachDevice, settleMemoryBeforeEach } from '@kiln/tensor/testing';
import '@kiln/autograd';
import { SGD } from '@kiln/optim';

settleMemoryBeforeEach();

/** A 16-64-1 MLP (the small MLP), batch 32, SGD with momentum. */
function mlp(dev: 'cpu' | 'cuda') {
  const param = (shape: number[], seed: number): Tensor => randn(shape, { seed, device: dev }).mul_(0.1).requiresGrad_();
  const params = [param([16, 64], 3), param([64], 4), param([64, 1], 5), param([1], 6)];
  const [w1, b1, w2, b2] = params as [Tensor, Tensor, Tensor, Tensor];
  const opt = new SGD(params, { lr: 1e-3, momentum: 0.9 });
  const x = randn([32, 16], { seed: 1, device: dev }), y = randn([32, 1], { seed: 2, device: dev });
  const step = (): number => {
    const d = matmul(matmul(x, w1).add(b1).relu(), w2).add(b2).sub(y);
    const loss = d.mul(d).mean();
    loss.backward();
    opt.step();
    opt.zeroGrad();
    return loss.item();
  };
  const dispose = () => {
    for (const p of params) p.dispose();
    opt.disposeState();
    x.dispose();
    y.dispose();
  };
  return { step, dispose, opt };
}

forEachDevice('training-loop memory', (dev) => {
  it('tidy + zeroGrad: every step ends at the same allocation (gradients are freed, not dropped)', () => {
    const { step, dispose } = mlp(dev);
    const losses: number[] = [];
    for (let i = 0; i < 3; i++) losses.push(tidy(step));          // the momentum buffers appear at step 1
    const start = memoryStats(dev).allocated;
    for (let i = 0; i < 300; i++) losses.push(tidy(step));
    expect(memoryStats(dev).allocated).toBe(start);
    expect(losses.at(-1)!).toBeLessThan(losses[0]);                // it trains
    dispose();
  });

  it('disposeState frees the state\'s tensors at once; a later step starts the state again', () => {
    const { step, dispose, opt } = mlp(dev);
    const before = memoryStats(dev).allocated;
    tidy(step);                                                    // the momentum buffers appear
    const withState = memoryStats(dev).allocated;
    expect(withState).toBeGreaterThan(before);
    expect(opt.state.size).toBe(4);
    opt.disposeState();
    expect(opt.state.size).toBe(0);
    expect(memoryStats(dev).allocated).toBe(before);
    tidy(step);
    expect(memoryStats(dev).allocated).toBe(withState);
    dispose();
  });

  it('zeroGrad frees the gradients it drops', () => {
    const w = tensor([1, 2, 3], { dtype: 'float32', device: dev, requiresGrad: true });
    const opt = new SGD([w], { lr: 0.1 });
    const before = memoryStats(dev).allocated;
    tidy(() => w.mul(w).sum().backward());
    expect(memoryStats(dev).allocated).toBeGreaterThan(before);     // the gradient
    const g = w.grad!;
    opt.zeroGrad();
    expect(w.grad).toBeNull();
    expect(g.isDisposed).toBe(true);
    expect(memoryStats(dev).allocated).toBe(before);
    w.dispose();
  });

  it('a retained gradient does not outlive the tidy that disposed its tensor', () => {
    const w = tensor([1, 2, 3], { dtype: 'float32', device: dev, requiresGrad: true });
    const before = memoryStats(dev).allocated;
    tidy(() => {
      const y = w.mul(2);
      y.retainGrad();
      y.sum().backward();
      expect(y.grad).not.toBeNull();
    });
    w.grad!.dispose();
    w.grad = null;
    expect(memoryStats(dev).allocated).toBe(before);
    w.dispose();
  });

  it('nothing disposed, left to the garbage collector: memory stays bounded in a synchronous loop', () => {
    const { step, dispose } = mlp(dev);
    step();
    const start = memoryStats(dev).reserved;
    // about 20 KB a step stayed allocated before the collector's work was swept back (60 MB here)
    for (let i = 0; i < 3000; i++) step();
    expect(memoryStats(dev).reserved - start).toBeLessThan(16 * 2 ** 20);
    dispose();
  }, 120_000);
});
