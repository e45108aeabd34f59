/**
 * Batch normalisation with batch statistics (training mode) as one autograd Function with its
 * derivative written out, as PyTorch's native_batch_norm and its backward: for values of a
 * floating dtype with parameters of the statistics' dtype its own kernels (batch-norm-kernels.ts,
 * batch_norm.h: the statistics with the running statistics' update, then the normalisation
 * forward; the sums, then the input gradient backward),
 * otherwise (parameters of another dtype, or a backward pass that records a graph) the same
 * formulas composed of tensor ops. Composed as autograd sees them (mean, var, sub, div, mul, add),
 * the layer cost four passes over the activations forward and about fifteen backward, eight
 * autograd nodes and a running-statistics update of six more ops; it is one node.
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
 * which is ../norm_common.h's w·rstd·g - (x - mean)·coef1 - coef0 with coef0 = rstd·(w·Σg) / n and
 * coef1 = rstd³·(w·d) / n, the kernels' formula (group normalisation's too).
 *
 * Σ g·(x - mean) is summed from the centred values, not as Σg·x - mean·Σg, which cancels
 * catastrophically when |mean| is large against the spread.
 *
 * The composed backward is differentiable again (second derivatives, e.g. a gradient penalty):
 * when the pass records a graph (createGraph), mean and invstd are computed again from x inside
 * backward so that the graph holds their dependence on x.
 */
import { type DType, type Tensor, ShapeError, ValueError, commonDevice, emptyOn, mean as meanOf, tidy, variance, zeros } from '@kiln/tensor';
import { Function, type FunctionCtx, isGradEnabled, noGrad } from '@kiln/autograd';
import { type RunningStats, batchNormBackward, batchNormForward, kernelsTake } from './batch-norm-kernels.js';
import { checkEps, checkPerChannel, saveForNormBackward } from '../norm-operands.js';

const DIMS = [0, 2, 3];

/** What BatchNormTrainFunction keeps for backward: x, the weight and the batch statistics (saved), eps, and which path forward took. */
export interface BatchNormCtx extends FunctionCtx<[x: Tensor, weight: Tensor | null, mean: Tensor, invstd: Tensor]> {
  /** added to the variance */
  eps: number;
  /** whether forward ran the kernels (backward runs them only then: the saved statistics are theirs) */
  kernels: boolean;
  /** for an empty batch: the dtypes of weight and bias (null when absent), whose gradients are zeros */
  emptyBatch?: [DType | null, DType | null];
}

/** The batch's mean and 1 / sqrt(var + eps) per channel, [1, C, 1, 1] each (var biased). */
function batchStats(x: Tensor, eps: number): { mean: Tensor; variance: Tensor; invstd: Tensor } {
  const mean = meanOf(x, DIMS, true);
  const v = variance(x, DIMS, { correction: 0, keepdim: true });
  return { mean, variance: v, invstd: v.add(eps).rsqrt() };
}

/**
 * `apply(x, weight, bias, eps, running?)` for x [N, C, H, W] and weight, bias [C] (or null): y, x
 * normalised with the batch's statistics; `running`, when given, has its mean and variance updated
 * in place with the batch's (the variance made unbiased), as PyTorch's batch_norm in training.
 */
export class BatchNormTrainFunction extends Function<BatchNormCtx> {
  static override forward(ctx: BatchNormCtx, x: Tensor, weight: Tensor | null, bias: Tensor | null, eps = 1e-5, running: RunningStats | null = null): Tensor {
    weight ??= null;   // left out: none
    bias ??= null;
    // the kernels take raw addresses: operands on two devices must be refused here, as the ops do
    commonDevice('BatchNorm2d', ['input', 'weight', 'bias', 'runningMean', 'runningVar'], [x, weight, bias, running?.mean ?? null, running?.variance ?? null]);
    running = checkArguments(x, weight, bias, eps, running);
    if (x.numel === 0) {
      // an empty batch has no statistics (0 / 0): an empty output, and zero gradients for the
      // parameters (PyTorch's too); the running statistics stay as they were
      ctx.emptyBatch = [weight?.dtype ?? null, bias?.dtype ?? null];
      return emptyOn(x.shape, x.dtype, x.device);
    }
    ctx.kernels = kernelsTake(x, weight, bias, running);
    const { y, mean, rstd } = ctx.kernels ? batchNormForward(x, weight, bias, eps, running) : composedForward(x, weight, bias, eps, running);
    saveForNormBackward(ctx, x, weight, mean, rstd);
    ctx.eps = eps;
    return y;
  }

