import { expect, it } from 'vitest';
import { AutogradError, DeviceError, DisposedError, ShapeError, type Tensor, memoryStats, onesLike, tensor, tidy, zeros, ValueError } from '@kiln/tensor';
import { expectClose, forEachDevice, expectError, settleMemoryBeforeEach } from '@kiln/tensor/testing';
import {
  backward, enableGrad, enableGradScope, grad, isGradEnabled, isImplicitGradient, noGrad, noGradScope, zeroGrad,
} from '@kiln/autograd';
import { leaf, leafOf } from './helpers.js';

settleMemoryBeforeEach();

forEachDevice('backward and .grad', (dev) => {
  it('computes the gradient of a scalar loss into the leaves', () => {
    const x = leafOf(dev, [1, 2, 3]);
    const w = leafOf(dev, [0.5, -1, 2]);
    const loss = x.mul(w).add(x.mul(x)).sum();
    loss.backward();
    expectClose(x.grad!, [0.5 + 2, -1 + 4, 2 + 6]);
    expectClose(w.grad!, [1, 2, 3]);
    expect(loss.gradFn!.name).toBe('SumBackward');
    expect(x.isLeaf && !loss.isLeaf).toBe(true);
  });

  it('accumulates into .grad across backward calls until zeroed', () => {
    const x = leafOf(dev, [1, 2]);
    x.mul(3).sum().backward();
    x.mul(x).sum().backward();
    expectClose(x.grad!, [3 + 2, 3 + 4]);
    x.grad = null;
    x.mul(x).sum().backward();
    expectClose(x.grad!, [2, 4]);
    noGrad(() => x.grad!.zero_());
    x.sum().backward();
    expectClose(x.grad!, [1, 1]);
  });

  it('sums gradients of a tensor used several times, and of x + x', () => {
    const x = leafOf(dev, [1, -2, 3]);
    const y = x.add(x).mul(x); // 2x²: 4x
    y.sum().backward();
    expectClose(x.grad!, [4, -8, 12]);
  });

  it('needs a gradient for non-scalar outputs, with a clear error otherwise', () => {
    const x = leaf(dev, [2, 3]);
    const y = x.mul(2);
    // PyTorch's wording, which users search for
    expectError(() => y.backward(), AutogradError, { op: 'backward', argument: 'grad', message: /^backward: grad can be implicitly created only for scalar outputs, but the tensor has shape \[2, 3\]/ });
    expectError(() => y.backward(zeros([3, 2], { dtype: 'float64', device: dev })), ShapeError, { op: 'backward', argument: 'grad', expected: 'the shape of the tensor it is the gradient of, [2, 3]', got: '[3, 2]' });
    const g = tensor([[1, 2, 3], [4, 5, 6]], { dtype: 'float64', device: dev });
    y.backward(g);
    expectClose(x.grad!, [2, 4, 6, 8, 10, 12]);
    expect(g.toArray()).toEqual([[1, 2, 3], [4, 5, 6]]); // the caller's gradient is untouched
  });

  it('casts a gradient of another dtype, refuses one on another device', () => {
    const x = leafOf(dev, [1, 2]);
    x.mul(2).backward(tensor([1, 1], { dtype: 'float32', device: dev }));
    expect(x.grad!.dtype).toBe('float64');
    expectClose(x.grad!, [2, 2]);
    if (dev === 'cuda') expectError(() => x.mul(2).backward(tensor([1, 1], { dtype: 'float64' })), DeviceError, { op: 'backward', argument: 'grad' });
  });

  it('refuses tensors that do not require grad', () => {
    const x = tensor([1, 2], { dtype: 'float64', device: dev });
    expectError(() => x.sum().backward(), AutogradError, { op: 'backward', message: /does not require grad/ });
  });

  it('refuses a disposed root or one that is not a tensor (its graph would still have run)', () => {
    const x = leafOf(dev, [1, 2]);
    const y = x.mul(2).sum();
    y.dispose();
    expectError(() => y.backward(), DisposedError, { op: 'backward' });
    expectError(() => backward([x.sum(), y]), DisposedError, { op: 'backward' });
    expectError(() => grad(y, x), DisposedError, { op: 'grad' });
    expect(x.grad).toBeNull();
    expectError(() => backward(3 as unknown as Tensor), AutogradError, { op: 'backward', argument: 'tensors', expected: 'a Tensor', got: '3' });
    expectError(() => grad([x.sum(), 'y' as unknown as Tensor], x), AutogradError, { op: 'grad', argument: 'outputs[1]', expected: 'a Tensor', got: '"y"' });
  });

  it('refuses an option it does not know (retain_graph was ignored: the graph was freed)', () => {
    const x = leafOf(dev, [1, 2]);
    expectError(() => backward(x.mul(2).sum(), null, { retain_graph: true } as never), ValueError, { op: 'backward', argument: 'options', expected: 'only the options retainGraph, createGraph', got: '"retain_graph"' });
    expectError(() => grad(x.mul(2).sum(), x, null, { allow_unused: true } as never), ValueError, { op: 'grad', argument: 'options', expected: 'only the options retainGraph, createGraph, allowUnused', got: '"allow_unused"' });
    expect(x.grad).toBeNull();
  });

  it('zeroGrad refuses a single tensor or a non-boolean setToNone (was a TypeError / a truthy string)', () => {
    const x = leafOf(dev, [1, 2]);
    expectError(() => zeroGrad(x as never), ValueError, { op: 'zeroGrad', argument: 'tensors', expected: 'an iterable of tensors (an array, module.parameters())', got: 'a Tensor' });
    expectError(() => zeroGrad([x], 'no' as never), ValueError, { op: 'zeroGrad', argument: 'setToNone', expected: 'true or false', got: '"no"' });
  });

  it('a leaf root gets its gradient directly', () => {
    const x = leafOf(dev, [5]);
    x.backward();
    expectClose(x.grad!, [1]);
  });

  it('treats a one-element non-0-d output as a scalar', () => {
    const x = leafOf(dev, [2, 3]);
    x.mul(x).sum([0], true).backward();
    expectClose(x.grad!, [4, 6]);
  });
});

