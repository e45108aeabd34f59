// SigmoidFocalLossFunction through the public API: PyTorch fixtures on every device, gradcheck in
// float64, the autograd contract (once-differentiable, saved-tensor versions, retainGraph), and
// the fused gradient path against the backward kernel.
import { describe, expect, it } from 'vitest';
import { AutogradError, DTypeError, ShapeError, ValueError, tensor, type Tensor } from '@kiln/tensor';
import { gradcheck, noGrad } from '@kiln/autograd';
import { expectClose, expectError, forEachDevice, randomValues, testRng } from '@kiln/tensor/testing';
import { sigmoidFocalLoss, SigmoidFocalLoss, SigmoidFocalLossFunction, type SigmoidFocalLossOptions } from '@kiln/losses';
import { loadFixtures, toTensor } from './fixture-cases.js';

const cases = loadFixtures('sigmoid_focal_loss');

function optionsOf(c: (typeof cases)[number], dev: string, dtype: 'float32' | 'float64'): SigmoidFocalLossOptions {
  const o = c.options;
  return {
    gamma: o.gamma as number,
    alpha: o.alpha as number,
    reduction: o.reduction as 'none' | 'sum' | 'mean',
    avgFactor: o.avgFactor as number | undefined,
    // the fixtures' generator (tools/reference) names the background's place 'seed' (first) and 'mmdet' (last)
    backgroundClass: o.convention === 'mmdet' ? 'last' : 'first',
    weight: c.inputs.weight ? toTensor(c.inputs.weight, dev, dtype) : undefined,
    classWeight: c.inputs.classWeight ? toTensor(c.inputs.classWeight, dev, dtype) : undefined,
  };
}

