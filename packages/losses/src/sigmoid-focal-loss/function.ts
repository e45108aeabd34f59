/**
 * `SigmoidFocalLossFunction`: the sigmoid focal loss as a Kiln autograd Function. forward checks the
 * arguments, runs the input device's forward kernel and saves (input, target) and the weights;
 * backward (once-differentiable) runs the backward kernel. backward is right for every reduction:
 * an elementwise upstream gradient for 'none', a broadcast scalar for 'mean'/'sum' with the mean's
 * divisor folded in.
 *
 * When the input requires grad and the reduction is 'mean' or 'sum', forward computes the gradient
 * in the same pass over the logits (for an upstream gradient of 1). backward then returns it as is
 * for `loss.backward()` (whose implicit upstream gradient is 1), or scales it by the upstream
 * scalar: one read of the logits for loss and gradient, as Liger-Kernel does for cross-entropy.
 */
import { type Tensor, ValueError } from '@kiln/tensor';
import { Function, type FunctionCtx, isImplicitGradient } from '@kiln/autograd';
import { type FocalArgs, OP, disposeFocalArgs, focalBackward, focalForward, prepareFocal } from './kernels.js';
import type { SigmoidFocalLossOptions } from './options.js';

/** What SigmoidFocalLossFunction's forward keeps for backward: the tensors it read (checked against in-place changes) and its kernels' state. */
export interface SigmoidFocalLossCtx extends FunctionCtx<[input: Tensor, target: Tensor, weight: Tensor | undefined, classWeight: Tensor | undefined]> {
  /** the checked arguments in the kernels' [N, C] form */
  args: FocalArgs;
  /** the non-ignored rows, counted on the device, when the mean divides by them */
  count: Tensor | undefined;
  /** dloss/dinput for an upstream gradient of 1, computed by forward; handed out once by backward */
  fusedGrad: Tensor | undefined;
}

/**
 * The sigmoid focal loss as an autograd Function over fused native kernels (CPU and CUDA):
 * `apply(input, target, options)`, with the formula, the index targets' background class, the
 * reductions and the mean's divisor of {@link sigmoidFocalLoss} (which calls it) and
 * {@link SigmoidFocalLossOptions}. When the input requires grad and the reduction is 'mean' or
 * 'sum', forward computes the gradient in the same pass over the logits and backward hands it out
 * (for `loss.backward()`, whose implicit upstream gradient is 1) or scales it; otherwise backward
 * runs the separate backward kernel. Once-differentiable. See docs/custom-functions.md.
 *
 * @example
 * ```ts
 * const logits = randn([6, 4], { requiresGrad: true });
 * const labels = randint(0, 5, [6]);                  // 0 background, 1..4 class t - 1
 * const loss = SigmoidFocalLossFunction.apply(logits, labels, { gamma: 2, alpha: 0.25, reduction: 'mean' });
 * loss.backward();                                    // logits.grad: the fused gradient
 * ```
 */
export class SigmoidFocalLossFunction extends Function<SigmoidFocalLossCtx> {
  static override readonly onceDifferentiable = true;
  /**
   * float32 in an autocast scope, as PyTorch's binary_cross_entropy_with_logits. The kernels compute
   * in float32 from half inputs already, so the cast changes no arithmetic, only what is stored: a
   * float32 loss (a reduced loss rounded to bfloat16 keeps 8 bits; a float16 one times GradScaler's
   * 2^16 overflows past 65504) and a float32 gradient, which the recorded cast rounds once, back
   * to the logits' dtype. The price is one cast of the [N, C] logits.
   */
  static override readonly autocast = 'float32';

  static override forward(ctx: SigmoidFocalLossCtx, input: Tensor, target: Tensor, options: SigmoidFocalLossOptions | null = {}): Tensor {
    options ??= {};
    // the kernels differentiate with respect to the logits only: a gradient wanted for the targets
    // or the weights is refused here, not left missing (weights) or failing in backward (targets)
    if (ctx.needsInputGrad[1] === true) throw new ValueError(OP, 'target', 'a target that does not require grad (the focal loss is differentiated for its input only: detach() it)', 'a tensor that requires grad');
    const recording = ctx.needsInputGrad.some((n) => n);   // (forward runs without grad mode: this says whether apply records)
    for (const key of ['weight', 'classWeight'] as const) {
      if (recording && options[key]?.requiresGrad === true) throw new ValueError(OP, key, 'weights that do not require grad (the focal loss is differentiated for its input only: detach() them)', 'a tensor that requires grad');
    }
    const args = prepareFocal(input, target, options);
    const fuse = ctx.needsInputGrad[0] === true && args.reduction !== 'none' && options.fusedGrad !== false;
    const given = [input, target, options.weight, options.classWeight];
    const { loss, grad, count } = focalForward(args, fuse, given);
    if (!recording) {
      // nothing will read the context: its casts and the row count go now, not when collected (on
      // CUDA the kernels that read them are queued before; the stream runs them in order)
      disposeFocalArgs(args, given);
      count?.dispose();
      return loss;
    }
    ctx.saveForBackward(input, target, options.weight, options.classWeight);
    ctx.args = args;
    ctx.count = count;
    ctx.fusedGrad = grad;
    return loss;
  }

  static override backward(ctx: SigmoidFocalLossCtx, gradOutput: Tensor): [Tensor | null] {
    // Read for its check only: the getter raises if input or target was modified in place since forward.
    void ctx.savedTensors;
    if (!ctx.needsInputGrad[0]) return [null];
    const fused = ctx.fusedGrad;
    if (fused) {
      // handed out once: a second backward (retainGraph) recomputes with the backward kernel
      ctx.fusedGrad = undefined;
      if (isImplicitGradient(gradOutput)) return [fused];
      const scaled = fused.mul(gradOutput);
      fused.dispose();
      return [scaled];
    }
    return [focalBackward(ctx.args, gradOutput, ctx.count)];
  }
}
