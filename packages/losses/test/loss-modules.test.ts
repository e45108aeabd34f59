// The module forms of the composed losses (BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, SmoothL1Loss,
// HuberLoss, GIoULoss, SoftmaxFocalLoss, QualityFocalLoss, DistributionFocalLoss, VarifocalLoss), on
// every device: loss and input gradient equal the functional form's for the constructor's options
// merged with the call's, every option of each case is shown to change the functional result (so a
// module that dropped it would fail), and bad options raise at construction the functional form's
// typed error, naming the class and the argument. The functional forms themselves are checked
// against PyTorch fixtures and float64 references in loss-family*.test.ts.
import { describe, expect, it } from 'vitest';
import { DTypeError, ShapeError, type Tensor, ValueError, tensor } from '@kiln/tensor';
import { expectClose, expectError, forEachDevice, randomValues } from '@kiln/tensor/testing';
import {
  BCEWithLogitsLoss, CrossEntropyLoss, DistributionFocalLoss, GIoULoss, HuberLoss, L1Loss, QualityFocalLoss, SmoothL1Loss,
  SoftmaxFocalLoss, VarifocalLoss, binaryCrossEntropyWithLogits, crossEntropy, distributionFocalLoss, giouLoss, huberLoss,
  l1Loss, qualityFocalLoss, smoothL1Loss, softmaxFocalLoss, varifocalLoss,
} from '@kiln/losses';

type Dev = 'cpu' | 'cuda';
type Opts = Record<string, unknown>;

const fl = (values: number[], shape: number[], dev: Dev): Tensor => tensor(values, { dtype: 'float64', device: dev }).reshape(shape);
const ix = (values: number[], dev: Dev): Tensor => tensor(values, { dtype: 'int64', device: dev });
const values = (t: Tensor): number[] => Array.from(t.toTypedArray() as ArrayLike<number>, Number);

/** A loss's data on one device and the two ways of computing it from the differentiated input x. */
interface Setup {
  /** A fresh leaf input that requires grad. */
  input(): Tensor;
  /** `new Class(ctor).forward(x, ..., call)`. */
  viaModule(x: Tensor, ctor: Opts, call: Opts): Tensor;
  /** The functional form with `options`. */
  viaFunction(x: Tensor, options: Opts): Tensor;
  /** [constructor options, per-call options]: non-default reductions, weights and parameters. */
  cases: [Opts, Opts][];
  /** Tensor options of the wrong dtype or shape: [options, error class, argument]. */
  badTensors: [Opts, new (...a: never[]) => Error, string][];
}

interface Family {
  cls: string;
  construct(options: Opts): unknown;
  setup(dev: Dev): Setup;
  /** Bad scalar options (no tensor needed): [options, argument]; each raises a ValueError. */
  badOptions: [Opts, string][];
}

const rowWeights = (n: number, dev: Dev): Tensor => fl(randomValues(40 + n, n, 0.2, 2), [n], dev);

