/**
 * Group normalisation as one autograd Function with its derivative written out, as PyTorch's
 * native_group_norm and its backward: for values of a floating dtype with parameters of the
 * statistics' dtype (float32 for half values, as under autocast) its own kernels
 * (group-norm-kernels.ts, group_norm.h: two launches forward, two backward plus the parameters'
 * small sums), otherwise (half parameters, or a backward pass that records a graph) the same
 * formulas composed of tensor ops. Composed from mean, var, sub, div, mul and add as autograd sees them,
 * the layer took about thirty launches per pass and eight autograd nodes; it is one node.
 *
 * x [N, C, *] is split per sample into G groups of C/G channels; each group's n = (C/G)·S values
 * (S the product of the spatial sizes) are normalised by their own statistics, then each channel c
 * is scaled by w_c and shifted by b_c:
 *
 *   mean = Σx / n,   var = Σ(x - mean)² / n   (biased),   invstd = 1 / sqrt(var + eps)
 *   y = w·(x - mean)·invstd + b = x·scale + shift,   scale = w·invstd,   shift = b - mean·scale
 *
 * with scale and shift per (sample, channel). Backward, for g the gradient of y and xhat =
 * (x - mean)·invstd: the gradient of xhat is g' = w·g, and as for any normalisation over a set of
 * n values (see batch-norm-function.ts for the steps),
 *
 *   ∂L/∂x = invstd · (g' - Σg' / n - xhat · Σ(g'·xhat) / n)          (sums over the group)
 *         = w·invstd·g - invstd·(Σg') / n - (x - mean)·invstd³·(Σ g'·(x - mean)) / n
 *
 * Unlike batch normalisation, w varies inside a group (one group holds several channels), so it
 * stays inside the sums: they are taken per (sample, channel) over the positions first,
 *
 *   s1[n, c] = Σ_positions g,   s2[n, c] = Σ_positions g·(x - mean)
 *
 * and then Σg' = Σ_{c in group} w_c·s1, Σ g'·(x - mean) = Σ_{c in group} w_c·s2 (small tensors).
 * The parameters' gradients are ∂L/∂b_c = Σ_n s1[n, c] and ∂L/∂w_c = Σ_n invstd[n, group(c)]·s2[n, c].
 * The centred values are summed, not Σg·x - mean·Σg, which cancels when |mean| ≫ the spread.
 *
 * As the batch norm's, backward is written with tensor ops and is differentiable again: when the
 * pass records a graph, mean and invstd are recomputed from x inside backward.
 */
import { type Tensor, ShapeError, commonDevice, mean as meanOf, tidy, variance, zeros, zerosLike } from '@kiln/tensor';
import { Function, type FunctionCtx, isGradEnabled } from '@kiln/autograd';
import { groupNormBackward, groupNormForward, kernelsTake } from './group-norm-kernels.js';
import { checkEps, checkPerChannel, saveForNormBackward } from '../norm-operands.js';

/** What GroupNormFunction keeps for backward: x, the weight and the group statistics (saved), the groups, eps, and which path forward took. */
export interface GroupNormCtx extends FunctionCtx<[x: Tensor, weight: Tensor | null, mean: Tensor, rstd: Tensor]> {
  /** the groups the channels are split into */
  groups: number;
  /** added to the variance */
  eps: number;
  /** whether forward ran the kernels (backward runs them only then: the saved statistics are theirs) */
  kernels: boolean;
}

/** x [N, C, *] as [N, G, C/G, S]: a group's values are its channels' positions. */
function grouped(x: Tensor, groups: number): Tensor {
  const [N, C] = x.shape as [number, number];
  return x.reshape([N, groups, C / groups, x.numel / Math.max(1, N * C)]);
}

/** Each group's mean and 1 / sqrt(var + eps), [N, G, 1, 1] each, of x as [N, G, C/G, S]. */
function groupStats(x4: Tensor, eps: number): { mean: Tensor; invstd: Tensor } {
  const mean = meanOf(x4, [2, 3], true);
  const invstd = variance(x4, [2, 3], { correction: 0, keepdim: true }).add(eps).rsqrt();
  return { mean, invstd };
}

/**
 * `apply(x, weight, bias, groups, eps)` for x [N, C, *] (C a multiple of `groups`) and weight,
 * bias [C] (or null): x normalised per sample and group, then scaled and shifted per channel.
 */
export class GroupNormFunction extends Function<GroupNormCtx> {
  static override forward(ctx: GroupNormCtx, x: Tensor, weight: Tensor | null, bias: Tensor | null, groups: number, eps = 1e-5): Tensor {
    weight ??= null;   // left out: none
    bias ??= null;
    // the kernels take raw addresses: operands on two devices must be refused here, as the ops do
    commonDevice('GroupNorm', ['input', 'weight', 'bias'], [x, weight, bias]);
    if (x.ndim < 2 || !Number.isInteger(groups) || groups < 1 || x.shape[1] % groups !== 0) {
      throw new ShapeError('GroupNorm', 'input', `[N, C, ...] with C a multiple of the ${groups} groups`, `shape [${x.shape.join(', ')}]`);
    }
    checkPerChannel('GroupNorm', x, [['weight', weight], ['bias', bias]]);
    checkEps('GroupNorm', eps);
    ctx.kernels = kernelsTake(x, weight, bias);
    const { y, mean, rstd } = ctx.kernels ? groupNormForward(x, weight, bias, groups, eps) : composedForward(x, weight, bias, groups, eps);
    saveForNormBackward(ctx, x, weight, mean, rstd);
    ctx.groups = groups;
    ctx.eps = eps;
    return y;
  }

