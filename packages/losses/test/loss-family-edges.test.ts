// The composed losses at their edges, on every device: typed errors naming the argument, out-of-range
// class indices, empty batches, all-ignored batches, logits of ±1e4, non-contiguous inputs, the
// half dtypes, and cross-entropy's [N, C, d] and unbatched forms.
import { beforeEach, describe, expect, it } from 'vitest';
import { DeviceError, DTypeError, ShapeError, type Tensor, ValueError, tensor, zeros } from '@kiln/tensor';
import { cudaAvailable, expectClose, forEachDevice, randomValues, expectError } from '@kiln/tensor/testing';
import {
  CrossEntropyLoss, SigmoidFocalLoss, binaryCrossEntropyWithLogits, crossEntropy, distributionFocalLoss, giouLoss, huberLoss, l1Loss,
  qualityFocalLoss, sigmoidFocalLoss, smoothL1Loss, softmaxFocalLoss, varifocalLoss,
} from '@kiln/losses';
import { refDistributionFocalRow, refSoftmaxFocalRow } from './loss-family-references.js';

type Dev = 'cpu' | 'cuda';
type FloatDType = 'float32' | 'float64';
const REDUCTIONS = ['none', 'sum', 'mean'] as const;

const fl = (values: number[], shape: number[], dev: Dev, dtype: FloatDType = 'float32'): Tensor => tensor(values, { dtype, device: dev }).reshape(shape);
const ix = (values: number[], dev: Dev): Tensor => tensor(values, { dtype: 'int64', device: dev });
const values = (t: Tensor): number[] => Array.from(t.toTypedArray() as ArrayLike<number>, Number);
const maxAbs = (xs: readonly number[]): number => xs.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

type LossOf = (x: Tensor, reduction: (typeof REDUCTIONS)[number]) => Tensor;

/** Every loss as (input, reduction) => loss for an input [N, C] (giouLoss too when C = 4), with valid companions. */
function everyLoss(dev: Dev, N: number, C: number, dtype: FloatDType): [string, LossOf][] {
  const labels = Array.from({ length: N }, (_, i) => i % C);
  const soft = fl(randomValues(1, N * C, 0, 1), [N, C], dev, dtype);
  const rows = fl(randomValues(2, N * 4, 0, 1), [N, 4], dev, dtype);
  return [
    ['binaryCrossEntropyWithLogits', (x, reduction) => binaryCrossEntropyWithLogits(x, soft, { reduction })],
    ['crossEntropy', (x, reduction) => crossEntropy(x, ix(labels, dev), { reduction })],
    ['softmaxFocalLoss', (x, reduction) => softmaxFocalLoss(x, ix(labels, dev), { reduction })],
    ['qualityFocalLoss', (x, reduction) => qualityFocalLoss(x, [ix(labels.map((l, i) => (i % 3 === 0 ? C : l)), dev), fl(randomValues(3, N, 0, 1), [N], dev, dtype)], { reduction })],
    ['distributionFocalLoss', (x, reduction) => distributionFocalLoss(x, fl(randomValues(4, N, 0, C - 1.001), [N], dev, dtype), { reduction })],
    ['varifocalLoss', (x, reduction) => varifocalLoss(x, soft.mul(soft.gt(0.7).to(dtype)), { reduction })],
    ['varifocalLoss (not detached)', (x, reduction) => varifocalLoss(x, soft.mul(soft.gt(0.7).to(dtype)), { reduction, detachFocalWeight: false })],
    ['l1Loss', (x, reduction) => l1Loss(x, soft, { reduction })],
    ['smoothL1Loss', (x, reduction) => smoothL1Loss(x, soft, { reduction, beta: 0.5 })],
    ['huberLoss', (x, reduction) => huberLoss(x, soft, { reduction, delta: 0.5 })],
    ...(C === 4 ? [['giouLoss', (x, reduction) => giouLoss(x, rows, { reduction })] as [string, LossOf]] : []),
  ];
}

