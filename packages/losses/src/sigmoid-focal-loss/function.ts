/**
 * `SigmoidFocalLossFunction`: the seed's PyTorch wrapper, as a Kiln autograd Function. forward saves
 * (input, target) and the weights on the context, keeps gamma, alpha and the reduction on it, and
 * dispatches to the input device's forward kernel; backward (once-differentiable) dispatches to the
 * backward kernel. Unlike the seed's wrapper, backward is right for every reduction: an elementwise
 * upstream gradient for 'none', a broadcast scalar for 'mean'/'sum' with the mean's divisor folded in.
 *
 * When the input requires grad and the reduction is 'mean' or 'sum', forward computes the gradient
 * in the same pass over the logits (for an upstream gradient of 1). backward then returns it as is
 * for `loss.backward()` (its upstream gradient is the constant 1), or scales it by the upstream
 * scalar — one read of the logits for loss and gradient, as Liger-Kernel does for cross-entropy.
 */
import { type Tensor, constantValue } from '@kiln/tensor';
import { Function, type FunctionCtx } from '@kiln/autograd';
import type { Reduction } from '../reduction.js';
import { type FocalArgs, focalBackward, focalForward, prepareFocal } from './kernels.js';
import type { SigmoidFocalLossOptions } from './options.js';

/**
 * The sigmoid focal loss as an autograd Function over fused native kernels (CPU and CUDA):
 * `apply(input, target, gamma = 2, alpha = 0.25, reduction = 'mean', options = {})`, with the
 * formula, target conventions, reductions and the mean's divisor of {@link sigmoidFocalLoss} (which
 * calls it) and {@link SigmoidFocalLossOptions}. When the input requires grad and the reduction is
 * 'mean' or 'sum', forward computes the gradient in the same pass over the logits and backward hands
 * it out (for `loss.backward()`, whose upstream gradient is the constant 1) or scales it; otherwise
 * backward runs the separate backward kernel. Once-differentiable. See docs/custom-functions.md.
 *
 * @example
 * ```ts
 * const logits = randn([6, 4], { requiresGrad: true });
 * const labels = randint(0, 5, [6]);                  // 0 background, 1..4 class t - 1
 * const loss = SigmoidFocalLossFunction.apply(logits, labels, 2, 0.25, 'mean', {});
 * loss.backward();                                    // logits.grad: the fused gradient
 * ```
 */
export class SigmoidFocalLossFunction extends Function {
  static override readonly onceDifferentiable = true;

  static override forward(
    ctx: FunctionCtx,
    input: Tensor,
    target: Tensor,
    gamma = 2,
    alpha = 0.25,
    reduction: Reduction = 'mean',
    options: SigmoidFocalLossOptions = {},
  ): Tensor {
    const args = prepareFocal(input, target, gamma, alpha, reduction, options);
    const fuse = ctx.needsInputGrad[0] === true && args.reduction !== 'none' && options.fusedGrad !== false;
    const { loss, grad, count } = focalForward(args, fuse);
    ctx.saveForBackward(input, target, options.weight, options.classWeight);
    ctx.args = args;
    ctx.count = count;
    ctx.fusedGrad = grad;
    ctx.gamma = args.gamma;
    ctx.alpha = args.alpha;
    ctx.reduction = args.reduction;
    return loss;
  }

  static override backward(ctx: FunctionCtx, gradOutput: Tensor): [Tensor | null] {
    ctx.savedTensors;   // raises if input or target was modified in place since forward
    if (!ctx.needsInputGrad[0]) return [null];
    const args = ctx.args as FocalArgs;
    const fused = ctx.fusedGrad as Tensor | undefined;
    if (fused) {
      // handed out once: a second backward (retainGraph) recomputes with the backward kernel
      ctx.fusedGrad = undefined;
      if (constantValue(gradOutput) === 1) return [fused];
      const scaled = fused.mul(gradOutput);
      fused.dispose();
      return [scaled];
    }
    return [focalBackward(args, gradOutput, ctx.count as Tensor | undefined)];
  }
}
