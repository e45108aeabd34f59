import { expect, it } from 'vitest';
import { AutogradError, DTypeError, type Tensor, ValueError, tensor } from '@kiln/tensor';
import { forEachDevice, expectError } from '@kiln/tensor/testing';
import { Function, type FunctionCtx, checkGradients, gradcheck, gradgradcheck } from '@kiln/autograd';
import { leaf } from './helpers.js';

/** y = x³ with a backward that is wrong for element 2 of the input (3x² + 1 there). */
class WrongAtTwo extends Function {
  static override forward(ctx: FunctionCtx, x: Tensor): Tensor {
    ctx.saveForBackward(x);
    return x.pow(3);
  }
  static override backward(ctx: FunctionCtx, g: Tensor): Tensor {
    const [x] = ctx.savedTensors;
    const bump = tensor([0, 0, 1, 0], { dtype: 'float64', device: x!.device });
    return g.mul(x!.mul(x!).mul(3).add(bump));
  }
}

forEachDevice('gradcheck', (dev) => {
  it('passes correct gradients of several inputs and outputs', () => {
    const fn = (a: Tensor, b: Tensor) => [a.mul(b).sum(1), a.exp().matmul(b.t())];
    expect(gradcheck(fn, [leaf(dev, [2, 3]), leaf(dev, [2, 3])])).toBe(true);
  });

  it('names the input and element that disagree', () => {
    const x = leaf(dev, [4]);
    expectError(() => gradcheck((a: Tensor) => WrongAtTwo.apply(a), [x]), AutogradError, { op: 'gradcheck', message: /input 0 \(shape \[4\]\) element \[2\], output 0 element \[2\]/ });
    const r = checkGradients((c: Tensor, a: Tensor) => WrongAtTwo.apply(a).add(c.sum()), [leaf(dev, [2]), x]);
    expect(r.ok).toBe(false);
    expect(r.mismatches.map((m) => [m.input, m.element])).toEqual([[1, 2]]);
    expect(r.mismatches[0].analytical - r.mismatches[0].numerical).toBeCloseTo(1, 4);
  });

  it('uses random projections for large outputs and still finds the element', () => {
    const x = leaf(dev, [4]);
    const weights = leaf(dev, [100, 4]).detach();
    const big = (a: Tensor) => WrongAtTwo.apply(a).unsqueeze(0).expand([100, 4]).mul(weights);
    const r = checkGradients(big, [x]);
    expect(r.ok).toBe(false);
    expect(new Set(r.mismatches.map((m) => m.element))).toEqual(new Set([2]));
    expect(r.mismatches[0].row).toMatch(/random projection/);
    expect(gradcheck((a: Tensor) => a.sin().unsqueeze(0).expand([100, 4]).mul(weights), [leaf(dev, [4])])).toBe(true);
  });

  it('catches an op that was not recorded (a zero analytical gradient)', () => {
    const r = checkGradients((a: Tensor) => a.detach().mul(2).add(a), [leaf(dev, [3])]);
    expect(r.ok).toBe(false);
    expect(r.mismatches.length).toBe(3);
  });

  it('wants float64 inputs without overlapping elements, and some input that requires grad', () => {
    const f = tensor([1, 2], { dtype: 'float32', device: dev }).requiresGrad_();
    expectError(() => gradcheck((a: Tensor) => a.exp(), [f]), DTypeError, { op: 'gradcheck', argument: 'inputs[0]', got: 'float32' });
    const e = tensor([1, 2], { dtype: 'float64', device: dev }).expand([3, 2]).requiresGrad_();
    expectError(() => gradcheck((a: Tensor) => a.exp(), [e]), AutogradError, { op: 'gradcheck', argument: 'inputs[0]', expected: 'a tensor with distinct elements', got: 'overlapping elements (an expanded view, stride 0)' });
    expectError(() => gradcheck((a: Tensor) => a.exp(), [tensor([1.5], { dtype: 'float64' })]), AutogradError, { op: 'gradcheck', argument: 'inputs' });
  });

  it('checks its function and options (eps 0 divided by zero; a misspelt option was ignored)', () => {
    const x = tensor([1, 2], { dtype: 'float64', device: dev }).requiresGrad_();
    expectError(() => gradcheck(x as never, [x]), ValueError, { op: 'gradcheck', argument: 'fn', expected: 'a function of the inputs', got: 'a Tensor' });
    expectError(() => gradcheck((a: Tensor) => a.exp(), [x], { eps: 0 }), ValueError, { op: 'gradcheck', argument: 'eps', expected: 'a finite number > 0', got: '0' });
    expectError(() => gradcheck((a: Tensor) => a.exp(), [x], { atol: NaN }), ValueError, { op: 'gradcheck', argument: 'atol', got: 'NaN' });
    expectError(() => gradcheck((a: Tensor) => a.exp(), [x], { epsilon: 1e-3 } as never), ValueError, { op: 'gradcheck', argument: 'options', got: '"epsilon"' });
    expectError(() => gradgradcheck((a: Tensor) => a.exp(), [x], undefined, { tol: 1 } as never), ValueError, { op: 'gradgradcheck', argument: 'options', got: '"tol"' });
  });

  it('passes non-tensor arguments through and ignores tensors without grad', () => {
    const c = tensor([1, 2, 3], { dtype: 'float64', device: dev });
    expect(gradcheck((a: Tensor, k: number, b: Tensor) => a.mul(k).mul(b), [leaf(dev, [3]), 2.5, c])).toBe(true);
  });
});