forEachDevice('loss family: typed errors', (dev) => {
  // made in each test (a skipped device's block still runs this body, but not its tests)
  let x: Tensor, t: Tensor, soft: Tensor;
  beforeEach(() => {
    x = fl(randomValues(5, 12, -2, 2), [3, 4], dev);
    t = ix([0, 3, 1], dev);
    soft = fl(randomValues(6, 12, 0, 1), [3, 4], dev);
  });
  it('an option the loss does not know is a ValueError naming it (a misspelt gamma was ignored)', () => {
    const unknown = (op: string, key: string) => ({ op, argument: 'options', got: JSON.stringify(key) });
    expectError(() => sigmoidFocalLoss(x, t, { gama: 0 } as never), ValueError, unknown('sigmoid_focal_loss', 'gama'));
    expectError(() => new SigmoidFocalLoss({ reduce: 'sum' } as never), ValueError, unknown('SigmoidFocalLoss', 'reduce'));
    expectError(() => binaryCrossEntropyWithLogits(x, soft, { pos_weight: x } as never), ValueError, unknown('binary_cross_entropy_with_logits', 'pos_weight'));
    expectError(() => crossEntropy(x, t, { ignore_index: 3 } as never), ValueError, unknown('cross_entropy', 'ignore_index'));
    expectError(() => new CrossEntropyLoss({ weight: x } as never), ValueError, unknown('CrossEntropyLoss', 'weight'));
    expectError(() => softmaxFocalLoss(x, t, { gama: 1 } as never), ValueError, unknown('softmax_focal_loss', 'gama'));
    expectError(() => l1Loss(x, soft, { beta: 1 } as never), ValueError, { op: 'l1_loss', argument: 'options', expected: 'only the options reduction, weight, avgFactor', got: '"beta"' });
    expectError(() => smoothL1Loss(x, soft, { delta: 1 } as never), ValueError, { op: 'smooth_l1_loss', argument: 'options', expected: 'only the options reduction, weight, avgFactor, beta', got: '"delta"' });
    expectError(() => huberLoss(x, soft, { beta: 1 } as never), ValueError, unknown('huber_loss', 'beta'));
    expectError(() => giouLoss(soft, soft, { epsilon: 1e-6 } as never), ValueError, unknown('giou_loss', 'epsilon'));
    expectError(() => qualityFocalLoss(x, [t, fl([0.5, 0.2, 0.9], [3], dev)], { gamma: 2 } as never), ValueError, unknown('quality_focal_loss', 'gamma'));
    expectError(() => distributionFocalLoss(x, fl([0.5, 1, 2], [3], dev), { beta: 2 } as never), ValueError, unknown('distribution_focal_loss', 'beta'));
    expectError(() => varifocalLoss(x, soft, { iou_weighted: false } as never), ValueError, unknown('varifocal_loss', 'iou_weighted'));
    // every option the losses document still passes
    expect(Number.isFinite(smoothL1Loss(x, soft, { beta: 0.5, reduction: 'sum', weight: undefined }).item())).toBe(true);
    expect(Number.isFinite(sigmoidFocalLoss(x, t, { gamma: 1, alpha: 0.5, reduction: 'mean', avgFactor: 2, backgroundClass: 'last', fusedGrad: false }).item())).toBe(true);
  });

  it('binaryCrossEntropyWithLogits', () => {
    expectError(() => binaryCrossEntropyWithLogits(x, soft.reshape([4, 3])), ShapeError, { op: 'binary_cross_entropy_with_logits', argument: 'target', expected: "the input's shape [3, 4]", got: '[4, 3]' });
    expectError(() => binaryCrossEntropyWithLogits(x, ix([0, 1, 0], dev)), DTypeError, { op: 'binary_cross_entropy_with_logits', argument: 'target', got: 'int64' });
    expectError(() => binaryCrossEntropyWithLogits(ix([1, 2, 3], dev), ix([0, 1, 0], dev)), DTypeError, { op: 'binary_cross_entropy_with_logits', argument: 'input', expected: 'a floating-point tensor (logits)', got: 'int64' });
    expectError(() => binaryCrossEntropyWithLogits(x, soft, { weight: fl([1, 2, 3], [3], dev) }), ShapeError, { op: 'binary_cross_entropy_with_logits', argument: 'weight', expected: "a shape broadcastable to the loss's shape [3, 4]", got: '[3]' });
    expectError(() => binaryCrossEntropyWithLogits(x, soft, { posWeight: fl([1, 2], [2], dev) }), ShapeError, { op: 'binary_cross_entropy_with_logits', argument: 'posWeight', expected: "a shape broadcastable to the loss's shape [3, 4]", got: '[2]' });
    expectError(() => binaryCrossEntropyWithLogits(x, soft, { weight: ix([1, 2, 3, 4], dev) }), DTypeError, { op: 'binary_cross_entropy_with_logits', argument: 'weight', expected: 'a floating-point tensor', got: 'int64' });
    expectError(() => binaryCrossEntropyWithLogits(x, soft, { reduction: 'avg' as 'sum' }), ValueError, { op: 'binary_cross_entropy_with_logits', argument: 'reduction', expected: "'none', 'mean' or 'sum'", got: '"avg"' });
    expectError(() => binaryCrossEntropyWithLogits(x, soft, { reduction: 'sum', avgFactor: 2 }), ValueError, { op: 'binary_cross_entropy_with_logits', argument: 'avgFactor', expected: "reduction 'mean' (avgFactor replaces the mean's divisor)", got: "reduction 'sum'" });
    expectError(() => binaryCrossEntropyWithLogits(x, soft, { avgFactor: 0 }), ValueError, { op: 'binary_cross_entropy_with_logits', argument: 'avgFactor', expected: 'a finite number > 0', got: '0' });
  });

  it('crossEntropy', () => {
    expectError(() => crossEntropy(x, ix([0, 1], dev)), ShapeError, { op: 'cross_entropy', argument: 'target', expected: 'class indices of shape [3] (input is [3, 4])', got: '[2]' });
    expectError(() => crossEntropy(x, soft), DTypeError, { op: 'cross_entropy', argument: 'target', got: 'float32' });
    expectError(() => crossEntropy(ix([1, 2], dev), ix([0, 1], dev)), DTypeError, { op: 'cross_entropy', argument: 'input', expected: 'a floating-point tensor (logits)', got: 'int64' });
    expectError(() => crossEntropy(fl([1], [], dev), ix([0], dev)), ShapeError, { op: 'cross_entropy', argument: 'input', expected: 'logits of shape [N, C], [N, C, d1, ...] or [C]', got: '[] (a 0-d tensor)' });
    expectError(() => crossEntropy(x, t, { classWeight: fl([1, 2, 3], [3], dev) }), ShapeError, { op: 'cross_entropy', argument: 'classWeight', expected: 'one weight per class: shape [4]', got: '[3]' });
    expectError(() => crossEntropy(x, t, { labelSmoothing: 1.5 }), ValueError, { op: 'cross_entropy', argument: 'labelSmoothing', expected: 'a number in [0, 1]', got: '1.5' });
    expectError(() => crossEntropy(x, t, { ignoreIndex: 0.5 }), ValueError, { op: 'cross_entropy', argument: 'ignoreIndex', expected: 'an integer', got: '0.5' });
  });

  it('l1Loss, smoothL1Loss, huberLoss', () => {
    expectError(() => l1Loss(x, soft.reshape([12])), ShapeError, { op: 'l1_loss', argument: 'target', expected: "the input's shape [3, 4]", got: '[12]' });
    expectError(() => smoothL1Loss(x, soft, { beta: -1 }), ValueError, { op: 'smooth_l1_loss', argument: 'beta', expected: 'a finite number >= 0', got: '-1' });
    expectError(() => huberLoss(x, soft, { delta: 0 }), ValueError, { op: 'huber_loss', argument: 'delta', expected: 'a finite number > 0', got: '0' });
    expectError(() => huberLoss(x, ix(new Array<number>(12).fill(0), dev).reshape([3, 4])), DTypeError, { op: 'huber_loss', argument: 'target', expected: 'a floating-point tensor', got: 'int64' });
    expectError(() => l1Loss(x, soft, { weight: fl([1, 2, 3], [3], dev) }), ShapeError, { op: 'l1_loss', argument: 'weight', expected: "a shape broadcastable to the loss's shape [3, 4]", got: '[3]' });
  });

  it('giouLoss', () => {
    expectError(() => giouLoss(x.narrow(1, 0, 3), soft.narrow(1, 0, 3)), ShapeError, { op: 'giou_loss', argument: 'boxes1', expected: 'boxes of shape [N, 4] (or [..., 4]): x1, y1, x2, y2', got: '[3, 3]' });
    expectError(() => giouLoss(x, soft.narrow(0, 0, 2)), ShapeError, { op: 'giou_loss', argument: 'boxes2', expected: "boxes1's shape [3, 4]", got: '[2, 4]' });
    expectError(() => giouLoss(x, soft, { eps: -1 }), ValueError, { op: 'giou_loss', argument: 'eps', expected: 'a finite number >= 0', got: '-1' });
    expectError(() => giouLoss(x, soft, { weight: fl([1, 2], [2], dev) }), ShapeError, { op: 'giou_loss', argument: 'weight', expected: "a shape broadcastable to the loss's shape [3]", got: '[2]' });
  });

  it('softmaxFocalLoss', () => {
    expectError(() => softmaxFocalLoss(x, ix([0, 1, 2, 3], dev)), ShapeError, { op: 'softmax_focal_loss', argument: 'target', expected: 'class indices of shape [3] (input is [3, 4])', got: '[4]' });
    expectError(() => softmaxFocalLoss(x.reshape([12]), ix([0], dev)), ShapeError, { op: 'softmax_focal_loss', argument: 'input', expected: 'logits of shape [N, C]', got: '[12]' });
    expectError(() => softmaxFocalLoss(x, t, { gamma: -1 }), ValueError, { op: 'softmax_focal_loss', argument: 'gamma', expected: 'a finite number >= 0', got: '-1' });
    expectError(() => softmaxFocalLoss(x, t, { alpha: 2 }), ValueError, { op: 'softmax_focal_loss', argument: 'alpha', expected: 'a number <= 1 (negative disables the weighting)', got: '2' });
    expectError(() => softmaxFocalLoss(x, t, { classWeight: fl([1, 2], [2], dev) }), ShapeError, { op: 'softmax_focal_loss', argument: 'classWeight', expected: 'one weight per class: shape [4]', got: '[2]' });
    expectError(() => softmaxFocalLoss(x, t, { reduction: 'none', avgFactor: 3 }), ValueError, { op: 'softmax_focal_loss', argument: 'avgFactor', expected: "reduction 'mean' (avgFactor replaces the mean's divisor)", got: "reduction 'none'" });
  });

  it('qualityFocalLoss', () => {
    const score = fl([0.5, 0.2, 0.9], [3], dev);
    expectError(() => qualityFocalLoss(x, [t, fl([0.5, 0.2], [2], dev)]), ShapeError, { op: 'quality_focal_loss', argument: 'score', expected: "one quality score per row of 'pred': [3]", got: '[2]' });
    expectError(() => qualityFocalLoss(x, [ix([0, 1], dev), score]), ShapeError, { op: 'quality_focal_loss', argument: 'label', expected: "one label per row of 'pred': [3]", got: '[2]' });
    expectError(() => qualityFocalLoss(x, [score, score]), DTypeError, { op: 'quality_focal_loss', argument: 'label', expected: 'int32 or int64 class indices (0..C-1 foreground, C background)', got: 'float32' });
    expectError(() => qualityFocalLoss(x, [t, t]), DTypeError, { op: 'quality_focal_loss', argument: 'score', expected: 'a floating-point tensor', got: 'int64' });
    expectError(() => qualityFocalLoss(x, [t] as unknown as [Tensor, Tensor]), ShapeError, { op: 'quality_focal_loss', argument: 'target', expected: 'a pair [label, score]', got: '1 elements' });
    expectError(() => qualityFocalLoss(x, [t, score], { beta: -2 }), ValueError, { op: 'quality_focal_loss', argument: 'beta', expected: 'a finite number >= 0', got: '-2' });
    expectError(() => qualityFocalLoss(x, [t, score], { weight: fl([1, 2, 3, 4], [4], dev) }), ShapeError, { op: 'quality_focal_loss', argument: 'weight', expected: "a shape broadcastable to the loss's shape [3]", got: '[4]' });
  });

  it('distributionFocalLoss', () => {
    expectError(() => distributionFocalLoss(x, fl([0.5, 1], [2], dev)), ShapeError, { op: 'distribution_focal_loss', argument: 'label', expected: "one target per row of 'pred': [3]", got: '[2]' });
    expectError(() => distributionFocalLoss(x, t), DTypeError, { op: 'distribution_focal_loss', argument: 'label', expected: 'a floating-point tensor of continuous targets in [0, n)', got: 'int64' });
    expectError(() => distributionFocalLoss(x.narrow(1, 0, 1), fl([0, 0, 0], [3], dev)), ShapeError, { op: 'distribution_focal_loss', argument: 'pred', expected: 'logits of shape [N, n + 1] with n >= 1', got: '[3, 1]' });
  });

  it('varifocalLoss', () => {
    expectError(() => varifocalLoss(x, soft.narrow(1, 0, 2)), ShapeError, { op: 'varifocal_loss', argument: 'target', expected: "the pred's shape [3, 4]", got: '[3, 2]' });
    expectError(() => varifocalLoss(x, soft, { alpha: 1.5 }), ValueError, { op: 'varifocal_loss', argument: 'alpha', expected: 'a number in [0, 1]', got: '1.5' });
    expectError(() => varifocalLoss(x, soft, { gamma: Number.NaN }), ValueError, { op: 'varifocal_loss', argument: 'gamma', expected: 'a finite number >= 0', got: 'NaN' });
    expectError(() => varifocalLoss(x, soft, { iouWeighted: 'yes' as unknown as boolean }), ValueError, { op: 'varifocal_loss', argument: 'iouWeighted', expected: 'true or false', got: 'yes' });
    expectError(() => varifocalLoss(x, soft, { detachFocalWeight: 1 as unknown as boolean }), ValueError, { op: 'varifocal_loss', argument: 'detachFocalWeight', expected: 'true or false', got: '1' });
    expectError(() => varifocalLoss(x, soft, { weight: fl([1, 2, 3, 4], [4], dev) }), ShapeError, { op: 'varifocal_loss', argument: 'weight', expected: 'per-element weights [3, 4] or per-row weights [3]', got: '[4]' });
  });

  it('class indices out of range: a ValueError (on CUDA at the next synchronisation)', () => {
    // on the CPU the loss throws, naming its argument; on CUDA the kernel reports and the read throws
    const expectIndexError = (f: () => Tensor, arg: string): void => {
      if (dev === 'cpu') expectError(f, ValueError, { argument: arg });
      else expect(() => values(f())).toThrow(ValueError);
    };
    expectIndexError(() => crossEntropy(x, ix([0, 4, 1], dev)), 'target');
    expectIndexError(() => crossEntropy(x, ix([0, -1, 1], dev)), 'target');
    expectIndexError(() => softmaxFocalLoss(x, ix([0, 1, 7], dev)), 'target');
    expectIndexError(() => softmaxFocalLoss(x, ix([0, -100, 1], dev), { ignoreIndex: 2 }), 'target');
    const score = fl([0.5, 0.2, 0.9], [3], dev);
    expectIndexError(() => qualityFocalLoss(x, [ix([0, 5, 1], dev), score]), 'label');
    expectIndexError(() => qualityFocalLoss(x, [ix([0, -1, 1], dev), score]), 'label');
    expectIndexError(() => distributionFocalLoss(x, fl([0.5, 3, 1], [3], dev)), 'label');   // bins 0..3: y must be < 3
    expectIndexError(() => distributionFocalLoss(x, fl([0.5, -0.25, 1], [3], dev)), 'label');
    expectIndexError(() => distributionFocalLoss(x, fl([0.5, NaN, 1], [3], dev)), 'label');     // was a NaN loss
    // labels at the edges are valid: C for QFL's background, just under n for DFL
    expect(Number.isFinite(qualityFocalLoss(x, [ix([4, 4, 0], dev), score]).item())).toBe(true);
    expect(Number.isFinite(distributionFocalLoss(x, fl([0, 2.999, 1], [3], dev)).item())).toBe(true);
  });

  it('tensors on another device', () => {
    if (!cudaAvailable()) return;
    const other: Dev = dev === 'cpu' ? 'cuda' : 'cpu';
    const xo = fl([1, 2, 3, 4], [1, 4], other);
    expectError(() => binaryCrossEntropyWithLogits(x, soft.to(other)), DeviceError, { op: 'binary_cross_entropy_with_logits', argument: 'target' });
    expectError(() => crossEntropy(x, t, { classWeight: xo.reshape([4]) }), DeviceError, { op: 'cross_entropy', argument: 'classWeight' });
    expectError(() => softmaxFocalLoss(x, t.to(other)), DeviceError, { op: 'softmax_focal_loss', argument: 'target' });
    expectError(() => qualityFocalLoss(x, [t, fl([0.5, 0.2, 0.9], [3], other)]), DeviceError, { op: 'quality_focal_loss', argument: 'score' });
    expectError(() => distributionFocalLoss(x, fl([0.5, 0.2, 0.9], [3], other)), DeviceError, { op: 'distribution_focal_loss', argument: 'label' });
    expectError(() => varifocalLoss(x, soft, { weight: soft.to(other) }), DeviceError, { op: 'varifocal_loss', argument: 'weight' });
    expectError(() => giouLoss(x, soft.to(other)), DeviceError, { op: 'giou_loss', argument: 'boxes2' });
    expectError(() => l1Loss(x, soft.to(other)), DeviceError, { op: 'l1_loss', argument: 'target' });
  });
});

