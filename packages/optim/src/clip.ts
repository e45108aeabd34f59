/**
 * Gradient clipping by total norm (PyTorch's torch.nn.utils.clip_grad_norm_): the gradients of all
 * parameters, taken as one vector, are scaled by min(1, maxNorm / (norm + 1e-6)). The scale is
 * computed on the device, so clipping never waits for a value to reach the host.
 */
import { type Tensor, ValueError, amax, checkOptionKeys, describeValue, div, keep, pow, stack, sum, tidy, zeros } from '@kiln/tensor';
import { noGrad } from '@kiln/autograd';
import { checkIterable } from './optimizer.js';

/** Options of {@link clipGradNorm_}. */
export interface ClipGradNormOptions {
  /** throw when the total norm is NaN or infinite (reads the norm back: a synchronisation) */
  errorIfNonfinite?: boolean;
}

/** The p-norm of one tensor (p = Infinity: the largest absolute value). */
function norm(t: Tensor, p: number): Tensor {
  if (p === Infinity) return amax(t.abs());
  if (p === 2) return sum(t.mul(t)).sqrt();
  if (p === 1) return sum(t.abs());
  return pow(sum(pow(t.abs(), p)), 1 / p);
}

/**
 * Scales the gradients of `params` in place so that their total `normType`-norm is at most
 * `maxNorm`; returns the total norm before clipping (a 0-d tensor on the first gradient's device).
 */
export function clipGradNorm_(params: Iterable<Tensor>, maxNorm: number, normType = 2, options: ClipGradNormOptions = {}): Tensor {
  if (!(maxNorm >= 0)) throw new ValueError('clipGradNorm_', 'maxNorm', 'a number >= 0', String(maxNorm));
  if (!(normType > 0)) {
    throw new ValueError('clipGradNorm_', 'normType', 'a positive number or Infinity (the options come after it: clipGradNorm_(params, maxNorm, 2, { errorIfNonfinite }))', describeValue(normType));
  }
  checkIterable('clipGradNorm_', 'params', params);
  checkOptionKeys('clipGradNorm_', options, { errorIfNonfinite: true });
  const grads = [...params].map((p) => p.grad).filter((g): g is Tensor => g !== null);
  if (grads.length === 0) return zeros([]);
  const dev = grads[0].device;
  return noGrad(() => tidy(() => {
    const norms = grads.map((g) => norm(g, normType).to({ device: dev, dtype: 'float64' }));
    const total = norm(stack(norms), normType);
    if (options.errorIfNonfinite && !Number.isFinite(total.item())) {
      throw new ValueError('clipGradNorm_', 'params', `gradients with a finite total ${normType}-norm`, String(total.item()));
    }
    const scale = div(maxNorm, total.add(1e-6)).clamp(undefined, 1);
    for (const g of grads) g.mul_(scale.to({ device: g.device, dtype: g.dtype }));
    return keep(total);
  }));
}
