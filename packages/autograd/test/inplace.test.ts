import { expect, it } from 'vitest';
import { AutogradError, ValueError, tensor, zeros } from '@kiln/tensor';
import { expectClose, forEachDevice, expectError } from '@kiln/tensor/testing';
import { grad, gradcheck, noGrad } from '@kiln/autograd';
import { leaf, leafOf } from './helpers.js';
import type { Tensor } from '@kiln/tensor';

forEachDevice('in-place ops in the graph', (dev) => {
  it('an in-place op on an intermediate takes its place in the graph', () => {
    const x = leafOf(dev, [-1, 2, -3, 4]);
    const y = x.mul(2);
    y.relu_();
    expect(y.gradFn!.name).toBe('ReluBackward');
    y.sum().backward();
    expectClose(x.grad!, [0, 2, 0, 2]);

    const x2 = leafOf(dev, [0.5, 1]);
    const z = x2.sin();
    z.mul_(x2).add_(1).log_(); // log(sin(x)·x + 1): the in-place ops' own derivatives need the old values
    z.sum().backward();
    const d = (v: number) => (Math.cos(v) * v + Math.sin(v)) / (Math.sin(v) * v + 1);
    expectClose(x2.grad!, [d(0.5), d(1)]);
  });

  it('changing the saved output of an earlier op in place is the version error (as PyTorch)', () => {
    const x = leafOf(dev, [0.5, 1]);
    const z = x.exp(); // ExpBackward saves its output z
    z.mul_(3);
    expectError(() => z.sum().backward(), AutogradError, { op: 'ExpBackward', argument: "saved tensor 'output'", expected: 'version 0', got: 'version 1' });
  });

  it('an in-place op on a view rebases the base (CopySlices) and the view', () => {
    const x = leafOf(dev, [1, 2, 3, 4]);
    const a = x.mul(1);
    const v = a.slice(0, 0, 2);
    v.mul_(10);
    expect(a.gradFn!.name).toBe('CopySlices');
    expectClose(a, [10, 20, 3, 4]);
    a.mul(tensor([1, 2, 3, 4], { dtype: 'float64', device: dev })).sum().backward(null, { retainGraph: true });
    expectClose(x.grad!, [10, 20, 3, 4]);
    x.grad = null;
    v.sum().backward(); // the view's own history goes through the rebased base
    expectClose(x.grad!, [10, 10, 0, 0]);
  });

  it('writing a tensor that requires grad into a buffer that does not gives the buffer history', () => {
    const w = leafOf(dev, [5, 6]);
    const buf = zeros([4], { dtype: 'float64', device: dev });
    buf.slice(0, 1, 3).copy_(w.mul(2));
    expect(buf.requiresGrad).toBe(true);
    buf.mul(tensor([1, 2, 3, 4], { dtype: 'float64', device: dev })).sum().backward();
    expectClose(w.grad!, [4, 6]);
  });

  it('copy_ from a leaf, and a strided view of a transposed base', () => {
    const w = leafOf(dev, [1, 2]);
    const t = zeros([2], { dtype: 'float64', device: dev });
    t.copy_(w);
    expect(t.gradFn!.name).toBe('CopyBackwards');
    t.mul(3).sum().backward();
    expectClose(w.grad!, [3, 3]);

    const x = leaf(dev, [3, 4]);
    const base = x.mul(1).t(); // a non-contiguous view [4, 3] of a fresh [3, 4]
    const col = base.select(1, 1); // x[1, :] through the transpose
    col.mul_(2);
    // `base` was made before the in-place op: its history is regenerated when it is used
    base.sum().backward();
    expectClose(x.grad!, [1, 1, 1, 1, 2, 2, 2, 2, 1, 1, 1, 1]);
  });

  it('views made before an in-place op on their base see the change', () => {
    const x = leafOf(dev, [1, 2, 3]);
    const a = x.mul(1);
    const first = a.slice(0, 0, 2);
    a.mul_(x); // a = x², in place on the base
    first.sum().backward();
    expectClose(x.grad!, [2, 4, 0]);
  });

  it('functions with in-place ops on views pass gradcheck', () => {
    const fn = (x: Tensor, y: Tensor) => {
      const a = x.mul(1);
      a.slice(1, 0, 2).mul_(y);
      a.select(0, 1).sigmoid_();
      a.slice(1, 3).copy_(y.slice(1, 0, 1).mul(3));
      return a.exp();
    };
    expect(gradcheck(fn, [leaf(dev, [3, 4]), leaf(dev, [3, 2])])).toBe(true);
    const scatterInPlace = (x: Tensor, s: Tensor) => x.mul(1).scatter_(1, tensor([[0, 2], [1, 0]], { device: dev }), s).mul(x);
    expect(gradcheck(scatterInPlace, [leaf(dev, [2, 3]), leaf(dev, [2, 2])])).toBe(true);
    const masked = (x: Tensor) => x.mul(2).maskedFill_(tensor([true, false, true], { device: dev }), 0.5).mul(x);
    expect(gradcheck(masked, [leaf(dev, [3])])).toBe(true);
  });

  it('refuses leaves that require grad and views of them', () => {
    const x = leafOf(dev, [1, 2]);
    expectError(() => x.add_(1), ValueError, { op: 'add_', argument: 'self', got: 'a leaf tensor that requires grad' });
    expectError(() => x.slice(0, 0, 1).mul_(2), AutogradError, { op: 'MulBackward', argument: 'self', message: /view of a leaf tensor that requires grad/ });
    noGrad(() => x.slice(0, 0, 1).mul_(2)); // fine without recording (a parameter update)
  });

  it('double backward through an in-place op on a view is a clear error', () => {
    const x = leafOf(dev, [1, 2]);
    const a = x.mul(x);
    a.slice(0, 0, 1).mul_(3);
    expectError(() => grad(a.sum(), x, null, { createGraph: true }), AutogradError, { op: 'CopySlices', message: /double backward.*in-place operation on a view/ });
  });
});