forEachDevice('loss family: empty batches and all-ignored rows', (dev) => {
  it('N = 0: none is empty, sum and mean are 0, the gradient is empty', () => {
    for (const C of [5, 4]) {
      for (const [name, f] of everyLoss(dev, 0, C, 'float64')) {
        for (const reduction of REDUCTIONS) {
          const x = zeros([0, C], { dtype: 'float64', device: dev }).requiresGrad_();
          const loss = f(x, reduction);
          if (reduction === 'none') expect(loss.numel, `${name} none`).toBe(0);
          else expect(loss.item(), `${name} ${reduction}`).toBe(0);
          loss.sum().backward();
          expect(x.grad?.shape, `${name} grad`).toEqual([0, C]);
        }
      }
    }
  });

  it('every row ignored: mean 0 with a zero gradient (PyTorch gives NaN)', () => {
    for (const f of [
      (x: Tensor) => crossEntropy(x, ix([-100, -100, -100], dev)),
      (x: Tensor) => crossEntropy(x, ix([1, 1, 1], dev), { classWeight: fl([1, 0, 1, 1, 1], [5], dev, 'float64') }),
      (x: Tensor) => crossEntropy(x, ix([2, 2, 2], dev), { ignoreIndex: 2, labelSmoothing: 0.2 }),
      (x: Tensor) => softmaxFocalLoss(x, ix([-100, -100, -100], dev)),
    ]) {
      const x = fl(randomValues(7, 15, -3, 3), [3, 5], dev, 'float64').requiresGrad_();
      const loss = f(x);
      expect(loss.item()).toBe(0);
      loss.backward();
      expect(values(x.grad!)).toEqual(Array(15).fill(0));
    }
  });
});

