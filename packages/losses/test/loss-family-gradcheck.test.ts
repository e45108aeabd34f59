// Finite-difference gradient checks (float64, CPU) of every composed loss with its main options,
// and the detached focal weight of the varifocal loss against its closed-form gradient.
import { describe, expect, it } from 'vitest';
import { type Tensor, tensor } from '@kiln/tensor';
import { gradcheck } from '@kiln/autograd';
import { expectClose, randomValues } from '@kiln/tensor/testing';
import {
  binaryCrossEntropyWithLogits, crossEntropy, distributionFocalLoss, giouLoss, huberLoss, l1Loss, qualityFocalLoss,
  smoothL1Loss, softmaxFocalLoss, varifocalLoss,
} from '@kiln/losses';

const f64 = (values: number[], shape: number[]): Tensor => tensor(values, { dtype: 'float64' }).reshape(shape);
const i64 = (values: number[]): Tensor => tensor(values, { dtype: 'int64' });
const leaf = (seed: number, shape: number[], lo = -3, hi = 3): Tensor =>
  f64(randomValues(seed, shape.reduce((a, b) => a * b, 1), lo, hi), shape).requiresGrad_();
const check = (f: (...xs: Tensor[]) => Tensor, inputs: Tensor[]): void => {
  expect(gradcheck(f, inputs, { eps: 1e-6, atol: 1e-8, rtol: 1e-5 })).toBe(true);
};
const REDUCTIONS = ['none', 'sum', 'mean'] as const;

const N = 6, C = 5;

describe('gradcheck (float64, CPU): binaryCrossEntropyWithLogits', () => {
  const t = f64(randomValues(2, N * C, 0, 1), [N, C]);
  for (const reduction of REDUCTIONS) {
    it(`input and target, ${reduction}`, () => check((x, y) => binaryCrossEntropyWithLogits(x, y, { reduction }), [leaf(1, [N, C]), t.clone().requiresGrad_()]));
  }
  it('weight [N, 1] and posWeight [C], mean', () => {
    const weight = f64(randomValues(3, N, 0.5, 2), [N, 1]), posWeight = f64(randomValues(4, C, 0.5, 3), [C]);
    check((x) => binaryCrossEntropyWithLogits(x, t, { weight, posWeight }), [leaf(5, [N, C])]);
  });
});

describe('gradcheck (float64, CPU): crossEntropy', () => {
  const target = i64([0, 4, 2, -100, 1, 4]);
  const classWeight = f64(randomValues(6, C, 0.5, 2), [C]);
  for (const reduction of REDUCTIONS) {
    it(`ignored row, ${reduction}`, () => check((x) => crossEntropy(x, target, { reduction }), [leaf(7, [N, C])]));
    it(`classWeight and labelSmoothing 0.1, ${reduction}`, () => check((x) => crossEntropy(x, target, { reduction, classWeight, labelSmoothing: 0.1 }), [leaf(8, [N, C])]));
  }
  it('[N, C, d] input, ignoreIndex 2', () => check((x) => crossEntropy(x, i64([0, 2, 1, 3, 2, 4]).reshape([2, 3]), { ignoreIndex: 2 }), [leaf(9, [2, C, 3])]));
  it('unbatched [C] input', () => check((x) => crossEntropy(x, i64([3]).reshape([]), { reduction: 'none' }), [leaf(10, [C])]));
});

describe('gradcheck (float64, CPU): l1Loss, smoothL1Loss, huberLoss', () => {
  const weight = f64(randomValues(11, 4, 0.5, 2), [4]);
  for (const reduction of REDUCTIONS) {
    it(`l1 ${reduction}, input and target`, () => check((x, y) => l1Loss(x, y, { reduction }), [leaf(12, [N, 4]), leaf(13, [N, 4])]));
    for (const beta of [1, 0.5, 0]) {
      it(`smooth L1 beta ${beta} ${reduction}`, () => check((x, y) => smoothL1Loss(x, y, { reduction, beta }), [leaf(14, [N, 4], -1, 1), leaf(15, [N, 4], -1, 1)]));
    }
    for (const delta of [1, 0.3, 2.5]) {
      it(`huber delta ${delta} ${reduction}`, () => check((x, y) => huberLoss(x, y, { reduction, delta }), [leaf(16, [N, 4], -2, 2), leaf(17, [N, 4], -2, 2)]));
    }
  }
  it('weight and avgFactor', () => {
    check((x, y) => smoothL1Loss(x, y, { beta: 0.5, weight, avgFactor: 3 }), [leaf(18, [N, 4]), leaf(19, [N, 4])]);
    check((x, y) => l1Loss(x, y, { weight, reduction: 'sum' }), [leaf(20, [N, 4]), leaf(21, [N, 4])]);
  });
});

/** Boxes (x1, y1, x2, y2) with positive width and height; `shift` moves them to overlap or not. */
function boxes(seed: number, n: number, shift: number): number[] {
  const v = randomValues(seed, 4 * n, 0, 4);
  return Array.from({ length: n }, (_, i) => [v[4 * i] + shift, v[4 * i + 1], v[4 * i] + shift + 0.5 + v[4 * i + 2], v[4 * i + 1] + 0.5 + v[4 * i + 3]]).flat();
}