  static override backward(ctx: GroupNormCtx, gradY: Tensor): [Tensor | null, Tensor | null, Tensor | null] {
    const [x, weight, savedMean, savedRstd] = ctx.savedTensors;
    // recording a graph of this backward (second derivatives): tensor ops, which autograd records
    const recording = isGradEnabled();
    if (!recording && ctx.kernels) return groupNormBackward(gradY, x, weight, savedMean, savedRstd, ctx.groups, ctx.needsInputGrad);
    return composedBackward(gradY, x, weight, recording ? null : { mean: savedMean, rstd: savedRstd }, ctx.groups, ctx.eps, ctx.needsInputGrad);
  }
}

/** The forward pass composed of tensor ops (the dtypes the kernels do not take): y, and mean and rstd [N, G]. */
function composedForward(x: Tensor, weight: Tensor | null, bias: Tensor | null, groups: number, eps: number): { y: Tensor; mean: Tensor; rstd: Tensor } {
  const [N, C] = x.shape as [number, number], perGroup = C / groups;
  // scale and shift per (sample, channel), shaped [N, C, 1, ...] to broadcast over the positions
  const nc = x.shape.map((s, i) => (i < 2 ? s : 1));
  // (in tidy: the per-group intermediates are freed here, not left to the collector)
  const [y, mean, rstd] = tidy(() => {
    const x4 = grouped(x, groups);
    const stats = groupStats(x4, eps);
    const w = weight?.view([1, groups, perGroup, 1]);
    const scale = w ? stats.invstd.mul(w) : stats.invstd.expand([N, groups, perGroup, 1]);
    const meanScale = stats.mean.mul(scale);
    const shift = bias ? bias.view([1, groups, perGroup, 1]).sub(meanScale) : meanScale.neg();
    // (in x's dtype, as the kernels give it: half values with float32 parameters promote)
    const out = x.mul(scale.reshape(nc)).add(shift.reshape(nc));
    return [out.dtype === x.dtype ? out : out.to(x.dtype), stats.mean.view([N, groups]), stats.invstd.view([N, groups])];
  });
  return { y, mean, rstd };
}

/**
 * The backward pass composed of tensor ops: differentiable again when a graph is recorded, with
 * the statistics recomputed from x (`saved` null); with the forward's statistics otherwise.
 */
function composedBackward(gradY: Tensor, x: Tensor, weight: Tensor | null, saved: { mean: Tensor; rstd: Tensor } | null, G: number, eps: number,
  [needX, needW, needB]: readonly boolean[]): [Tensor | null, Tensor | null, Tensor | null] {
  const C = x.shape[1], perGroup = C / G;
  // no values (a zero-sized dim): every gradient is zero (the empty groups' statistics are NaN)
  if (x.numel === 0) return [needX ? zerosLike(x) : null, needW ? zeros([C], { dtype: x.dtype, device: x.device }) : null, needB ? zeros([C], { dtype: x.dtype, device: x.device }) : null];
  const x4 = grouped(x, G), g4 = grouped(gradY, G);
  const n = x4.shape[2] * x4.shape[3];
  const { mean, invstd } = saved ? { mean: saved.mean.view([-1, G, 1, 1]), invstd: saved.rstd.view([-1, G, 1, 1]) } : groupStats(x4, eps);
  const centred = x4.sub(mean);
  const s1 = g4.sum(3, true), s2 = g4.mul(centred).sum(3, true);           // [N, G, C/G, 1]
  let gradX: Tensor | null = null;
  if (needX) {
    const w = weight?.view([1, G, perGroup, 1]);
    const sumGw = (w ? s1.mul(w) : s1).sum(2, true), dotGw = (w ? s2.mul(w) : s2).sum(2, true);   // [N, G, 1, 1]
    const k = w ? invstd.mul(w) : invstd;
    // invstd·Σg'/n and invstd³·Σ g'·(x - mean)/n, per group
    const alongOnes = invstd.mul(sumGw).div(n), alongCentred = invstd.pow(3).mul(dotGw).div(n);
    gradX = g4.mul(k).sub(centred.mul(alongCentred)).sub(alongOnes).reshape([...x.shape]);
    // (half values with float32 parameters promote: the gradient of x is in x's dtype)
    if (gradX.dtype !== x.dtype) gradX = gradX.to(x.dtype);
  }
  const gradW = needW ? s2.mul(invstd).sum(0).reshape([C]) : null;
  const gradB = needB ? s1.sum(0).reshape([C]) : null;
  return [gradX, gradW, gradB];
}