forEachDevice('loss family: logits of ±1e4', (dev) => {
  const extremes = [-1e4, -1e3, -100, -88.7, -30, -17, -1, 0, 1e-3, 1, 17, 30, 88.7, 100, 1e3, 1e4];
  const N = 16, C = 5;
  const xs = Array.from({ length: N * C }, (_, i) => extremes[(i * 7 + Math.floor(i / C)) % extremes.length]);

  for (const dtype of ['float32', 'float64'] as const) {
    it(`${dtype}: every logit loss is finite in loss and gradient, every reduction`, () => {
      for (const [name, f] of everyLoss(dev, N, C, dtype)) {
        for (const reduction of REDUCTIONS) {
          const x = fl(xs, [N, C], dev, dtype).requiresGrad_();
          const loss = f(x, reduction);
          loss.sum().backward();
          for (const v of [...values(loss), ...values(x.grad!)]) expect(Number.isFinite(v), `${name} ${reduction}: ${v}`).toBe(true);
        }
      }
    });

    it(`${dtype}: softmaxFocalLoss and distributionFocalLoss match float64 references`, () => {
      const tol = (ref: number[]) => (dtype === 'float64' ? { rtol: 1e-10, atol: 1e-13 * maxAbs(ref) } : { rtol: 1e-5, atol: 1e-6 * maxAbs(ref) });
      const rowsOf = (a: number[]) => Array.from({ length: N }, (_, n) => a.slice(n * C, (n + 1) * C));
      // the exact inputs in this dtype, so that the reference sees what the loss sees
      const exact = values(fl(xs, [N, C], dev, dtype));
      for (const gamma of [0, 0.5, 2]) {
        const targets = Array.from({ length: N }, (_, n) => (n * 3) % C);
        const x = fl(xs, [N, C], dev, dtype).requiresGrad_();
        const loss = softmaxFocalLoss(x, ix(targets, dev), { gamma, alpha: 0.25, reduction: 'none' });
        loss.sum().backward();
        const ref = rowsOf(exact).map((row, n) => refSoftmaxFocalRow(row, targets[n], gamma, 0.25));
        expectClose(loss, ref.map((r) => r[0]), { ...tol(ref.map((r) => r[0])), what: `softmax focal loss gamma ${gamma}` });
        const g = ref.flatMap((r) => r[1]);
        expectClose(x.grad!, g, { ...tol(g), what: `softmax focal grad gamma ${gamma}` });
      }
      const labels = Array.from({ length: N }, (_, n) => ((n * 0.37) % (C - 1)));
      const exactLabels = values(fl(labels, [N], dev, dtype));
      const x = fl(xs, [N, C], dev, dtype).requiresGrad_();
      const loss = distributionFocalLoss(x, fl(labels, [N], dev, dtype), { reduction: 'none' });
      loss.sum().backward();
      const ref = rowsOf(exact).map((row, n) => refDistributionFocalRow(row, exactLabels[n]));
      expectClose(loss, ref.map((r) => r[0]), { ...tol(ref.map((r) => r[0])), what: 'dfl loss' });
      const g = ref.flatMap((r) => r[1]);
      expectClose(x.grad!, g, { ...tol(g), what: 'dfl grad' });
    });
  }
});