  static override backward(ctx: BatchNormCtx, gradY: Tensor): [Tensor | null, Tensor | null, Tensor | null] {
    if (ctx.emptyBatch) {
      const [needX, needW, needB] = ctx.needsInputGrad, C = gradY.shape[1], [wDtype, bDtype] = ctx.emptyBatch;
      return [
        needX ? emptyOn(gradY.shape, gradY.dtype, gradY.device) : null,
        needW && wDtype ? zeros([C], { dtype: wDtype, device: gradY.device }) : null,
        needB && bDtype ? zeros([C], { dtype: bDtype, device: gradY.device }) : null,
      ];
    }
    const [x, weight, savedMean, savedInvstd] = ctx.savedTensors;
    // recording a graph of this backward (second derivatives): tensor ops, which autograd records
    const recording = isGradEnabled();
    if (!recording && ctx.kernels) return batchNormBackward(gradY, x, weight, savedMean, savedInvstd, ctx.needsInputGrad);
    return composedBackward(gradY, x, weight, recording ? null : { mean: savedMean, invstd: savedInvstd }, ctx.eps, ctx.needsInputGrad);
  }
}

/**
 * x [N, C, H, W], the per-channel operands of C values (what the kernels' raw addresses rely on),
 * eps and the running update's factor, said as the layer's errors. Returns the running statistics
 * to update: none for an empty batch, which leaves them as they were (as PyTorch's).
 */
function checkArguments(x: Tensor, weight: Tensor | null, bias: Tensor | null, eps: number, running: RunningStats | null): RunningStats | null {
  const op = 'BatchNorm2d';
  if (x.ndim !== 4) throw new ShapeError(op, 'input', '4 dimensions [N, C, H, W]', `shape [${x.shape.join(', ')}]`);
  checkPerChannel(op, x, [['weight', weight], ['bias', bias], ['runningMean', running?.mean ?? null], ['runningVar', running?.variance ?? null]]);
  checkEps(op, eps);
  if (running && !(typeof running.factor === 'number' && running.factor >= 0 && running.factor <= 1)) {
    throw new ValueError(op, 'running.factor', 'a number in [0, 1] (the momentum, or 1 / batches seen)', String(running.factor));
  }
  // one value per channel has no spread to normalise by (PyTorch: "Expected more than 1 value per channel when training")
  const count = x.shape[1] > 0 ? x.numel / x.shape[1] : 0;
  if (count === 1) throw new ShapeError(op, 'input', 'more than 1 value per channel to normalise with the batch statistics', `shape [${x.shape.join(', ')}]`);
  return count === 0 ? null : running;
}

/**
 * The forward pass composed of tensor ops: y (in x's dtype, as the kernels give it), mean and
 * invstd ([1, C, 1, 1]); the running statistics updated.
 */
function composedForward(x: Tensor, weight: Tensor | null, bias: Tensor | null, eps: number, running: RunningStats | null): { y: Tensor; mean: Tensor; rstd: Tensor } {
  const C = x.shape[1], cshape = [1, C, 1, 1];
  // (in tidy: the per-channel intermediates are freed here, not left to the collector)
  const [y, mean, rstd] = tidy(() => {
    const stats = batchStats(x, eps);
    const scale = weight ? stats.invstd.mul(weight.view(cshape)) : stats.invstd;
    const shift = bias ? bias.view(cshape).sub(stats.mean.mul(scale)) : stats.mean.mul(scale).neg();
    if (running) updateRunning(running, stats.mean.view([C]), stats.variance.view([C]), x.numel / C);
    const out = x.mul(scale).add(shift);
    return [out.dtype === x.dtype ? out : out.to(x.dtype), stats.mean, stats.invstd];
  });
  return { y, mean, rstd };
}

/** running = (1 - f)·running + f·batch, the batch variance made unbiased (n / (n - 1)): the kernel's update, composed. */
function updateRunning(running: RunningStats, batchMean: Tensor, batchVar: Tensor, count: number): void {
  const f = running.factor;
  noGrad(() => tidy(() => {
    running.mean.mul_(1 - f).add_(batchMean.mul(f).to(running.mean.dtype));
    running.variance.mul_(1 - f).add_(batchVar.mul((f * count) / (count - 1)).to(running.variance.dtype));
  }));
}

/**
 * The backward pass composed of tensor ops: differentiable again when a graph is recorded, with
 * the statistics recomputed from x (`saved` null); with the forward's statistics otherwise.
 */
function composedBackward(gradY: Tensor, x: Tensor, weight: Tensor | null, saved: { mean: Tensor; invstd: Tensor } | null, eps: number,
  [needX, needW, needB]: readonly boolean[]): [Tensor | null, Tensor | null, Tensor | null] {
  const C = x.shape[1], n = x.numel / C, cshape = [1, C, 1, 1];
  // the saved statistics are [C] from the kernels, [1, C, 1, 1] from the composed forward
  const { mean, invstd } = saved ? { mean: saved.mean.view(cshape), invstd: saved.invstd.view(cshape) } : batchStats(x, eps);
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
    // (half values with float32 parameters promote: the gradient of x is in x's dtype)
    if (gradX.dtype !== x.dtype) gradX = gradX.to(x.dtype);
  }
  const gradW = needW ? sumGXhat.reshape([C]) : null;
  const gradB = needB ? sumG.reshape([C]) : null;
  return [gradX, gradW, gradB];
}