forEachDevice('retainGraph', (dev) => {
  it('a second backward without retainGraph is a clear error', () => {
    const x = leafOf(dev, [1, 2]);
    const y = x.exp().sum();
    y.backward();
    expectError(() => y.backward(), AutogradError, { op: 'ExpBackward', message: /backward through the graph a second time.*ExpBackward.*retainGraph/ });
  });

  it('with retainGraph the graph can be used again (and gradients accumulate)', () => {
    const x = leafOf(dev, [1, 2]);
    const y = x.exp().sum();
    y.backward(null, { retainGraph: true });
    y.backward();
    expectClose(x.grad!, [2 * Math.exp(1), 2 * Math.exp(2)]);
    expectError(() => y.backward(), AutogradError, { op: 'ExpBackward', message: /second time/ });
  });

  it('takes the options in the gradient\'s place, as the second-pass error tells (backward({ retainGraph: true }))', () => {
    const x = leafOf(dev, [1, 2]);
    const y = x.exp().sum();
    y.backward({ retainGraph: true });
    y.backward();
    expectClose(x.grad!, [2 * Math.exp(1), 2 * Math.exp(2)]);
    const z = x.exp().sum();
    expectError(() => z.backward({ retainGraph: true } as never, { retainGraph: true }), ValueError, { op: 'backward', argument: 'options', got: 'options in both places' });
    expectError(() => z.backward({ retain_graph: true } as never), ValueError, { op: 'backward', argument: 'options' });
  });

  it('frees the saved tensors after the first pass', () => {
    const x = leafOf(dev, [1, 2]);
    const h = x.mul(x);
    const y = h.sum();
    y.backward();
    // the mul node no longer holds its inputs: reading them is the freed-graph error
    expectError(() => grad(h, x, onesLike(h)), AutogradError, { op: 'MulBackward', message: /second time/ });
  });

  it('nodes that saved nothing can be run again (as PyTorch)', () => {
    const x = leafOf(dev, [1, 2]);
    const y = x.add(1).sum();
    y.backward();
    y.backward();
    expectClose(x.grad!, [2, 2]);
  });
});

