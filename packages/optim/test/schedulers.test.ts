// Learning-rate schedulers against PyTorch's documented closed forms
// (https://pytorch.org/docs/stable/optim.html#how-to-adjust-learning-rate).
import { describe, expect, it } from 'vitest';
import { ValueError, tensor } from '@kiln/tensor';
import { CosineAnnealingLR, LinearLR, MultiStepLR, SGD, SequentialLR, StepLR, warmupCosine } from '@kiln/optim';
import { expectError } from '@kiln/tensor/testing';

const makeOpt = (lr = 0.1) => new SGD([
  { params: [tensor([1], { dtype: 'float32' }).requiresGrad_()] },
  { params: [tensor([1], { dtype: 'float32' }).requiresGrad_()], lr: lr * 10 },
], { lr });

/** lrs of group 0 at epochs 0..n-1 (construction sets epoch 0; each step advances one). */
function lrs(sched: { step(): void; getLastLr(): number[] }, n: number, group = 0): number[] {
  const out = [sched.getLastLr()[group]];
  for (let i = 1; i < n; i++) {
    sched.step();
    out.push(sched.getLastLr()[group]);
  }
  return out;
}
const close = (a: number[], b: number[]): void => {
  expect(a.length).toBe(b.length);
  a.forEach((x, i) => expect(x, `epoch ${i}`).toBeCloseTo(b[i], 12));
};

describe('schedulers', () => {
  it('StepLR: lr = base * gamma^floor(epoch / stepSize), per group', () => {
    const opt = makeOpt();
    const s = new StepLR(opt, { stepSize: 3, gamma: 0.5 });
    close(lrs(s, 8), [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025]);
    expect(opt.paramGroups[1].lr).toBeCloseTo(1 * 0.25, 12);
  });

  it('MultiStepLR: gamma per milestone passed', () => {
    close(lrs(new MultiStepLR(makeOpt(), { milestones: [2, 5], gamma: 0.1 }), 7), [0.1, 0.1, 0.01, 0.01, 0.01, 0.001, 0.001]);
  });

  it('CosineAnnealingLR: etaMin + (base - etaMin)(1 + cos(pi t / tMax)) / 2', () => {
    const expected = Array.from({ length: 11 }, (_, t) => 0.001 + (0.1 - 0.001) * (1 + Math.cos((Math.PI * t) / 10)) / 2);
    close(lrs(new CosineAnnealingLR(makeOpt(), { tMax: 10, etaMin: 0.001 }), 11), expected);
  });

  it('LinearLR: factor from startFactor to endFactor over totalIters, then constant', () => {
    close(lrs(new LinearLR(makeOpt(), { startFactor: 0.25, totalIters: 4 }), 7), [0.025, 0.04375, 0.0625, 0.08125, 0.1, 0.1, 0.1]);
    close(lrs(new LinearLR(makeOpt()), 6), [0.1 / 3, 0.1 * (1 / 3 + 2 / 15), 0.1 * (1 / 3 + 4 / 15), 0.1 * (1 / 3 + 6 / 15), 0.1 * (1 / 3 + 8 / 15), 0.1]);
  });

  it('SequentialLR / warmupCosine chain a linear warm-up and a cosine decay', () => {
    const opt = makeOpt();
    const s = warmupCosine(opt, { warmupIters: 4, warmupFactor: 0.1, totalIters: 12 });
    const expected = [
      ...[0, 1, 2, 3].map((t) => 0.1 * (0.1 + 0.9 * t / 4)),
      ...[0, 1, 2, 3, 4, 5, 6, 7, 8].map((t) => 0.1 * (1 + Math.cos((Math.PI * t) / 8)) / 2),
    ];
    close(lrs(s, 13), expected);
    expect(opt.paramGroups[1].lr).toBeCloseTo(0, 12);          // group 1 (base 1) also reached 0
    const opt2 = makeOpt();
    const manual = new SequentialLR(opt2, { schedulers: [new LinearLR(opt2, { startFactor: 0.1, totalIters: 4 }), new CosineAnnealingLR(opt2, { tMax: 8 })], milestones: [4] });
    close(lrs(manual, 13), expected);
    // no warm-up: the cosine alone
    close(lrs(warmupCosine(makeOpt(), { warmupIters: 0, totalIters: 8 }), 9), [0, 1, 2, 3, 4, 5, 6, 7, 8].map((t) => 0.1 * (1 + Math.cos((Math.PI * t) / 8)) / 2));
  });

  it('rejects bad arguments', () => {
    const opt = makeOpt();
    expectError(() => new StepLR(opt, { stepSize: 0 }), ValueError, { op: 'StepLR', argument: 'stepSize', expected: 'a positive integer', got: '0' });
    expectError(() => new CosineAnnealingLR(opt, { tMax: 1.5 }), ValueError, { op: 'CosineAnnealingLR', argument: 'tMax', expected: 'a positive integer', got: '1.5' });
    expectError(() => new LinearLR(opt, { startFactor: 0 }), ValueError, { op: 'LinearLR', argument: 'startFactor', expected: 'a number in (0, 1]', got: '0' });
    expectError(() => new MultiStepLR(opt, { milestones: [3, 2] }), ValueError, { op: 'MultiStepLR', argument: 'milestones', expected: 'increasing non-negative integers', got: '[3, 2]' });
    expectError(() => new SequentialLR(opt, { schedulers: [new StepLR(opt, { stepSize: 1 })], milestones: [2] }), ValueError, { op: 'SequentialLR', argument: 'milestones', expected: '0 milestones (one fewer than schedulers)', got: '1' });
    expectError(() => warmupCosine(opt, { warmupIters: 10, totalIters: 5 }), ValueError, { op: 'warmupCosine', argument: 'totalIters', expected: 'an integer > warmupIters (10)', got: '5' });
    expectError(() => warmupCosine(opt, { warmupIters: -1, totalIters: 5 }), ValueError, { op: 'warmupCosine', argument: 'warmupIters', expected: 'an integer >= 0', got: '-1' });
    // a NaN or negative factor would reach every group's lr at the first decay
    expectError(() => new StepLR(opt, { stepSize: 2, gamma: NaN }), ValueError, { op: 'StepLR', argument: 'gamma', expected: 'a finite number >= 0', got: 'NaN' });
    expectError(() => new MultiStepLR(opt, { milestones: [2], gamma: -0.1 }), ValueError, { op: 'MultiStepLR', argument: 'gamma', expected: 'a finite number >= 0', got: '-0.1' });
    expectError(() => new CosineAnnealingLR(opt, { tMax: 5, etaMin: NaN }), ValueError, { op: 'CosineAnnealingLR', argument: 'etaMin', expected: 'a finite number >= 0', got: 'NaN' });
    expectError(() => new StepLR({} as typeof opt, { stepSize: 2 }), ValueError, { op: 'StepLR', argument: 'optimizer', expected: 'an optimizer (an object with paramGroups)' });
  });
});
