import assert from 'node:assert/strict';
import { type Tensor, tensor } from '@kiln/tensor';
import { Function, type FunctionCtx, gradcheck } from '@kiln/autograd';

/** What forward keeps for backward: the saved tensors' types, and any other state as properties. */
interface ScaledSquareCtx extends FunctionCtx<[x: Tensor]> {
  scale: number;
}

/** scale · x², with its gradient 2 · scale · x written by hand. */
class ScaledSquare extends Function<ScaledSquareCtx> {
  static override forward(ctx: ScaledSquareCtx, x: Tensor, scale: number): Tensor {
    ctx.saveForBackward(x);                      // tensors backward needs (checked against in-place changes)
    ctx.scale = scale;                           // other state: a property the ctx type declares
    return x.mul(x).mul(scale);
  }

  static override backward(ctx: ScaledSquareCtx, gradOutput: Tensor): [Tensor | null] {
    // One gradient per argument of apply; `scale` is a number, so its slot may be left out.
    if (!ctx.needsInputGrad[0]) return [null];
    const [x] = ctx.savedTensors;                // typed: [Tensor]
    return [gradOutput.mul(x).mul(2 * ctx.scale)];
  }
}

const x = tensor([1, -2, 3], { dtype: 'float64', requiresGrad: true });
const y = ScaledSquare.apply(x, 0.5);            // recorded: y.gradFn.name === 'ScaledSquareBackward'
assert.equal(y.gradFn?.name, 'ScaledSquareBackward');
y.sum().backward();
assert.deepEqual(x.grad!.toArray(), [1, -2, 3]); // 2 · 0.5 · x

// backward is written with tensor ops, so it is differentiable again; gradcheck compares both
// with finite differences.
assert.equal(gradcheck((t: Tensor) => ScaledSquare.apply(t, 0.5), [x]), true);

// Called on tensors that need no gradient, apply just runs forward: nothing is recorded.
const z = ScaledSquare.apply(tensor([2], { dtype: 'float32' }), 3);
assert.equal(z.gradFn, null);