forEachDevice('grad()', (dev) => {
  it('returns gradients without touching .grad', () => {
    const x = leafOf(dev, [1, 2, 3]);
    const w = leafOf(dev, [4, 5, 6]);
    const y = x.mul(w).sum();
    const [gx, gw] = grad(y, [x, w]);
    expectClose(gx, [4, 5, 6]);
    expectClose(gw, [1, 2, 3]);
    expect(x.grad).toBeNull();
    expect(w.grad).toBeNull();
  });

  it('takes gradients with respect to intermediate tensors, and several outputs', () => {
    const x = leafOf(dev, [1, 2]);
    const h = x.mul(3);
    const y1 = h.mul(h).sum(), y2 = h.sum();
    const [gh] = grad([y1, y2], [h]);
    expectClose(gh, [2 * 3 + 1, 2 * 6 + 1]);
  });

  it('allowUnused gives null; without it an unused input is an error', () => {
    const x = leafOf(dev, [1, 2]);
    const z = leafOf(dev, [3]);
    const y = x.sum();
    expectError(() => grad(y, [x, z], null, { retainGraph: true }), AutogradError, { op: 'grad', argument: 'inputs[1]' });
    const [gx, gz] = grad(y, [x, z], null, { allowUnused: true });
    expectClose(gx!, [1, 1]);
    expect(gz).toBeNull();
  });

  it('an input that does not require grad is an error', () => {
    const x = leafOf(dev, [1, 2]);
    const c = tensor([1, 2], { dtype: 'float64', device: dev });
    expectError(() => grad(x.mul(c).sum(), [c]), AutogradError, { op: 'grad', argument: 'inputs[0]' });
  });

  it('createGraph gives differentiable gradients (double backward)', () => {
    const x = leafOf(dev, [1, 2, -0.5]);
    const y = x.mul(x).mul(x).sum(); // x³
    const [g] = grad(y, x, null, { createGraph: true }); // 3x²
    expect(g.requiresGrad).toBe(true);
    expectClose(g, [3, 12, 0.75]);
    const [gg] = grad(g.sum(), x); // 6x
    expectClose(gg, [6, 12, -3]);
    // backward with createGraph: .grad has history
    const x2 = leafOf(dev, [2]);
    x2.pow(3).sum().backward(null, { createGraph: true });
    expect(x2.grad!.requiresGrad).toBe(true);
    const [h] = grad(x2.grad!.sum(), x2);
    expectClose(h, [12]);
  });
});