forEachDevice('loss family: layouts and dtypes', (dev) => {
  it('non-contiguous inputs give the contiguous results (loss and gradient)', () => {
    const N = 7, C = 4;
    for (const [name, f] of everyLoss(dev, N, C, 'float64')) {
      const base = fl(randomValues(8, N * C, -3, 3), [C, N], dev, 'float64');
      const a = base.clone().requiresGrad_(), b = base.clone().requiresGrad_();
      const la = f(a.t(), 'none'), lb = f(b.t().contiguous(), 'none');
      expectClose(la, lb, { rtol: 1e-12, atol: 1e-14, what: `${name} loss` });
      la.sum().backward();
      lb.sum().backward();
      expectClose(a.grad!, b.grad!, { rtol: 1e-12, atol: 1e-14, what: `${name} grad` });
    }
  });

  for (const half of ['float16', 'bfloat16'] as const) {
    it(`${half} inputs are computed in float32 and returned in ${half}`, () => {
      const N = 6, C = 4;
      for (const [name, f] of everyLoss(dev, N, C, 'float32')) {
        const x32 = fl(randomValues(9, N * C, -3, 3), [N, C], dev).to(half).to('float32');
        const expected = f(x32, 'none');
        const xh = x32.to(half).requiresGrad_();
        const loss = f(xh, 'none');
        expect(loss.dtype, name).toBe(half);
        expectClose(loss.to('float32'), expected, { rtol: 1e-2, atol: 1e-2, what: `${name} ${half}` });
        loss.sum().backward();
        expect(xh.grad!.dtype).toBe(half);
      }
    });
  }

  it('crossEntropy: [N, C, d] equals the rows [N d, C]; [C] with a 0-d target equals [1, C]', () => {
    const N = 3, C = 5, d = 4;
    const xs = randomValues(10, N * C * d, -3, 3), ts = [0, 4, 2, -100, 1, 3, 3, 0, 2, 4, -100, 1];
    const classWeight = fl(randomValues(11, C, 0.5, 2), [C], dev, 'float64');
    const x = fl(xs, [N, C, d], dev, 'float64');
    const rows = x.permute(0, 2, 1).reshape([N * d, C]);
    for (const reduction of REDUCTIONS) {
      const opts = { reduction, classWeight, labelSmoothing: 0.1 };
      const a = crossEntropy(x, ix(ts, dev).reshape([N, d]), opts);
      const b = crossEntropy(rows, ix(ts, dev), opts);
      expectClose(a, reduction === 'none' ? b.reshape([N, d]) : b, { rtol: 1e-12, atol: 1e-14, what: reduction });
    }
    const one = fl(xs.slice(0, C), [C], dev, 'float64');
    const u = crossEntropy(one, ix([3], dev).reshape([]), { reduction: 'none' });
    expect(u.shape).toEqual([]);
    expectClose([u.item()], values(crossEntropy(one.reshape([1, C]), ix([3], dev), { reduction: 'none' })), { rtol: 1e-14 });
  });

  it('int32 class indices work as int64 ones', () => {
    const x = fl(randomValues(12, 20, -3, 3), [4, 5], dev, 'float64');
    const t64 = ix([0, 4, 2, 1], dev), t32 = t64.to('int32');
    expectClose(crossEntropy(x, t32), crossEntropy(x, t64), { rtol: 1e-14 });
    expectClose(softmaxFocalLoss(x, t32), softmaxFocalLoss(x, t64), { rtol: 1e-14 });
    expectClose(qualityFocalLoss(x, [t32, fl([0.1, 0.2, 0.3, 0.4], [4], dev, 'float64')]), qualityFocalLoss(x, [t64, fl([0.1, 0.2, 0.3, 0.4], [4], dev, 'float64')]), { rtol: 1e-14 });
  });
});

