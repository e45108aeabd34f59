// GradientAccumulator: k micro-batches of a mean loss give the gradient, and so the step, of the
// whole batch; a shorter last group is averaged over its own micro-batches; a loss scaler's calls
// come in GradScaler's order; clipping applies to the accumulated gradient.
import { expect, it } from 'vitest';
import { type Tensor, ValueError, matmul, tensor } from '@kiln/tensor';
import { noGrad } from '@kiln/autograd';
import { GradientAccumulator, type LossScaler, type Optimizer, SGD } from '@kiln/optim';
import { expectClose, expectError, forEachDevice, randomValues, toNumbers } from '@kiln/tensor/testing';

const values = (t: Tensor): number[] => toNumbers(t.toTypedArray());
const N = 8, D = 3;

function setup(dev: 'cpu' | 'cuda') {
  const w = tensor(randomValues(1, D, -1, 1), { dtype: 'float64', device: dev }).requiresGrad_();
  const x = tensor(randomValues(2, N * D, -1, 1), { dtype: 'float64', device: dev }).reshape([N, D]);
  const y = tensor(randomValues(3, N, -1, 1), { dtype: 'float64', device: dev });
  /** Mean squared error over rows [from, to). */
  const loss = (from: number, to: number): Tensor => matmul(x.narrow(0, from, to - from), w).sub(y.narrow(0, from, to - from)).pow(2).mean();
  return { w, loss };
}

forEachDevice('GradientAccumulator', (dev) => {
  it('4 micro-batches of 2 step as one batch of 8', () => {
    const whole = setup(dev), parts = setup(dev);
    const optA = new SGD([whole.w], { lr: 0.1 }), optB = new SGD([parts.w], { lr: 0.1 });
    whole.loss(0, N).backward();
    optA.step();
    const acc = new GradientAccumulator(optB, { steps: 4 });
    const stepped = [0, 2, 4, 6].map((i) => acc.backward(parts.loss(i, i + 2)));
    expect(stepped).toEqual([false, false, false, true]);
    expect(acc.pending).toBe(0);
    expect(parts.w.grad).toBeNull();                    // zeroGrad after the step
    expectClose(parts.w, values(whole.w), { rtol: 1e-14, atol: 1e-14 });
  });

  it('flush() steps on a shorter last group, averaged over its micro-batches', () => {
    const whole = setup(dev), parts = setup(dev);
    const optA = new SGD([whole.w], { lr: 0.1 }), optB = new SGD([parts.w], { lr: 0.1 });
    whole.loss(0, 4).backward();
    optA.step();
    const acc = new GradientAccumulator(optB, { steps: 4 });
    acc.backward(parts.loss(0, 2));
    acc.backward(parts.loss(2, 4));
    expect(acc.flush()).toBe(true);
    expect(acc.flush()).toBe(false);
    expectClose(parts.w, values(whole.w), { rtol: 1e-14, atol: 1e-14 });
  });

  it("calls a loss scaler in GradScaler's order: scale each micro-batch; unscale, clip, step, update once", () => {
    const calls: string[] = [];
    const S = 1024;
    const scaler: LossScaler = {
      scale: (l) => { calls.push('scale'); return l.mul(S); },
      unscale_: (opt: Optimizer<{ lr: number }>) => { calls.push('unscale'); noGrad(() => { for (const p of opt.paramGroups[0].params) p.grad!.div_(S); }); },
      step: (opt) => { calls.push('step'); opt.step(); },
      update: () => { calls.push('update'); },
    };
    const whole = setup(dev), parts = setup(dev);
    const optA = new SGD([whole.w], { lr: 0.1 }), optB = new SGD([parts.w], { lr: 0.1 });
    whole.loss(0, N).backward();
    optA.step();
    const acc = new GradientAccumulator(optB, { steps: 2, scaler });
    acc.backward(parts.loss(0, 4));
    acc.backward(parts.loss(4, 8));
    expect(calls).toEqual(['scale', 'scale', 'unscale', 'step', 'update']);
    expectClose(parts.w, values(whole.w), { rtol: 1e-14, atol: 1e-14 });   // powers of 2 scale exactly
  });

  it('clips the accumulated gradient before the step', () => {
    const a = setup(dev);
    const opt = new SGD([a.w], { lr: 1 });
    const before = values(a.w);
    const acc = new GradientAccumulator(opt, { steps: 2, clipGradNorm: 1e-3 });
    acc.backward(a.loss(0, 4));
    acc.backward(a.loss(4, 8));
    const moved = Math.hypot(...values(a.w).map((v, i) => v - before[i]));
    expect(moved).toBeCloseTo(1e-3, 8);
  });

  it('refuses bad options and a loss of more than one element', () => {
    const a = setup(dev), opt = new SGD([a.w], { lr: 1 });
    expect(() => new GradientAccumulator(opt, { steps: 0 })).toThrow(ValueError);
    expectError(() => new GradientAccumulator(opt, { steps: 2, scaler: 3 as never }), ValueError, { op: 'GradientAccumulator', argument: 'scaler', expected: 'a LossScaler (scale, unscale_, step, update: a GradScaler)', got: '3' });
    expectError(() => new GradientAccumulator(opt, { steps: 2, maxNorm: 1 } as never), ValueError, { op: 'GradientAccumulator', argument: 'options', expected: 'only the options steps, scaler, clipGradNorm', got: '"maxNorm"' });
    expect(() => new GradientAccumulator(opt, { steps: 2, clipGradNorm: -1 })).toThrow(ValueError);
    expect(() => new GradientAccumulator(opt, { steps: 2 }).backward(a.w.mul(2))).toThrow("GradientAccumulator.backward: argument 'loss' expected a loss with one element, got shape [3]");
  });
});