forEachDevice('noGrad / enableGrad', (dev) => {
  it('noGrad stops recording; enableGrad turns it back on inside', () => {
    const x = leafOf(dev, [1, 2]);
    const y = noGrad(() => x.mul(2));
    expect(y.requiresGrad).toBe(false);
    expect(y.gradFn).toBeNull();
    const z = noGrad(() => enableGrad(() => x.mul(2)));
    expect(z.requiresGrad).toBe(true);
    expect(isGradEnabled()).toBe(true);
  });

  it('restores the mode when fn throws', () => {
    expect(() => noGrad(() => { throw new Error('boom'); })).toThrow('boom');
    expect(isGradEnabled()).toBe(true);
  });

  it('refuses something that is not a function (a tensor passed by mistake)', () => {
    expectError(() => noGrad(leafOf(dev, [1]) as never), ValueError, { op: 'noGrad', argument: 'fn', expected: 'a function to run' });
    expectError(() => enableGrad(undefined as never), ValueError, { op: 'enableGrad', argument: 'fn', got: 'undefined' });
    expect(isGradEnabled()).toBe(true);
  });

  it('refuses an async fn: the mode would be restored at its first await, while the fn runs on', async () => {
    const x = leafOf(dev, [1, 2]);
    let afterAwait: boolean | null = null;
    expectError(() => noGrad(async () => {
      await Promise.resolve();
      afterAwait = isGradEnabled();
      return x.mul(2);
    }), ValueError, { op: 'noGrad', argument: 'fn', expected: 'a synchronous function (grad mode does not last past an await)', got: 'a function that returned a Promise' });
    expect(isGradEnabled()).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(afterAwait).toBe(true);   // what the refusal spares the caller: recording back on inside "noGrad"
  });

  it('has using forms', () => {
    const x = leafOf(dev, [1, 2]);
    {
      using _ = noGradScope();
      expect(isGradEnabled()).toBe(false);
      expect(x.mul(2).requiresGrad).toBe(false);
      {
        using _e = enableGradScope();
        expect(x.mul(2).requiresGrad).toBe(true);
      }
      expect(isGradEnabled()).toBe(false);
    }
    expect(isGradEnabled()).toBe(true);
  });

  it('allows in-place parameter updates under noGrad only', () => {
    const w = leafOf(dev, [1, 2]);
    w.mul(w).sum().backward();
    expectError(() => w.sub_(w.grad!.mul(0.1)), ValueError, { op: 'sub_', argument: 'self', got: 'a leaf tensor that requires grad' });
    noGrad(() => w.sub_(w.grad!.mul(0.1)));
    expectClose(w, [0.8, 1.6]);
    expect(w.isLeaf && w.requiresGrad).toBe(true);
  });
});

forEachDevice('detach and retainGrad', (dev) => {
  it('detach cuts the history and shares the elements and version', () => {
    const x = leafOf(dev, [1, 2]);
    const y = x.mul(3);
    const d = y.detach();
    expect(d.requiresGrad).toBe(false);
    expect(d.gradFn).toBeNull();
    expect(d.storage).toBe(y.storage);
    const z = y.mul(d).sum(); // d is a constant: dz/dx = 3 d
    z.backward();
    expectClose(x.grad!, [9, 18]);
    noGrad(() => d.add_(1));
    expect(y.version).toBe(d.version);
    expectClose(y, [4, 7]);
  });

  it('detach_ cuts in place', () => {
    const x = leafOf(dev, [1, 2]);
    const y = x.mul(3);
    y.detach_();
    expect(y.requiresGrad).toBe(false);
    expect(y.isLeaf).toBe(true);
  });

  it('retainGrad keeps a non-leaf gradient', () => {
    const x = leafOf(dev, [1, 2]);
    const h = x.mul(2);
    h.retainGrad();
    expect(h.retainsGrad).toBe(true);
    const y = h.mul(h).sum();
    y.backward(null, { retainGraph: true });
    expectClose(h.grad!, [4, 8]);
    y.backward();
    expectClose(h.grad!, [8, 16]);
    expectClose(x.grad!, [16, 32]);
  });
});

forEachDevice('tensor hooks', (dev) => {
  it('see and may replace the gradient of a non-leaf and of a leaf', () => {
    const x = leafOf(dev, [1, 2]);
    const h = x.mul(3);
    const seen: number[][] = [];
    h.registerHook((g) => { seen.push(g.toArray() as number[]); });
    const handle = h.registerHook((g) => g.mul(10));
    h.sum().backward(null, { retainGraph: true });
    expect(seen).toEqual([[1, 1]]);
    expectClose(x.grad!, [30, 30]);
    handle.remove();
    handle.remove();
    x.grad = null;
    h.sum().backward();
    expectClose(x.grad!, [3, 3]);

    const leafHooked = leafOf(dev, [1, 2]);
    const copies: Tensor[] = [];
    leafHooked.registerHook((g) => { copies.push(g.clone()); return g.mul(2); });
    leafHooked.mul(leafHooked).sum().backward();
    expectClose(copies[0], [2, 4]); // a tensor the hook made and kept stays alive
    expectClose(leafHooked.grad!, [4, 8]);
  });

  it('are checked: a wrong shape is an error; tensors without grad refuse hooks', () => {
    const x = leafOf(dev, [1, 2]);
    const h = x.mul(2);
    h.registerHook(() => zeros([3], { dtype: 'float64', device: dev }));
    expectError(() => h.sum().backward(), AutogradError, { op: 'registerHook', argument: 'hook', expected: 'a function returning undefined or a gradient of shape [2]', got: 'a gradient of shape [3]' });
    expectError(() => tensor([1.5]).registerHook(() => undefined), AutogradError, { op: 'registerHook', message: /does not require grad/ });
    // a hook that is not a function is refused when registered, not at the next backward
    expectError(() => x.mul(3).registerHook(3 as never), AutogradError, { op: 'registerHook', argument: 'hook', expected: 'a function', got: '3' });
  });

  it('run in the functional grad too', () => {
    const x = leafOf(dev, [1, 2]);
    x.registerHook((g) => g.mul(-1));
    const [g] = grad(x.mul(2).sum(), x);
    expectClose(g, [-2, -2]);
  });
});