forEachDevice('sigmoidFocalLoss against PyTorch fixtures', (dev) => {
  for (const dtype of ['float64', 'float32'] as const) {
    for (const fused of [true, false]) {
      it(`${dtype}${fused ? '' : ' (backward kernel)'}: ${cases.length} cases`, () => {
        const tol = dtype === 'float64' ? { rtol: 1e-9, atol: 1e-12 } : { rtol: 1e-5, atol: 1e-6 };
        for (const c of cases) {
          const x = toTensor(c.inputs.input, dev, dtype).requiresGrad_();
          const targetDtype = c.options.targetFormat === 'index' ? 'int64' : dtype;
          const t = toTensor(c.inputs.target, dev, targetDtype);
          const loss = sigmoidFocalLoss(x, t, { ...optionsOf(c, dev, dtype), fusedGrad: fused });
          expectClose(loss, c.expected.output.data, { ...tol, what: `${c.name} loss` });
          const go = c.gradOutput ? toTensor(c.gradOutput, dev, dtype) : undefined;
          loss.backward(go);
          const scale = dtype === 'float32' ? Math.max(1e-30, ...c.expected.gradInput.data.map(Math.abs)) : 1;
          expectClose(x.grad!, c.expected.gradInput.data, { rtol: tol.rtol, atol: tol.atol * scale, what: `${c.name} grad` });
        }
      });
    }
  }

  it('an input without classes: targets 0 or negative give 0, a class index is refused', () => {
    const x = tensor([], { dtype: 'float32', device: dev }).reshape([4, 0]);
    expect(sigmoidFocalLoss(x, tensor([0, -1, 0, 0], { dtype: 'int64', device: dev }), { reduction: 'sum' }).item()).toBe(0);
    expectError(() => sigmoidFocalLoss(x, tensor([0, 1, 0, 0], { dtype: 'int64', device: dev })), ValueError, { op: 'sigmoid_focal_loss', argument: 'target', got: '1' });
  });

  it('scales the fused gradient by a non-unit upstream gradient', () => {
    const xs = randomValues(3, 40 * 8, -4, 4);
    const t = tensor(Array.from({ length: 40 }, (_, i) => (i * 7) % 9), { dtype: 'int64', device: dev });
    const a = tensor(xs, { dtype: 'float64', device: dev }).reshape([40, 8]).requiresGrad_();
    const b = tensor(xs, { dtype: 'float64', device: dev }).reshape([40, 8]).requiresGrad_();
    sigmoidFocalLoss(a, t).mul(3).backward();
    sigmoidFocalLoss(b, t, { fusedGrad: false }).backward(tensor(3, { dtype: 'float64', device: dev }));
    expectClose(a.grad!, b.grad!, { rtol: 1e-12 });
  });

  it('accumulates over two backward passes with retainGraph', () => {
    const x = tensor(randomValues(4, 6 * 5), { dtype: 'float64', device: dev }).reshape([6, 5]).requiresGrad_();
    const t = tensor([0, 1, 2, 3, 4, 5], { dtype: 'int64', device: dev });
    const loss = sigmoidFocalLoss(x, t, { reduction: 'sum' });
    loss.backward(undefined, { retainGraph: true });
    const first = x.grad!.toTypedArray();
    loss.backward();
    expectClose(x.grad!, Array.from(first as Float64Array, (v) => 2 * v), { rtol: 1e-12 });
  });

  it('errors when the input was modified in place between forward and backward', () => {
    const x = tensor(randomValues(5, 12), { dtype: 'float64', device: dev }).reshape([3, 4]).requiresGrad_();
    const y = x.mul(1);
    const loss = sigmoidFocalLoss(y, tensor([1, 0, 2], { dtype: 'int64', device: dev }));
    y.add_(1);
    expectError(() => loss.backward(), AutogradError, { op: 'SigmoidFocalLossFunctionBackward', argument: 'saved tensor 0', expected: 'version 0', got: 'version 1' });
    expect(() => sigmoidFocalLoss(x.mul(1), tensor([1, 0, 2], { dtype: 'int64', device: dev })).backward()).not.toThrow();
  });

  it('refuses a second derivative (once-differentiable)', () => {
    const x = tensor(randomValues(6, 8), { dtype: 'float64', device: dev }).reshape([2, 4]).requiresGrad_();
    const loss = sigmoidFocalLoss(x, tensor([1, 3], { dtype: 'int64', device: dev }));
    loss.backward(undefined, { createGraph: true });
    expectError(() => x.grad!.sum().backward(), AutogradError, { op: 'SigmoidFocalLossFunction', message: /SigmoidFocalLossFunction/ });
  });

  it('refuses, at the call, a target or weights that require grad (it differentiates for the input only); works without grad', () => {
    const x = tensor(randomValues(7, 8), { dtype: 'float32', device: dev }).reshape([2, 4]);
    const t = tensor(randomValues(8, 8, 0, 1), { dtype: 'float32', device: dev }).reshape([2, 4]).requiresGrad_();
    expectError(() => sigmoidFocalLoss(x.requiresGrad_(false), t), ValueError, { op: 'sigmoid_focal_loss', argument: 'target', got: 'a tensor that requires grad' });
    // weights come in the options, which autograd does not see: refused while the call records a graph
    const w = tensor([1, 2], { dtype: 'float32', device: dev }).requiresGrad_();
    const xg = x.detach().requiresGrad_();
    expectError(() => sigmoidFocalLoss(xg, t.detach(), { weight: w }), ValueError, { op: 'sigmoid_focal_loss', argument: 'weight' });
    expectError(() => sigmoidFocalLoss(xg, t.detach(), { classWeight: tensor([1, 1, 1, 1], { dtype: 'float32', device: dev }).requiresGrad_() }), ValueError, { argument: 'classWeight' });
    expect(noGrad(() => sigmoidFocalLoss(xg, t, { weight: w }).requiresGrad)).toBe(false);   // no graph: nothing to refuse
    expect(sigmoidFocalLoss(x, t.detach(), null).item()).toBeCloseTo(Number(sigmoidFocalLoss(x, t.detach()).item()), 6);   // null options: the defaults
    const none = sigmoidFocalLoss(x, t.detach());
    expect(none.requiresGrad).toBe(false);
    expect(new SigmoidFocalLoss({ reduction: 'sum' }).forward(x, t.detach()).item()).toBeCloseTo(
      Number(sigmoidFocalLoss(x, t.detach(), { reduction: 'sum' }).item()), 6);
  });
});