const FAMILIES: Family[] = [
  {
    cls: 'BCEWithLogitsLoss',
    construct: (o) => new BCEWithLogitsLoss(o),
    setup: (dev) => {
      const target = fl(randomValues(2, 12, 0, 1), [4, 3], dev);
      const posWeight = fl([2.5, 0.5, 1.7], [3], dev);
      return {
        input: () => fl(randomValues(1, 12, -2, 2), [4, 3], dev).requiresGrad_(),
        viaModule: (x, ctor, call) => new BCEWithLogitsLoss(ctor).forward(x, target, call),
        viaFunction: (x, o) => binaryCrossEntropyWithLogits(x, target, o),
        cases: [
          [{ posWeight, reduction: 'sum' }, { weight: fl([0.2, 1.3, 0.7, 2], [4, 1], dev) }],
          [{ weight: fl([0.5, 2, 1.5], [3], dev), reduction: 'sum' }, { reduction: 'none' }],
          [{ posWeight }, { avgFactor: 5 }],
        ],
        badTensors: [
          [{ posWeight: ix([1, 2, 3], dev) }, DTypeError, 'posWeight'],
          [{ weight: ix([1, 2, 3], dev) }, DTypeError, 'weight'],
        ],
      };
    },
    badOptions: [[{ reduction: 'avg' }, 'reduction'], [{ avgFactor: 0 }, 'avgFactor'], [{ avgFactor: 2, reduction: 'sum' }, 'avgFactor']],
  },
  {
    cls: 'CrossEntropyLoss',
    construct: (o) => new CrossEntropyLoss(o),
    setup: (dev) => {
      const target = ix([0, 2, 3, 2, 1, 0], dev);
      const classWeight = fl([0.5, 2, 1, 3], [4], dev);
      return {
        input: () => fl(randomValues(3, 24, -2, 2), [6, 4], dev).requiresGrad_(),
        viaModule: (x, ctor, call) => new CrossEntropyLoss(ctor).forward(x, target, call),
        viaFunction: (x, o) => crossEntropy(x, target, o),
        cases: [
          [{ classWeight, ignoreIndex: 2, labelSmoothing: 0.1, reduction: 'sum' }, {}],
          [{ classWeight, reduction: 'sum' }, { reduction: 'none' }],
          [{ labelSmoothing: 0.2 }, { avgFactor: 2.5 }],
        ],
        badTensors: [
          [{ classWeight: ix([1, 2, 3, 4], dev) }, DTypeError, 'classWeight'],
          [{ classWeight: fl([1, 2, 3, 4], [2, 2], dev) }, ShapeError, 'classWeight'],
        ],
      };
    },
    badOptions: [[{ ignoreIndex: 1.5 }, 'ignoreIndex'], [{ labelSmoothing: 1.5 }, 'labelSmoothing'], [{ reduction: 'max' }, 'reduction']],
  },
  ...([
    ['L1Loss', (o: Opts) => new L1Loss(o), l1Loss, {}, {}],
    ['SmoothL1Loss', (o: Opts) => new SmoothL1Loss(o), smoothL1Loss, { beta: 0.3 }, { beta: 0.5 }],
    ['HuberLoss', (o: Opts) => new HuberLoss(o), huberLoss, { delta: 0.4 }, { delta: 0.3 }],
  ] as const).map(([cls, construct, fn, param, param2]): Family => ({
    cls,
    construct,
    setup: (dev) => {
      const target = fl(randomValues(5, 12, -1, 1), [4, 3], dev);
      const weight = fl([0.5, 2, 1.5], [3], dev);
      return {
        input: () => fl(randomValues(4, 12, -1, 1), [4, 3], dev).requiresGrad_(),
        viaModule: (x, ctor, call) => (construct(ctor)).forward(x, target, call),
        viaFunction: (x, o) => fn(x, target, o),
        cases: [
          [{ ...param, reduction: 'sum' }, { weight }],
          [{ ...param, weight }, { reduction: 'none' }],
          [param2, { avgFactor: 2.5 }],
        ],
        badTensors: [[{ weight: ix([1, 2, 3], dev) }, DTypeError, 'weight']],
      };
    },
    badOptions: [
      [{ reduction: 'avg' }, 'reduction'],
      [{ avgFactor: -1 }, 'avgFactor'],
      ...(cls === 'SmoothL1Loss' ? [[{ beta: -1 }, 'beta'] as [Opts, string]] : []),
      ...(cls === 'HuberLoss' ? [[{ delta: 0 }, 'delta'] as [Opts, string]] : []),
    ],
  })),
  {
    cls: 'GIoULoss',
    construct: (o) => new GIoULoss(o),
    setup: (dev) => {
      // valid corners: x1, y1 in [0, 4), widths and heights in [0.5, 3)
      const boxes = (seed: number): number[] => {
        const corner = randomValues(seed, 10, 0, 4), size = randomValues(seed + 1, 10, 0.5, 3);
        return Array.from({ length: 5 }, (_, i) => [corner[2 * i], corner[2 * i + 1], corner[2 * i] + size[2 * i], corner[2 * i + 1] + size[2 * i + 1]]).flat();
      };
      const boxes2 = fl(boxes(20), [5, 4], dev);
      const weight = rowWeights(5, dev);
      return {
        input: () => fl(boxes(10), [5, 4], dev).requiresGrad_(),
        viaModule: (x, ctor, call) => new GIoULoss(ctor).forward(x, boxes2, call),
        viaFunction: (x, o) => giouLoss(x, boxes2, o),
        cases: [
          [{ eps: 0.5, reduction: 'sum' }, { weight }],
          // (its default reduction is 'none')
          [{ weight, reduction: 'none' }, { reduction: 'sum' }],
          [{ reduction: 'mean' }, { avgFactor: 2 }],
        ],
        badTensors: [[{ weight: ix([1, 2, 3, 4, 5], dev) }, DTypeError, 'weight']],
      };
    },
    // avgFactor with the default reduction, 'none', is an error
    badOptions: [[{ eps: -1 }, 'eps'], [{ avgFactor: 2 }, 'avgFactor']],
  },
  {
    cls: 'SoftmaxFocalLoss',
    construct: (o) => new SoftmaxFocalLoss(o),
    setup: (dev) => {
      const target = ix([0, 2, 3, 2, 1, 0], dev);
      const classWeight = fl([0.5, 2, 1, 3], [4], dev);
      return {
        input: () => fl(randomValues(6, 24, -2, 2), [6, 4], dev).requiresGrad_(),
        viaModule: (x, ctor, call) => new SoftmaxFocalLoss(ctor).forward(x, target, call),
        viaFunction: (x, o) => softmaxFocalLoss(x, target, o),
        cases: [
          [{ gamma: 1.5, alpha: 0.5, classWeight, ignoreIndex: 2, reduction: 'sum' }, {}],
          [{ alpha: -1, reduction: 'sum' }, { reduction: 'none' }],
          [{ gamma: 0.5 }, { avgFactor: 2.5 }],
        ],
        badTensors: [
          [{ classWeight: ix([1, 2, 3, 4], dev) }, DTypeError, 'classWeight'],
          [{ classWeight: fl([1, 2, 3, 4], [4, 1], dev) }, ShapeError, 'classWeight'],
        ],
      };
    },
    badOptions: [[{ gamma: -1 }, 'gamma'], [{ alpha: 2 }, 'alpha'], [{ ignoreIndex: 0.5 }, 'ignoreIndex']],
  },
  {
    cls: 'QualityFocalLoss',
    construct: (o) => new QualityFocalLoss(o),
    setup: (dev) => {
      const label = ix([0, 4, 2, 4, 1, 3], dev);   // 4 = background
      const score = fl(randomValues(8, 6, 0, 1), [6], dev);
      const weight = rowWeights(6, dev);
      return {
        input: () => fl(randomValues(7, 24, -2, 2), [6, 4], dev).requiresGrad_(),
        viaModule: (x, ctor, call) => new QualityFocalLoss(ctor).forward(x, [label, score], call),
        viaFunction: (x, o) => qualityFocalLoss(x, [label, score], o),
        cases: [
          [{ beta: 1, reduction: 'sum' }, { weight }],
          [{ beta: 1.5, weight }, { reduction: 'none' }],
          [{}, { avgFactor: 2.5 }],
        ],
        badTensors: [[{ weight: ix([1, 2, 3, 4, 5, 6], dev) }, DTypeError, 'weight']],
      };
    },
    badOptions: [[{ beta: -1 }, 'beta'], [{ beta: NaN }, 'beta']],
  },
  {
    cls: 'DistributionFocalLoss',
    construct: (o) => new DistributionFocalLoss(o),
    setup: (dev) => {
      const label = fl(randomValues(10, 5, 0, 3.99), [5], dev);   // 5 bins: targets in [0, 4)
      const weight = rowWeights(5, dev);
      return {
        input: () => fl(randomValues(9, 25, -2, 2), [5, 5], dev).requiresGrad_(),
        viaModule: (x, ctor, call) => new DistributionFocalLoss(ctor).forward(x, label, call),
        viaFunction: (x, o) => distributionFocalLoss(x, label, o),
        cases: [
          [{ reduction: 'sum' }, { weight }],
          [{ weight }, { reduction: 'none' }],
          [{}, { avgFactor: 2.5 }],
        ],
        badTensors: [[{ weight: ix([1, 2, 3, 4, 5], dev) }, DTypeError, 'weight']],
      };
    },
    badOptions: [[{ reduction: 'mean ' }, 'reduction'], [{ avgFactor: Infinity }, 'avgFactor']],
  },
  {
    cls: 'VarifocalLoss',
    construct: (o) => new VarifocalLoss(o),
    setup: (dev) => {
      // IoU targets: in (0.6, 1) at the positives, 0 elsewhere
      const target = fl(randomValues(12, 15, 0, 1).map((v) => (v > 0.6 ? v : 0)), [5, 3], dev);
      return {
        input: () => fl(randomValues(11, 15, -2, 2), [5, 3], dev).requiresGrad_(),
        viaModule: (x, ctor, call) => new VarifocalLoss(ctor).forward(x, target, call),
        viaFunction: (x, o) => varifocalLoss(x, target, o),
        cases: [
          // detachFocalWeight changes only the gradient: the cases compare it too
          [{ alpha: 0.5, gamma: 1, iouWeighted: false, detachFocalWeight: false, reduction: 'sum' }, { weight: rowWeights(5, dev) }],
          [{ gamma: 1.5, weight: fl(randomValues(13, 15, 0.2, 2), [5, 3], dev) }, { reduction: 'none' }],
          [{ alpha: 0.3 }, { avgFactor: 2.5 }],
        ],
        badTensors: [[{ weight: ix([1, 2, 3, 4, 5], dev) }, DTypeError, 'weight']],
      };
    },
    badOptions: [[{ alpha: 1.5 }, 'alpha'], [{ gamma: -1 }, 'gamma'], [{ iouWeighted: 'yes' }, 'iouWeighted'], [{ detachFocalWeight: 1 }, 'detachFocalWeight']],
  },
];