forEachDevice('version counter', (dev) => {
  it('an in-place change to a saved tensor raises the PyTorch error naming the op', () => {
    const x = leafOf(dev, [1, 2]);
    const a = x.exp();
    const b = leafOf(dev, [3, 4]);
    const y = a.mul(b).sum(); // MulBackward saves 'input' (a) and 'other' (b)
    a.add_(1);
    expectError(() => y.backward(), AutogradError, { op: 'MulBackward', argument: "saved tensor 'input'", expected: 'version 0', got: 'version 1' });
    // PyTorch's wording, which users search for
    expectError(() => y.backward(), AutogradError,
      "one of the variables needed for gradient computation has been modified by an inplace operation: saved tensor 'input' of MulBackward is at version 1; expected version 0");
  });

  it('a change through a view is seen too; unchanged graphs are fine', () => {
    const x = leafOf(dev, [1, 2, 3]);
    const a = x.exp();
    const y = a.log().sum(); // LogBackward saves input a
    noGrad(() => a.slice(0, 0, 1).mul_(2));
    expectError(() => y.backward(), AutogradError, { op: 'LogBackward', argument: "saved tensor 'input'", expected: 'version 0', got: 'version 1' });
    const x2 = leafOf(dev, [1, 2]);
    x2.exp().log().sum().backward();
    expectClose(x2.grad!, [1, 1]);
  });

  it('a saved output modified in place is caught', () => {
    const x = leafOf(dev, [0.5, 1]);
    const s = x.sigmoid();
    const y = s.sum();
    noGrad(() => s.mul_(2));
    expectError(() => y.backward(), AutogradError, { op: 'SigmoidBackward', argument: "saved tensor 'output'", expected: 'version 0', got: 'version 1' });
  });
});

forEachDevice('deep graphs', (dev) => {
  it('backpropagates through a chain of 10,000 nodes without recursion', () => {
    const x = leafOf(dev, [1, 2]);
    let y = x;
    for (let i = 0; i < 10_000; i++) y = y.mul(1.0001);
    y.sum().backward();
    const expected = 1.0001 ** 10_000;
    expectClose(x.grad!, [expected, expected], { rtol: 1e-9 });
  });

  it('a wide graph: a sum of 2,000 branches', () => {
    const x = leafOf(dev, [1]);
    let acc: Tensor = x.mul(0);
    for (let i = 0; i < 2000; i++) acc = acc.add(x.mul(i % 3));
    acc.sum().backward();
    let s = 0;
    for (let i = 0; i < 2000; i++) s += i % 3;
    expectClose(x.grad!, [s]);
  });
});

