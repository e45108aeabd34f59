import { expect, it } from 'vitest';
import { AutogradError, type Tensor, keep, ones, tensor, zeros, zerosLike } from '@kiln/tensor';
import { expectClose, forEachDevice, expectError } from '@kiln/tensor/testing';
import { Function, type FunctionCtx, grad, gradcheck, gradgradcheck, isGradEnabled, isImplicitGradient, noGrad } from '@kiln/autograd';
import { leaf, leafOf } from './helpers.js';

interface ScaledSquareCtx extends FunctionCtx<[x: Tensor]> {
  scale: number;
  gradModeInForward: boolean;
}

/** y = scale · x², with a non-tensor argument, PyTorch style. */
class ScaledSquare extends Function<ScaledSquareCtx> {
  static override forward(ctx: ScaledSquareCtx, x: Tensor, scale: number): Tensor {
    ctx.saveForBackward(x);
    ctx.scale = scale;
    ctx.gradModeInForward = isGradEnabled();
    return x.mul(x).mul(scale);
  }
  static override backward(ctx: ScaledSquareCtx, g: Tensor): Tensor {
    const [x] = ctx.savedTensors;
    return g.mul(x).mul(2 * ctx.scale); // the gradient of `scale` is left out
  }
}

interface WeightedProductCtx extends FunctionCtx<[a: Tensor, b: Tensor]> {
  weight: number;
}

/** a·b with options in an object and a string: gradients for the tensors only, null elsewhere. */
class WeightedProduct extends Function<WeightedProductCtx> {
  static override forward(ctx: WeightedProductCtx, a: Tensor, opts: { weight: number }, b: Tensor, _label: string): Tensor {
    ctx.saveForBackward(a, b);
    ctx.weight = opts.weight;
    return a.mul(b).mul(opts.weight);
  }
  static override backward(ctx: WeightedProductCtx, g: Tensor): (Tensor | null)[] {
    const [a, b] = ctx.savedTensors;
    return [
      ctx.needsInputGrad[0] ? g.mul(b).mul(ctx.weight) : null,
      null,
      ctx.needsInputGrad[2] ? g.mul(a).mul(ctx.weight) : null,
    ];
  }
}

/** A Function with a fused backward that is not itself differentiable. */
class OnceSquare extends Function {
  static override readonly onceDifferentiable = true;
  static override forward(ctx: FunctionCtx, x: Tensor): Tensor {
    ctx.saveForBackward(x);
    return x.mul(x);
  }
  static override backward(ctx: FunctionCtx, g: Tensor): Tensor {
    const [x] = ctx.savedTensors;
    return g.mul(x!).mul(2);
  }
}

it('apply does not compile unless forward and backward take the ctx type that Function<Ctx> declares', () => {
  // (checked by the type checker, npm run typecheck: each @ts-expect-error fails it if no error is there)
  class BackwardUntyped extends Function<ScaledSquareCtx> {
    static override forward(ctx: ScaledSquareCtx, x: Tensor, scale: number): Tensor { return ScaledSquare.forward(ctx, x, scale); }
    static override backward(_ctx: FunctionCtx, g: Tensor): Tensor { return g; }
  }
  class Undeclared extends Function {
    static override forward(ctx: ScaledSquareCtx, x: Tensor, scale: number): Tensor { return ScaledSquare.forward(ctx, x, scale); }
    static override backward(ctx: ScaledSquareCtx, g: Tensor): Tensor { return ScaledSquare.backward(ctx, g); }
  }
  const x = tensor([1, 2], { dtype: 'float64' });
  // @ts-expect-error backward takes FunctionCtx, not the ScaledSquareCtx the class declares
  expect(BackwardUntyped.apply(x, 2).toArray()).toEqual([2, 8]);
  // @ts-expect-error forward takes ScaledSquareCtx, but the class declares none (FunctionCtx)
  expect(Undeclared.apply(x, 2).toArray()).toEqual([2, 8]);
  // and apply takes forward's arguments (not called: the type checker is the test)
  // @ts-expect-error scale is a number
  const wrongArgument = (): Tensor => ScaledSquare.apply(x, 'two');
  expect(typeof wrongArgument).toBe('function');
});