describe('loss family: defaults', () => {
  it('reductions default to mean, giouLoss to none (torchvision)', () => {
    const x = tensor(randomValues(13, 8, -2, 2), { dtype: 'float64' }).reshape([2, 4]);
    const t = tensor(randomValues(14, 8, 0, 1), { dtype: 'float64' }).reshape([2, 4]);
    expect(binaryCrossEntropyWithLogits(x, t).shape).toEqual([]);
    expect(l1Loss(x, t).item()).toBeCloseTo(l1Loss(x, t, { reduction: 'sum' }).item() / 8, 12);
    const b = tensor([[0, 0, 1, 1], [1, 1, 3, 2]], { dtype: 'float64' });
    expect(giouLoss(b, b.add(0.5)).shape).toEqual([2]);
  });
});

forEachDevice('box losses: one shape of weight fits them all', (dev) => {
  it('giouLoss takes per-box [N], [N, 1] and per-coordinate [N, 4] weights, as smoothL1Loss and l1Loss take [N, 1] and [N, 4]', () => {
    const pred = fl([0, 0, 2, 2, 1, 1, 4, 3, 0, 1, 1, 3, 2, 0, 5, 5, 1, 2, 2, 4], [5, 4], dev, 'float64');
    const gt = fl([0.5, 0, 2, 2.5, 1, 0, 4, 3, 0, 1, 2, 3, 2, 1, 5, 4, 0, 2, 2, 3], [5, 4], dev, 'float64');
    const perBox = randomValues(31, 5, 0.5, 2), perCoord = randomValues(32, 20, 0.5, 2);
    const box = fl(perBox, [5], dev, 'float64'), boxCol = box.reshape([5, 1]), coord = fl(perCoord, [5, 4], dev, 'float64');
    const giou = values(giouLoss(pred, gt));
    // per box: [N] and [N, 1] (and [N, 1] expanded to [N, 4]) weigh each pair alike
    for (const weight of [box, boxCol, boxCol.expand([5, 4])]) {
      expectClose(giouLoss(pred, gt, { weight }), giou.map((l, i) => l * perBox[i]), { rtol: 1e-12, what: `giou weight ${weight.shape}` });
    }
    // per coordinate: averaged over the four, as mmdetection's GIoULoss
    const meanOfRow = (i: number) => (perCoord[4 * i] + perCoord[4 * i + 1] + perCoord[4 * i + 2] + perCoord[4 * i + 3]) / 4;
    expectClose(giouLoss(pred, gt, { weight: coord }), giou.map((l, i) => l * meanOfRow(i)), { rtol: 1e-12 });
    // the same [N, 1] and [N, 4] weights in the coordinate-wise box losses
    for (const loss of [l1Loss, smoothL1Loss]) {
      const plain = values(loss(pred, gt, { reduction: 'none' }));
      expectClose(loss(pred, gt, { reduction: 'none', weight: boxCol }), plain.map((l, k) => l * perBox[Math.floor(k / 4)]), { rtol: 1e-12 });
      expectClose(loss(pred, gt, { reduction: 'none', weight: coord }), plain.map((l, k) => l * perCoord[k]), { rtol: 1e-12 });
    }
    // anything else is a ShapeError naming the weight
    expectError(() => giouLoss(pred, gt, { weight: fl([1, 2], [1, 2], dev) }), ShapeError, { op: 'giou_loss', argument: 'weight', got: '[1, 2]' });
    expectError(() => giouLoss(pred, gt, { weight: fl([1, 2, 3], [3], dev) }), ShapeError, { op: 'giou_loss', argument: 'weight', expected: "a shape broadcastable to the loss's shape [5]", got: '[3]' });
  });
});