forEachDevice('memory', (dev) => {
  it('training steps in tidy leave nothing behind but the .grad tensors', () => {
    const x = leaf(dev, [64, 32]);
    const w = leaf(dev, [32, 16]);
    const step = () => tidy(() => {
      const loss = x.matmul(w).sigmoid().mul(x.sum(1, true)).logsumexp(1).mean();
      loss.backward();
    });
    step();
    x.grad = null;
    w.grad = null;
    const before = memoryStats(dev).allocated;
    for (let i = 0; i < 20; i++) {
      step();
      noGrad(() => {
        x.grad!.zero_();
        w.grad!.zero_();
      });
    }
    // the two .grad tensors are the only new memory
    expect(memoryStats(dev).allocated - before).toBeLessThanOrEqual(2 * 64 * 32 * 8 + 1024);
  });

  it('keeps the implicit gradient 1 recognisable downstream (isImplicitGradient) through identities', () => {
    const x = leafOf(dev, [1, 2]);
    const seen: boolean[] = [];
    const y = x.mul(2);
    y.registerHook((g) => { seen.push(isImplicitGradient(g)); });
    y.add(3).sub(1).sum().backward(); // add and sub pass the gradient on; sum's is a view of it
    expect(seen).toEqual([true]);
    const z = x.mul(2).sum();
    z.registerHook((g) => { seen.push(isImplicitGradient(g)); });
    z.add(1).backward();
    expect(seen[1]).toBe(true);
    const w = x.mul(2);
    w.registerHook((g) => { seen.push(isImplicitGradient(g)); });
    w.mul(3).sum().backward(); // mul's gradient is a product: no longer the implicit one
    expect(seen[2]).toBe(false);
  });

  it('does not dispose tensors the caller owns (root gradients passed through identities)', () => {
    const x = leafOf(dev, [1, 2]);
    const g = tensor([5, 6], { dtype: 'float64', device: dev });
    x.add(1).backward(g);
    expect(g.isDisposed).toBe(false);
    expectClose(x.grad!, [5, 6]);
    expect(x.grad).not.toBe(g); // cloned: accumulating into x.grad must not change g
    x.add(1).backward(g);
    expect(g.toArray()).toEqual([5, 6]);
  });
});

it('backward() is also a function of lists', () => {
  const x = leafOf('cpu', [1, 2]);
  backward([x.sum(), x.mul(x).sum()]);
  expectClose(x.grad!, [3, 5]);
});

forEachDevice('edge cases', (dev) => {
  it('empty tensors and 0-d tensors get gradients of their shape', () => {
    const e = zeros([0, 3], { dtype: 'float64', device: dev }).requiresGrad_();
    e.exp().sum().backward();
    expect(e.grad!.shape).toEqual([0, 3]);
    const s = leafOf(dev, [2]).reshape([]).detach().requiresGrad_();
    const w = leaf(dev, [3]);
    s.mul(w).sum().backward();
    expect(s.grad!.shape).toEqual([]);
    expectClose(s.grad!, [w.sum().item()]);
  });

  it('half-precision leaves get gradients in their own dtype', () => {
    for (const dtype of ['float16', 'bfloat16'] as const) {
      const x = tensor([0.5, -1, 2], { dtype, device: dev }).requiresGrad_();
      x.mul(x).sigmoid().sum().backward();
      expect(x.grad!.dtype).toBe(dtype);
      const ref = [0.5, -1, 2].map((v) => { const s = 1 / (1 + Math.exp(-v * v)); return s * (1 - s) * 2 * v; });
      expectClose(x.grad!, ref, { rtol: 2e-2, atol: 2e-2 });
    }
  });

  it('mixed dtypes: each input gets its own dtype back', () => {
    const a = tensor([1, 2], { dtype: 'float32', device: dev }).requiresGrad_();
    const b = leafOf(dev, [3, 4]);
    a.mul(b).sum().backward(); // float64 result
    expect(a.grad!.dtype).toBe('float32');
    expect(b.grad!.dtype).toBe('float64');
    expectClose(a.grad!, [3, 4]);
  });

  it('gradients survive a tidy scope around backward; hooks run without grad mode', () => {
    const x = leafOf(dev, [1, 2]);
    let modeInHook: boolean | undefined;
    x.registerHook(() => { modeInHook = isGradEnabled(); });
    tidy(() => {
      x.exp().sum().backward();
    });
    expect(x.grad!.isDisposed).toBe(false);
    expectClose(x.grad!, [Math.exp(1), Math.exp(2)]);
    expect(modeInHook).toBe(false);
  });
});
