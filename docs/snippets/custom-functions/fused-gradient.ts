import assert from 'node:assert/strict';
import { type Tensor, randn } from '@kiln/tensor';
import { Function, type FunctionCtx, grad, isImplicitGradient } from '@kiln/autograd';

/** Nothing saved; the gradient forward computed, until backward hands it out. */
interface SumOfSquaresCtx extends FunctionCtx<[]> {
  fusedGrad: Tensor | undefined;
}

/**
 * sum(x²) with the fused-gradient design of SigmoidFocalLossFunction in miniature: when x needs a
 * gradient, forward computes it in the same pass (here 2x) for an upstream gradient of 1, and
 * backward hands it out as is for `loss.backward()`, or scales it by any other upstream gradient.
 */
class SumOfSquares extends Function<SumOfSquaresCtx> {
  // backward returns a stored tensor, not a formula of tensor ops: it cannot be differentiated.
  static override readonly onceDifferentiable = true;

  static override forward(ctx: SumOfSquaresCtx, x: Tensor): Tensor {
    ctx.fusedGrad = ctx.needsInputGrad[0] ? x.mul(2) : undefined;
    return x.mul(x).sum();
  }

  static override backward(ctx: SumOfSquaresCtx, gradOutput: Tensor): [Tensor | null] {
    const fused = ctx.fusedGrad!;
    ctx.fusedGrad = undefined;                   // handed out once (a retained graph would recompute)
    // backward() with no gradient starts from ones it made itself: autograd knows them without a device read.
    if (isImplicitGradient(gradOutput)) return [fused];
    const scaled = fused.mul(gradOutput);
    fused.dispose();
    return [scaled];
  }
}

const x = randn([5], { dtype: 'float64', seed: 3 }).requiresGrad_();
SumOfSquares.apply(x).backward();                // the fused gradient is x.grad, no second pass
const twoX = x.mul(2);
assert.ok(x.grad!.sub(twoX).abs().max().item() === 0);

// An upstream gradient other than 1 (the loss times 3): the fused gradient is scaled.
const [g] = grad(SumOfSquares.apply(x).mul(3), x);
assert.ok(g.sub(twoX.mul(3)).abs().max().item() < 1e-12);

// onceDifferentiable: a second derivative through it is an error, raised when it is attempted.
const [first] = grad(SumOfSquares.apply(x), x, null, { createGraph: true });
assert.throws(() => grad(first.sum(), x), /once-differentiable/);
