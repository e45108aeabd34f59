/** Dropout (Srivastava et al.), drawing its masks from the core's seeded RNG. */
import { type Generator, type Tensor, ValueError, checkOptionKeys, mul, rand } from '@kiln/tensor';
import { Module } from '../module.js';

/** Options of {@link Dropout}. */
export interface DropoutOptions {
  /** draw masks from this generator (default: the default generator) */
  generator?: Generator;
}

/**
 * In training, zeroes each element with probability p and scales the others by 1 / (1 - p), so the
 * expected value is unchanged; in evaluation returns its input.
 */
export class Dropout extends Module {
  /** Probability of zeroing an element. */
  readonly p: number;
  /** Where masks are drawn from (undefined: the default generator). */
  readonly generator: Generator | undefined;

  constructor(p = 0.5, options: DropoutOptions = {}) {
    super();
    checkOptionKeys('Dropout', options, { generator: true });
    if (typeof p !== 'number' || !(p >= 0 && p <= 1)) throw new ValueError('Dropout', 'p', 'a probability in [0, 1]', String(p));
    this.p = p;
    this.generator = options.generator;
  }

  forward(x: Tensor): Tensor {
    if (!this.training || this.p === 0) return x;
    // keep where u >= p (probability 1 - p), with u uniform in [0, 1); the mask is a constant for autograd
    const u = rand(x.shape, { dtype: x.dtype, device: x.device, generator: this.generator });
    const keep = u.ge(this.p);
    const scale = this.p === 1 ? keep.to(x.dtype) : keep.to(x.dtype).mul_(1 / (1 - this.p));
    const out = mul(x, scale);
    u.dispose();
    if (keep !== scale) keep.dispose();
    if (!x.requiresGrad) scale.dispose();   // otherwise autograd keeps it for mul's backward
    return out;
  }
}