/** The loss and the gradient of a fresh input, with a fixed non-uniform upstream gradient of the loss's shape. */
function lossAndGrad(s: Setup, dev: Dev, f: (x: Tensor) => Tensor): { loss: Tensor; grad: Tensor } {
  const x = s.input();
  const loss = f(x);
  const upstream = fl(randomValues(99, loss.numel, 0.5, 1.5), [...loss.shape], dev);
  loss.mul(upstream).sum().backward();
  expect(x.grad, 'the input has a gradient').toBeDefined();
  return { loss: loss.detach(), grad: x.grad! };
}

/** True when a and b differ in shape or in some element by more than rounding. */
function differs(a: Tensor, b: Tensor): boolean {
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) return true;
  const va = values(a), vb = values(b);
  return va.some((v, i) => Math.abs(v - vb[i]) > 1e-9 * (1 + Math.abs(vb[i])));
}

/** A copy of `o` without `key`. */
const without = (o: Opts, key: string): Opts => Object.fromEntries(Object.entries(o).filter(([k]) => k !== key));

const describeCase = ([ctor, call]: [Opts, Opts]): string => {
  const show = (o: Opts) => Object.entries(o).map(([k, v]) => `${k}: ${v instanceof Object && 'shape' in v ? 'tensor' : String(v)}`).join(', ');
  return `new (${show(ctor)}).forward(..., {${show(call)}})`;
};

