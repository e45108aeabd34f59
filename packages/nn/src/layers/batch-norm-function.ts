/**
 * Batch normalisation with batch statistics (training mode) as one autograd Function with its
 * derivative written out, as PyTorch's native_batch_norm and its backward: composed from mean,
 * var, sub, div, mul and add, the same layer cost four passes over the activations forward and
 * about fifteen backward (each op's own gradient, and the three paths into x summed); here it is
 * two forward and six backward, and one autograd node instead of eight.
 *
 * Forward, per channel c over the n = N·H·W values of x [N, C, H, W]:
 *
 *   mean = Σx / n,   var = Σ(x - mean)² / n   (biased),   invstd = 1 / sqrt(var + eps)
 *   y = x·scale + shift,   scale = w·invstd,   shift = b - mean·scale
 *
 * (w = 1 and b = 0 without affine parameters). Backward, with xhat = (x - mean)·invstd and g the
 * gradient of y:
 *
 *   ∂L/∂b = Σg,   ∂L/∂w = Σ g·xhat = invstd · Σ g·(x - mean)
 *   ∂L/∂x = w·invstd · (g - Σg / n - xhat · Σ(g·xhat) / n)
 *
 * The last follows from y = w·xhat + b: xhat depends on x directly and through mean and invstd;
 * ∂mean/∂x_i = 1/n gives the -Σg/n term, ∂invstd/∂x_i = -invstd³ (x_i - mean)/n the xhat term
 * (the mean's share of that derivative sums to zero, as Σ(x - mean) = 0). Written with
 * k = w·invstd and d = Σ g·(x - mean):
 *
 *   ∂L/∂x = k·g - (k·invstd²·d / n)·(x - mean) - k·Σg / n
 *
 * Σ g·(x - mean) is summed from the centred values, not as Σg·x - mean·Σg, which cancels
 * catastrophically when |mean| is large against the spread.
 *
 * Backward is written with tensor ops, so it is differentiable again (second derivatives, e.g. a
 * gradient penalty): when the pass records a graph (createGraph), mean and invstd are computed
 * again from x inside backward so that the graph holds their dependence on x.
 */
import { type Tensor, mean as meanOf, tidy, variance } from '@kiln/tensor';
import { Function, type FunctionCtx, isGradEnabled } from '@kiln/autograd';

const DIMS = [0, 2, 3];

interface BatchNormCtx extends FunctionCtx<[x: Tensor, weight: Tensor | null, mean: Tensor, invstd: Tensor]> {
  eps: number;
}

/** The batch's mean and 1 / sqrt(var + eps) per channel, [1, C, 1, 1] each (var biased). */
function batchStats(x: Tensor, eps: number): { mean: Tensor; variance: Tensor; invstd: Tensor } {
  const mean = meanOf(x, DIMS, true);
  const v = variance(x, DIMS, { correction: 0, keepdim: true });
  return { mean, variance: v, invstd: v.add(eps).rsqrt() };
}

/**
 * `apply(x, weight, bias, eps)` for x [N, C, H, W] and weight, bias [C] (or null): returns
 * [y, mean, var], y normalised with the batch's statistics, mean and var ([C], var biased) for the
 * running statistics (not differentiable; the caller disposes them).
 */
export class BatchNormTrainFunction extends Function<BatchNormCtx> {
  static override forward(ctx: BatchNormCtx, x: Tensor, weight: Tensor | null, bias: Tensor | null, eps: number): Tensor[] {
    const C = x.shape[1], cshape = [1, C, 1, 1];
    // (in tidy: the per-channel intermediates are freed here, not left to the collector)
    const [y, mean, invstd, batchMean, batchVar] = tidy(() => {
      const stats = batchStats(x, eps);
      const scale = weight ? stats.invstd.mul(weight.view(cshape)) : stats.invstd;
      const shift = bias ? bias.view(cshape).sub(stats.mean.mul(scale)) : stats.mean.mul(scale).neg();
      // the statistics handed out are [C] views: the caller may dispose them, backward keeps `mean`
      return [x.mul(scale).add(shift), stats.mean, stats.invstd, stats.mean.view([C]), stats.variance.view([C])];
    });
    if (ctx.needsInputGrad.some(Boolean)) ctx.saveForBackward(x, weight, mean, invstd);
    else {
      // nothing is recorded (no gradient needed, or noGrad): nothing to keep
      mean.dispose();
      invstd.dispose();
    }
    ctx.eps = eps;
    ctx.markNonDifferentiable(batchMean, batchVar);
    // the statistics get no gradient: backward is not handed zeros for them
    ctx.setMaterializeGrads(false);
    return [y, batchMean, batchVar];
  }

  static override backward(ctx: BatchNormCtx, gradY: Tensor | undefined): [Tensor | null, Tensor | null, Tensor | null] {
    if (gradY === undefined) return [null, null, null];     // only the statistics were used, which get no gradient
    const [x, weight, savedMean, savedInvstd] = ctx.savedTensors;
    const [needX, needW, needB] = ctx.needsInputGrad;
    const C = x.shape[1], n = x.numel / C, cshape = [1, C, 1, 1];
    // recording a graph of this backward: the statistics again, as functions of x
    const { mean, invstd } = isGradEnabled() ? batchStats(x, ctx.eps) : { mean: savedMean, invstd: savedInvstd };
    const centred = x.sub(mean);
    const sumG = gradY.sum(DIMS, true);
    const dot = gradY.mul(centred).sum(DIMS, true);
    const sumGXhat = dot.mul(invstd);                       // Σ g·xhat, the weight's gradient
    let gradX: Tensor | null = null;
    if (needX) {
      const k = weight ? invstd.mul(weight.view(cshape)) : invstd;
      // k·invstd²·d / n = k·invstd·(Σ g·xhat) / n
      const alongCentred = k.mul(invstd).mul(sumGXhat.div(n));
      gradX = gradY.mul(k).sub(centred.mul(alongCentred)).sub(k.mul(sumG.div(n)));
    }
    const gradW = needW ? sumGXhat.reshape([C]) : null;
    const gradB = needB ? sumG.reshape([C]) : null;
    return [gradX, gradW, gradB];
  }
}
