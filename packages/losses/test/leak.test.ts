// Nothing leaks: many training steps (forward, backward, an in-place update) end with the same
// allocated memory they started with, on every device (issue: 10,000 steps on CUDA).
import { expect, it } from 'vitest';
import { memoryStats, randint, randn, synchronize, tensor, tidy } from '@kiln/tensor';
import { noGrad } from '@kiln/autograd';
import { expectAllocatedUnchanged, forEachDevice, settleMemoryBeforeEach } from '@kiln/tensor/testing';
import { sigmoidFocalLoss } from '@kiln/losses';

settleMemoryBeforeEach();

forEachDevice('memory', (dev) => {
  const steps = dev === 'cuda' ? 10_000 : 500;
  it(`${steps} steps of a linear classifier trained with the focal loss leave allocated memory unchanged`, () => {
    const N = 256, D = 32, C = 8;
    // the unscaled draw is disposed, not dropped: a dropped tensor stays counted as allocated until
    // a garbage collection returns it, which may come in the middle of the loop (it did on an H200)
    const w = tidy(() => randn([D, C], { device: dev, seed: 1 }).mul(0.1)).requiresGrad_();
    const x = randn([N, D], { device: dev, seed: 2 });
    const labels = randint(0, C + 1, [N], { device: dev, seed: 3 });
    const step = (k: number) =>
      tidy(() => {
        const loss = sigmoidFocalLoss(x.matmul(w), labels, { reduction: k % 2 ? 'mean' : 'sum', fusedGrad: k % 3 !== 0 });
        loss.backward();
        noGrad(() => w.sub_(w.grad!.mul(0.1)));
        w.grad!.dispose();
        w.grad = null;
        return loss.item();
      });
    const first = Number(step(0));
    synchronize(dev);
    const before = memoryStats(dev).allocated;
    let last = first;
    for (let k = 1; k <= steps; k++) last = Number(step(k));
    synchronize(dev);
    expect(memoryStats(dev).allocated).toBe(before);
    expect(Number.isFinite(last)).toBe(true);
  });

  it('a call a kernel refuses (a target out of range) leaves nothing allocated', () => {
    // (on CUDA the kernel's report arrives at the next synchronisation, after the loss was made: a
    // graph would then hold the fused gradient until collected, so the logits require grad on the CPU only)
    const x = randn([8, 12], { device: dev, seed: 4 }).requiresGrad_(dev === 'cpu');
    const bad = tensor([0, 1, 2, 3, 4, 5, 6, 99], { dtype: 'int64', device: dev });
    const weight = tidy(() => randn([8], { device: dev, seed: 5 }).to('float64'));   // cast to the logits' dtype: a copy the call makes
    let k = 0;
    const attempt = () => {
      let loss: ReturnType<typeof sigmoidFocalLoss> | undefined;
      try {
        loss = sigmoidFocalLoss(x, bad, k++ % 2 ? { weight } : {});
        synchronize(dev);
      } catch {
        // the refusal is the point
      } finally {
        loss?.dispose();
      }
    };
    expectAllocatedUnchanged(dev, attempt, 20);
  });

  it('a call that records no gradient frees what it made at once (a float64 weight\'s cast, a view of 3-D logits)', () => {
    const x = randn([2, 4, 12], { device: dev, seed: 6 });
    const labels = tensor([[0, 1, 2, 3], [4, 5, 6, 7]], { dtype: 'int32', device: dev });
    const weight = tidy(() => randn([2, 4], { device: dev, seed: 7 }).to('float64'));
    expectAllocatedUnchanged(dev, () => sigmoidFocalLoss(x, labels, { weight }).dispose(), 20);
  });
});