forEachDevice('loss modules', (dev) => {
  for (const family of FAMILIES) {
    describe(family.cls, () => {
      it('equals the functional form (loss and gradient) for the constructor options merged with the call options', () => {
        const s = family.setup(dev);
        expect(s.cases.length).toBe(3);
        for (const c of s.cases) {
          const [ctor, call] = c;
          const merged = { ...ctor, ...call };
          const viaModule = lossAndGrad(s, dev, (x) => s.viaModule(x, ctor, call));
          const viaFunction = lossAndGrad(s, dev, (x) => s.viaFunction(x, merged));
          // the same ops on the same data: equal up to a (possibly reordered) device reduction
          expectClose(viaModule.loss, viaFunction.loss, { rtol: 1e-12, atol: 1e-14, what: `${describeCase(c)} loss` });
          expectClose(viaModule.grad, viaFunction.grad, { rtol: 1e-12, atol: 1e-14, what: `${describeCase(c)} grad` });
        }
      });

      it("every option of each case changes the functional result (a module that dropped it would fail)", () => {
        const s = family.setup(dev);
        for (const c of s.cases) {
          const merged = { ...c[0], ...c[1] };
          const full = lossAndGrad(s, dev, (x) => s.viaFunction(x, merged));
          for (const key of Object.keys(merged)) {
            // a call the functional form rejects without the option (avgFactor needs reduction
            // 'mean', which is not GIoU's default) also shows the option matters
            let changed: boolean;
            try {
              const dropped = lossAndGrad(s, dev, (x) => s.viaFunction(x, without(merged, key)));
              changed = differs(full.loss, dropped.loss) || differs(full.grad, dropped.grad);
            } catch (e) {
              if (!(e instanceof ValueError)) throw e;
              changed = true;
            }
            expect(changed, `${describeCase(c)}: dropping '${key}'`).toBe(true);
          }
        }
      });

      it('raises the functional form\'s typed error for a bad option at construction, naming the class and the argument', () => {
        const s = family.setup(dev);
        const bad: [Opts, new (...a: never[]) => Error, string][] = [...family.badOptions.map(([o, arg]) => [o, ValueError, arg] as [Opts, typeof ValueError, string]), ...s.badTensors];
        for (const [options, cls, arg] of bad) {
          expectError(() => family.construct(options), cls, { op: family.cls, argument: arg });
          // the functional form rejects the same option with the same error class
          expectError(() => s.viaFunction(s.input(), options), cls, { argument: arg });
        }
        expect(() => family.construct({})).not.toThrow();
        for (const [ctor, call] of s.cases) expect(() => family.construct({ ...ctor, ...call })).not.toThrow();
      });
    });
  }

  it('a module keeps the options it was built with (mutating the caller\'s object changes nothing)', () => {
    const options: Opts = { reduction: 'sum' };
    const criterion = new CrossEntropyLoss(options);
    options.reduction = 'none';
    const loss = criterion.forward(fl(randomValues(3, 8, -2, 2), [2, 4], dev), ix([1, 3], dev));
    expect(loss.shape).toEqual([]);
    expect(Object.isFrozen(criterion.options)).toBe(true);
  });
});