describe('SigmoidFocalLoss (module form)', () => {
  it('checks its options at construction, with the functional form\'s errors naming the class', () => {
    const bad: [SigmoidFocalLossOptions, string][] = [
      [{ gamma: -1 }, 'gamma'], [{ gamma: NaN }, 'gamma'], [{ alpha: 1.5 }, 'alpha'],
      [{ reduction: 'avg' as never }, 'reduction'], [{ reduction: 'sum', avgFactor: 2 }, 'avgFactor'],
      [{ avgFactor: 0 }, 'avgFactor'], [{ backgroundClass: 'middle' as never }, 'backgroundClass'],
      [{ fusedGrad: 1 as never }, 'fusedGrad'],
    ];
    for (const [options, arg] of bad) {
      expectError(() => new SigmoidFocalLoss(options), ValueError, { op: 'SigmoidFocalLoss', argument: arg });
      // the functional form refuses the same option, naming the op
      const x = tensor([[0.5, -0.5]], { dtype: 'float32' });
      expectError(() => sigmoidFocalLoss(x, tensor([1], { dtype: 'int64' }), options), ValueError, { op: 'sigmoid_focal_loss', argument: arg });
    }
    expectError(() => new SigmoidFocalLoss({ classWeight: tensor([1, 2], { dtype: 'int64' }) }), DTypeError, { op: 'SigmoidFocalLoss', argument: 'classWeight', expected: 'a floating-point tensor', got: 'int64' });
    expectError(() => new SigmoidFocalLoss({ classWeight: tensor([[1, 2]], { dtype: 'float32' }) }), ShapeError, { op: 'SigmoidFocalLoss', argument: 'classWeight', expected: 'one weight per class: shape [C]', got: '[1, 2]' });
    expectError(() => new SigmoidFocalLoss({ weight: tensor([1, 2], { dtype: 'int32' }) }), DTypeError, { op: 'SigmoidFocalLoss', argument: 'weight', expected: 'a floating-point tensor', got: 'int32' });
  });

  it('keeps a frozen copy of its options: per-call options override them', () => {
    const options: SigmoidFocalLossOptions = { reduction: 'sum', gamma: 1 };
    const criterion = new SigmoidFocalLoss(options);
    options.gamma = 3;
    expect(Object.isFrozen(criterion.options)).toBe(true);
    const x = tensor(randomValues(21, 6, -2, 2), { dtype: 'float64' }).reshape([3, 2]);
    const t = tensor([0, 2, 1], { dtype: 'int64' });
    expectClose(criterion.forward(x, t), sigmoidFocalLoss(x, t, { reduction: 'sum', gamma: 1 }), { rtol: 1e-15 });
    expectClose(criterion.forward(x, t, { gamma: 0, reduction: 'mean' }), sigmoidFocalLoss(x, t, { reduction: 'mean', gamma: 0 }), { rtol: 1e-15 });
  });
});

describe('sigmoidFocalLoss gradcheck (float64, CPU)', () => {
  const N = 5, C = 4;
  const rng = testRng(11);
  const x0 = () => tensor(randomValues(12, N * C, -3, 3), { dtype: 'float64' }).reshape([N, C]).requiresGrad_();
  const idx = tensor(Array.from({ length: N }, () => Math.floor(rng() * (C + 2)) - 1), { dtype: 'int64' });
  const soft = tensor(randomValues(13, N * C, 0.05, 0.95), { dtype: 'float64' }).reshape([N, C]);
  const variants: [string, Tensor, SigmoidFocalLossOptions][] = [];
  for (const reduction of ['none', 'sum', 'mean'] as const) {
    for (const gamma of [0, 1.5, 2]) {
      variants.push([`index ${reduction} gamma ${gamma}`, idx, { reduction, gamma }]);
      variants.push([`soft ${reduction} gamma ${gamma}`, soft, { reduction, gamma, alpha: -1 }]);
    }
  }
  variants.push(['background last, weights, avgFactor', tensor([0, 4, 2, -1, 3], { dtype: 'int64' }), {
    backgroundClass: 'last', avgFactor: 3, weight: tensor(randomValues(14, N, 0.5, 2), { dtype: 'float64' }),
    classWeight: tensor(randomValues(15, C, 0.5, 2), { dtype: 'float64' }),
  }]);
  for (const [name, target, opts] of variants) {
    for (const fusedGrad of [true, false]) {
      it(`${name}${fusedGrad ? '' : ' (backward kernel)'}`, () => {
        expect(gradcheck((x: Tensor) => sigmoidFocalLoss(x, target, { ...opts, fusedGrad }), [x0()], { eps: 1e-6, atol: 1e-7, rtol: 1e-5 })).toBe(true);
      });
    }
  }
  it('non-contiguous input', () => {
    const base = tensor(randomValues(16, N * C, -3, 3), { dtype: 'float64' }).reshape([C, N]).requiresGrad_();
    expect(gradcheck((b: Tensor) => sigmoidFocalLoss(b.t(), idx), [base])).toBe(true);
  });
  it('is a once-differentiable Function', () => {
    expect(SigmoidFocalLossFunction.onceDifferentiable).toBe(true);
  });
});