describe('gradcheck (float64, CPU): giouLoss', () => {
  for (const reduction of REDUCTIONS) {
    for (const [what, shift] of [['overlapping', 0.7], ['disjoint', 9]] as const) {
      it(`${what} boxes, both box sets, ${reduction}`, () => {
        check((a, b) => giouLoss(a, b, { reduction }), [f64(boxes(22, N, 0), [N, 4]).requiresGrad_(), f64(boxes(23, N, shift), [N, 4]).requiresGrad_()]);
      });
    }
  }
  it('weight and avgFactor', () => {
    const weight = f64(randomValues(24, N, 0.5, 2), [N]);
    check((a) => giouLoss(a, f64(boxes(25, N, 0.5), [N, 4]), { reduction: 'mean', weight, avgFactor: 2 }), [f64(boxes(26, N, 0), [N, 4]).requiresGrad_()]);
  });
});

describe('gradcheck (float64, CPU): softmaxFocalLoss', () => {
  const target = i64([0, 4, 2, -100, 1, 4]);
  for (const reduction of REDUCTIONS) {
    for (const gamma of [0, 0.5, 2, 5]) {
      it(`gamma ${gamma}, ignored row, ${reduction}`, () => check((x) => softmaxFocalLoss(x, target, { reduction, gamma }), [leaf(27, [N, C])]));
    }
  }
  it('classWeight with alpha, ignoreIndex 4, avgFactor', () => {
    const classWeight = f64(randomValues(28, C, 0.5, 2), [C]);
    check((x) => softmaxFocalLoss(x, i64([0, 4, 2, 3, 1, 4]), { classWeight, alpha: 0.5, ignoreIndex: 4, avgFactor: 2.5 }), [leaf(29, [N, C])]);
  });
  it('a dominant logit (p_t near 1 and near 0)', () => {
    const xs = randomValues(30, N * C, -1, 1).map((v, i) => (i % 7 === 0 ? v + 25 : v));
    check((x) => softmaxFocalLoss(x, i64([0, 1, 2, 3, 4, 0]), { gamma: 0.5, reduction: 'sum' }), [f64(xs, [N, C]).requiresGrad_()]);
  });
  it('two classes', () => check((x) => softmaxFocalLoss(x, i64([0, 1, 1, 0, 1, 0])), [leaf(31, [N, 2])]));
});

describe('gradcheck (float64, CPU): qualityFocalLoss', () => {
  const label = i64([0, 5, 2, 4, 5, 1]);   // 5 = background
  const score = f64(randomValues(32, N, 0.05, 0.95), [N]);
  for (const reduction of REDUCTIONS) {
    for (const beta of [2, 1.5, 0.5, 0]) {
      it(`beta ${beta} ${reduction}`, () => check((x) => qualityFocalLoss(x, [label, score], { reduction, beta }), [leaf(33, [N, C])]));
    }
  }
  it('weight and avgFactor', () => {
    const weight = f64(randomValues(34, N, 0.5, 2), [N]);
    check((x) => qualityFocalLoss(x, [label, score], { weight, avgFactor: 3 }), [leaf(35, [N, C])]);
  });
});

describe('gradcheck (float64, CPU): distributionFocalLoss', () => {
  const label = f64([0.3, 3.9, 2.5, 0, 1.25, 3.01], [N]);   // bins 0..4
  for (const reduction of REDUCTIONS) {
    it(`${reduction}`, () => check((x) => distributionFocalLoss(x, label, { reduction }), [leaf(36, [N, C])]));
  }
  it('weight and avgFactor', () => {
    const weight = f64(randomValues(37, N, 0.5, 2), [N]);
    check((x) => distributionFocalLoss(x, label, { weight, avgFactor: 4 }), [leaf(38, [N, C])]);
  });
});

describe('gradcheck (float64, CPU): varifocalLoss (detachFocalWeight false: the full derivative)', () => {
  const iou = randomValues(39, N * C, 0.1, 0.9).map((v, i) => (i % 3 === 0 ? v : 0));
  const target = f64(iou, [N, C]);
  for (const reduction of REDUCTIONS) {
    it(`${reduction}`, () => check((x) => varifocalLoss(x, target, { reduction, detachFocalWeight: false }), [leaf(40, [N, C])]));
  }
  it('iouWeighted false, gamma 1.5, alpha 0.5, per-row weight, avgFactor', () => {
    const weight = f64(randomValues(41, N, 0.5, 2), [N]);
    check((x) => varifocalLoss(x, target, { detachFocalWeight: false, iouWeighted: false, gamma: 1.5, alpha: 0.5, weight, avgFactor: 2 }), [leaf(42, [N, C])]);
  });
  it('detachFocalWeight true: gradient (sigmoid(x) - t) w with the weight w held constant', () => {
    const xs = randomValues(43, N * C, -3, 3);
    const x = f64(xs, [N, C]).requiresGrad_();
    varifocalLoss(x, target, { reduction: 'sum' }).backward();
    const sig = (v: number) => 1 / (1 + Math.exp(-v));
    expectClose(x.grad!, xs.map((v, i) => (sig(v) - iou[i]) * (iou[i] > 0 ? iou[i] : 0.75 * sig(v) ** 2)), { rtol: 1e-12, atol: 1e-15 });
  });
});