forEachDevice('Function', (dev) => {
  it('runs forward without grad and records one node for backward', () => {
    const x = leafOf(dev, [1, -2, 3]);
    const y = ScaledSquare.apply(x, 1.5);
    expect(y.requiresGrad).toBe(true);
    expect(y.gradFn!.name).toBe('ScaledSquareBackward');
    y.sum().backward();
    expectClose(x.grad!, [3, -6, 9]);
    expect(gradcheck((a: Tensor) => ScaledSquare.apply(a, 0.7), [leaf(dev, [2, 3])])).toBe(true);
  });

  it('passes non-tensor arguments through; backward gives null for them', () => {
    const a = leafOf(dev, [1, 2]);
    const b = tensor([3, 4], { dtype: 'float64', device: dev });
    const y = WeightedProduct.apply(a, { weight: 2 }, b, 'hello');
    y.sum().backward();
    expectClose(a.grad!, [6, 8]);
    expect(y.gradFn).not.toBeNull();
    const b2 = leafOf(dev, [3, 4]);
    expect(gradcheck((p: Tensor, q: Tensor) => WeightedProduct.apply(p, { weight: -1.5 }, q, 'x'), [leaf(dev, [2]), b2])).toBe(true);
  });

  it('ctx.needsInputGrad has one flag per argument of apply', () => {
    let seen: boolean[] = [];
    class Probe extends Function {
      static override forward(ctx: FunctionCtx, a: Tensor, _n: number, b: Tensor): Tensor {
        seen = [...ctx.needsInputGrad];
        return a.add(b);
      }
      static override backward(_ctx: FunctionCtx, g: Tensor): (Tensor | null)[] {
        return [g, null, g];
      }
    }
    Probe.apply(leafOf(dev, [1]), 3, tensor([2], { dtype: 'float64', device: dev }));
    expect(seen).toEqual([true, false, false]);
    noGrad(() => Probe.apply(leafOf(dev, [1]), 3, leafOf(dev, [2])));
    expect(seen).toEqual([false, false, false]);
  });

  it('without any input requiring grad nothing is recorded', () => {
    const y = ScaledSquare.apply(tensor([1, 2], { dtype: 'float64', device: dev }), 2);
    expect(y.requiresGrad).toBe(false);
    expect(y.gradFn).toBeNull();
  });

  it('forward runs with grad mode off', () => {
    let mode: boolean | undefined;
    class Spy extends Function {
      static override forward(_ctx: FunctionCtx, x: Tensor): Tensor {
        mode = isGradEnabled();
        return x.mul(2);
      }
      static override backward(_ctx: FunctionCtx, g: Tensor): Tensor {
        return g.mul(2);
      }
    }
    const y = Spy.apply(leafOf(dev, [1]));
    expect(mode).toBe(false);
    expect(isGradEnabled()).toBe(true);
    // the ops inside forward were not recorded: the only node is the Function's
    expect(y.gradFn!.name).toBe('SpyBackward');
  });

  it('may return several outputs, some non-differentiable, and get undefined or zero gradients', () => {
    const got: (Tensor | undefined)[][] = [];
    interface SplitMaxCtx extends FunctionCtx<[indices: Tensor]> {
      shape: readonly number[];
    }
    class SplitMax extends Function<SplitMaxCtx> {
      static override forward(ctx: SplitMaxCtx, x: Tensor): Tensor[] {
        const { values, indices } = x.max(0);
        const doubled = x.mul(2);
        ctx.markNonDifferentiable(indices);
        ctx.saveForBackward(indices);
        ctx.shape = x.shape;
        return [values, indices, doubled];
      }
      static override backward(ctx: SplitMaxCtx, gValues: Tensor | undefined, _gIdx: Tensor | undefined, gDoubled: Tensor | undefined): Tensor {
        // tensors backward makes (the zeros it received too) are disposed when it returns, as in
        // tidy, unless kept
        got.push([gValues, gDoubled && keep(gDoubled)]);
        const [indices] = ctx.savedTensors;
        const onehot = zeros(ctx.shape, { dtype: 'float64', device: indices.device }).scatter(0, indices.unsqueeze(0), 1);
        let r = zerosLike(onehot);
        if (gValues) r = r.add(onehot.mul(gValues.unsqueeze(0)));
        if (gDoubled) r = r.add(gDoubled.mul(2));
        return r;
      }
    }
    const x = leafOf(dev, [1, 5, 3, 2], [2, 2]);
    const [values, indices, doubled] = SplitMax.apply(x);
    expect(indices.requiresGrad).toBe(false);
    expect(values.requiresGrad && doubled.requiresGrad).toBe(true);
    values.sum().backward();
    expect(got[0][1]).toBeDefined(); // materialised: zeros for `doubled`
    expectClose(got[0][1]!, [0, 0, 0, 0]);
    expectClose(x.grad!, [0, 1, 1, 0]);
    expect(gradcheck((a: Tensor) => { const r = SplitMax.apply(a); return [r[0], r[2]]; }, [leafOf(dev, [1, 5, 3, 2], [2, 2])])).toBe(true);
  });

  it('setMaterializeGrads(false) passes undefined for outputs without a gradient', () => {
    let received: (Tensor | undefined)[] = [];
    class Two extends Function {
      static override forward(ctx: FunctionCtx, x: Tensor): Tensor[] {
        ctx.setMaterializeGrads(false);
        return [x.mul(2), x.mul(3)];
      }
      static override backward(_ctx: FunctionCtx, g0?: Tensor, g1?: Tensor): Tensor {
        received = [g0, g1];
        return g0 ? g0.mul(2) : g1!.mul(3);
      }
    }
    const x = leafOf(dev, [1]);
    const [a] = Two.apply(x);
    a.sum().backward();
    expect(received[0]).toBeDefined();
    expect(received[1]).toBeUndefined();
    expectClose(x.grad!, [2]);
  });

  it('checks saved tensors against in-place changes, naming the Function', () => {
    const x = leafOf(dev, [1, 2]);
    const h = x.mul(1);
    const y = ScaledSquare.apply(h, 2);
    h.add_(1);
    expectError(() => y.sum().backward(), AutogradError, { op: 'ScaledSquareBackward', argument: 'saved tensor 0', expected: 'version 0', got: 'version 1' });
  });

  it('saveForBackward takes tensors only, as PyTorch (a number saved was read back as garbage)', () => {
    class SavesNumber extends Function {
      static override forward(ctx: FunctionCtx, x: Tensor): Tensor {
        (ctx.saveForBackward as (...a: unknown[]) => void)(x, 2);
        return x.mul(2);
      }
      static override backward(_ctx: FunctionCtx, g: Tensor): Tensor { return g.mul(2); }
    }
    expectError(() => SavesNumber.apply(leafOf(dev, [1, 2])), AutogradError, { op: 'SavesNumberBackward.saveForBackward', argument: 'tensors[1]', expected: 'a Tensor, null or undefined (save other values on ctx)', got: '2' });
  });

  it('frees saved tensors after backward; retainGraph keeps them', () => {
    const x = leafOf(dev, [1, 2]);
    const y = ScaledSquare.apply(x, 1).sum();
    y.backward(null, { retainGraph: true });
    y.backward();
    expectClose(x.grad!, [4, 8]);
    expectError(() => y.backward(), AutogradError, { op: 'ScaledSquareBackward', message: /second time.*ScaledSquareBackward/ });
  });

  it('is differentiable twice when backward uses tensor ops', () => {
    expect(gradgradcheck((a: Tensor) => ScaledSquare.apply(a, 1.3), [leaf(dev, [3])])).toBe(true);
  });

  it('a once-differentiable Function: first derivatives work, differentiating its backward is an error naming it', () => {
    const x = leafOf(dev, [1, 2]);
    OnceSquare.apply(x).sum().backward();
    expectClose(x.grad!, [2, 4]);
    expect(gradcheck((a: Tensor) => OnceSquare.apply(a), [leaf(dev, [3])])).toBe(true);
    const x2 = leafOf(dev, [1, 2]);
    const [g] = grad(OnceSquare.apply(x2).sum(), x2, null, { createGraph: true });
    expectError(() => grad(g.sum(), x2), AutogradError, { op: 'OnceSquare' });
    expectError(() => grad(OnceSquare.apply(x2).sum(), x2, null, { createGraph: true })[0].sum().backward(), AutogradError, { op: 'OnceSquare', message: /OnceSquare is once-differentiable/ });
    expectError(() => gradgradcheck((a: Tensor) => OnceSquare.apply(a), [leaf(dev, [2])]), AutogradError, { op: 'OnceSquare', message: /OnceSquare is once-differentiable/ });
  });

  it('returns an input as is: the output is a new tensor with the Function as history', () => {
    class Identity extends Function {
      static override forward(_ctx: FunctionCtx, x: Tensor): Tensor {
        return x;
      }
      static override backward(_ctx: FunctionCtx, g: Tensor): Tensor {
        return g.mul(3); // (deliberately not the identity: shows the Function's backward runs)
      }
    }
    const x = leafOf(dev, [1, 2]);
    const y = Identity.apply(x);
    expect(y).not.toBe(x);
    expect(x.isLeaf).toBe(true);
    y.sum().backward();
    expectClose(x.grad!, [3, 3]);
  });

  it('markDirty: an input modified in place gets the Function as history', () => {
    class AddOneInPlace extends Function {
      static override forward(ctx: FunctionCtx, x: Tensor): Tensor {
        x.add_(1);
        ctx.markDirty(x);
        return x;
      }
      static override backward(_ctx: FunctionCtx, g: Tensor): Tensor {
        return g;
      }
    }
    const a = leafOf(dev, [1, 2]);
    const h = a.mul(2);
    const r = AddOneInPlace.apply(h);
    expect(r).toBe(h);
    expect(h.gradFn!.name).toBe('AddOneInPlaceBackward');
    h.mul(h).sum().backward();
    expectClose(a.grad!, [2 * 2 * 3, 2 * 2 * 5]);
    expectError(() => AddOneInPlace.apply(leafOf(dev, [1])), AutogradError, { op: 'AddOneInPlaceBackward', argument: 'self', message: /leaf tensor that requires grad/ });
  });

  it('checks what backward returns', () => {
    class TooMany extends Function {
      static override forward(_ctx: FunctionCtx, x: Tensor): Tensor { return x.mul(1); }
      static override backward(_ctx: FunctionCtx, g: Tensor): Tensor[] { return [g, g]; }
    }
    expectError(() => TooMany.apply(leafOf(dev, [1])).sum().backward(), AutogradError, { op: 'TooManyBackward', message: /returned 2 gradients, but apply was called with 1 argument/ });
    class TooFew extends Function {
      static override forward(_ctx: FunctionCtx, x: Tensor, y: Tensor): Tensor { return x.mul(y); }
      static override backward(_ctx: FunctionCtx, g: Tensor): Tensor { return g; }
    }
    expectError(() => TooFew.apply(leafOf(dev, [1]), leafOf(dev, [2])).sum().backward(), AutogradError, { op: 'TooFewBackward', message: /argument 1 of apply is a tensor that requires grad/ });
    class ForNumber extends Function {
      static override forward(_ctx: FunctionCtx, x: Tensor, _n: number): Tensor { return x.mul(1); }
      static override backward(_ctx: FunctionCtx, g: Tensor): Tensor[] { return [g, g]; }
    }
    expectError(() => ForNumber.apply(leafOf(dev, [1]), 3).sum().backward(), AutogradError, { op: 'ForNumberBackward', message: /argument 1 of apply is not a tensor/ });
    class WrongShape extends Function {
      static override forward(_ctx: FunctionCtx, x: Tensor): Tensor { return x.mul(1); }
      static override backward(_ctx: FunctionCtx, g: Tensor): Tensor { return g.expand([3, 2]).t(); }
    }
    expectError(() => WrongShape.apply(leafOf(dev, [1, 2])).sum().backward(), AutogradError, { op: 'WrongShapeBackward (gradient 0)', expected: 'a gradient of a shape compatible with [2]', got: 'shape [2, 3]' });
    class NotTensor extends Function {
      static override forward(_ctx: FunctionCtx): Tensor { return 5 as unknown as Tensor; }
      static override backward(_ctx: FunctionCtx): null { return null; }
    }
    expectError(() => NotTensor.apply(), AutogradError, { op: 'NotTensor.forward', expected: 'a Tensor or an array of Tensors as its result', got: '5 as output 0' });
  });

  it('a gradient of the broadcast shape is summed to the input shape', () => {
    class Broadcasting extends Function {
      static override forward(_ctx: FunctionCtx, x: Tensor): Tensor { return x.mul(2); }
      static override backward(_ctx: FunctionCtx, g: Tensor): Tensor { return g.mul(2).expand([3, 2]); }
    }
    const x = leafOf(dev, [1, 2]);
    Broadcasting.apply(x).sum().backward();
    expectClose(x.grad!, [6, 6]);
  });

  it('a gradient computed in forward and released from ctx goes to .grad without a copy', () => {
    interface FusedCtx extends FunctionCtx<[]> {
      fused: Tensor | undefined;
      kept: Tensor;
    }
    class Fused extends Function<FusedCtx> {
      static override forward(ctx: FusedCtx, x: Tensor): Tensor {
        ctx.fused = x.mul(2); // d(x²)/dx, computed with the loss
        ctx.kept = x.mul(3);
        return x.mul(x).sum();
      }
      static override backward(ctx: FusedCtx, g: Tensor): Tensor {
        const fused = ctx.fused!;
        ctx.fused = undefined;
        return isImplicitGradient(g) ? fused : fused.mul(g);
      }
    }
    const x = leafOf(dev, [1, 2]);
    const y = Fused.apply(x);
    const fused = (y.gradFn as unknown as { ctx: FusedCtx }).ctx.fused!;
    y.backward();
    expect(x.grad).toBe(fused);
    expectClose(x.grad!, [2, 4]);
    interface ReturnsKeptCtx extends FunctionCtx<[]> {
      kept: Tensor[];
    }
    class ReturnsKept extends Function<ReturnsKeptCtx> {
      static override forward(ctx: ReturnsKeptCtx, x: Tensor): Tensor {
        ctx.kept = [x.mul(3)];
        return x.mul(3);
      }
      static override backward(ctx: ReturnsKeptCtx): Tensor {
        return ctx.kept[0]; // still held by ctx: the engine must not dispose it
      }
    }
    const x2 = leafOf(dev, [1, 2]);
    const z = ReturnsKept.apply(x2).add(1);
    z.sum().backward(null, { retainGraph: true });
    z.sum().backward();
    expectClose(x2.grad!, [6, 12]); // 2 × (3x), read from the same kept tensor twice
  });

  it('receives the implicit gradient 1 of loss.backward() as such through identities, and no other', () => {
    const seen: boolean[] = [];
    class Loss extends Function<FunctionCtx<[x: Tensor]>> {
      static override forward(ctx: FunctionCtx<[x: Tensor]>, x: Tensor): Tensor {
        ctx.saveForBackward(x);
        return x.mul(x).sum();
      }
      static override backward(ctx: FunctionCtx<[x: Tensor]>, g: Tensor): Tensor {
        seen.push(isImplicitGradient(g));
        const [x] = ctx.savedTensors;
        return seen.at(-1) ? x.mul(2) : x.mul(2).mul(g);
      }
    }
    const x = leafOf(dev, [1, 2]);
    Loss.apply(x).add(0).backward(); // add's gradient is the incoming tensor itself
    expect(seen).toEqual([true]);
    expectClose(x.grad!, [2, 4]);
    // ones the caller passes are an ordinary gradient (only backward()'s own are known without a read)
    x.grad = null;
    Loss.apply(x).backward(ones([], { dtype: 'float64', device: dev }));
    expect(seen).toEqual([true, false]);
    expectClose(x.grad!, [2, 4]);
    // changed in place (by a hook) since backward() made it: no longer known
    x.grad = null;
    const y = Loss.apply(x);
    y.registerHook((g) => { g.mul_(3); });
    y.backward();
    expect(seen).toEqual([true, false, false]);
    expectClose(x.grad!, [6, 12]);
  });
});
