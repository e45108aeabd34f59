/**
 * Adam (Kingma & Ba) and AdamW (Loshchilov & Hutter), as PyTorch's torch.optim.Adam / AdamW. With
 * g the gradient and t the step count (from 1):
 *
 *   AdamW:  θ ← θ − lr·weightDecay·θ            (decoupled decay)
 *   Adam:   g ← g + weightDecay·θ              (L2 penalty in the gradient)
 *   m ← β1·m + (1 − β1)·g
 *   v ← β2·v + (1 − β2)·g²
 *   v̂max ← max(v̂max, v)                        (amsgrad; then used in place of v)
 *   θ ← θ − (lr / (1 − β1^t)) · m / (sqrt(v) / sqrt(1 − β2^t) + eps)
 *
 * (the last line is PyTorch's form of θ − lr·m̂ / (sqrt(v̂) + eps) with m̂ = m / (1 − β1^t),
 * v̂ = v / (1 − β2^t)).
 *
 * Two paths compute it: by default one native kernel per batch of parameters (`adam_update`,
 * fused/adam-kernel.ts: every element's update in one pass), else a dozen composed ops per parameter
 * (`update` below, and `fused: false`). They agree to rounding.
 */
import { Tensor, ValueError, checkOptionKeys, describeValue, maximum, zerosLike } from '@kiln/tensor';
import { type ParamGroup, type ParamGroupInput, type ParamState, Optimizer, givenOptions, inUnitInterval, isBoolean, nonNegative } from './optimizer.js';
import { adamKernel } from './fused/adam-kernel.js';
import type { FusedKernel } from './fused/multi-tensor.js';

/** Hyper-parameters of {@link Adam} and {@link AdamW}. */
export interface AdamOptions {
  /** Learning rate (default 1e-3). */
  lr: number;
  /** Decay rates of the first and second moment estimates (default [0.9, 0.999]). */
  betas: readonly [number, number];
  /** Added to the denominator (default 1e-8). */
  eps: number;
  /** Adam: L2 penalty in the gradient (default 0); AdamW: decoupled decay (default 0.01). */
  weightDecay: number;
  /** Use the maximum of past second moments (AMSGrad; default false). */
  amsgrad: boolean;
  /** Maximise the objective instead (default false). */
  maximize: boolean;
  /**
   * Update the parameters with one native kernel per batch of parameters of a device and dtype
   * (default true where the device's addon has it); false runs the composed ops. Both give the
   * same values to rounding.
   */
  fused: boolean;
}

type AdamInput = Iterable<Tensor> | readonly ParamGroupInput<AdamOptions>[];

/** The options Adam and AdamW know (the defaults' keys; a group may carry keys of its own). */
const adamKeys = { lr: true, betas: true, eps: true, weightDecay: true, amsgrad: true, maximize: true, fused: true } as const;

abstract class AdamBase extends Optimizer<AdamOptions> {
  /** true: AdamW's decoupled weight decay; false: Adam's L2 term in the gradient */
  protected abstract readonly decoupled: boolean;

  protected override validate(g: AdamOptions): void {
    super.validate(g);
    const name = this.name;
    if (!Array.isArray(g.betas) || g.betas.length !== 2) throw new ValueError(name, 'betas', 'a pair [beta1, beta2]', describeValue(g.betas));
    inUnitInterval(name, 'betas[0]', g.betas[0]);
    inUnitInterval(name, 'betas[1]', g.betas[1]);
    nonNegative(name, 'eps', g.eps);
    nonNegative(name, 'weightDecay', g.weightDecay);
    isBoolean(name, 'amsgrad', g.amsgrad);
    isBoolean(name, 'maximize', g.maximize);
    isBoolean(name, 'fused', g.fused);
  }

  protected override validateState(state: Readonly<Record<string, Tensor | number>>, where: string): void {
    const op = `${this.name}.loadStateDict`, step = state.step ?? 0;
    if (!(typeof step === 'number' && Number.isInteger(step) && step >= 0)) {
      throw new ValueError(op, `${where}.step`, 'a step count (an integer >= 0)', String(step));
    }
    // after a step the moments go with the count: without them the update would restart them under
    // the bias correction of `step` steps
    for (const key of ['expAvg', 'expAvgSq'] as const) {
      if (step > 0 && !(state[key] instanceof Tensor)) throw new ValueError(op, `${where}.${key}`, `a Tensor (the state of a parameter after ${step} steps)`, String(state[key]));
    }
  }

  protected override fusedKernel(group: ParamGroup<AdamOptions>): FusedKernel | null {
    return group.fused ? adamKernel(group, this.decoupled, (state, key, p) => this.stateTensor(state, key, p)) : null;
  }

  /** A state tensor of p (zeros like p, kept beyond the step's scope on first use). */
  private stateTensor(state: ParamState, key: string, p: Tensor): Tensor {
    return (state[key] as Tensor | undefined) ?? this.remember(state, key, zerosLike(p));
  }

  protected update(p: Tensor, grad: Tensor, group: ParamGroup<AdamOptions>, state: ParamState): void {
    const [b1, b2] = group.betas;
    const t = ((state.step as number | undefined) ?? 0) + 1;
    state.step = t;
    let g = group.maximize ? grad.neg() : grad;
    if (group.weightDecay !== 0) {
      if (this.decoupled) p.mul_(1 - group.lr * group.weightDecay);
      else g = g.add(p.mul(group.weightDecay));
    }
    const m = this.stateTensor(state, 'expAvg', p);
    const v = this.stateTensor(state, 'expAvgSq', p);
    m.mul_(b1).add_(g.mul(1 - b1));
    v.mul_(b2).add_(g.mul(g).mul(1 - b2));
    let second = v;
    if (group.amsgrad) {
      const vmax = this.stateTensor(state, 'maxExpAvgSq', p);
      vmax.copy_(maximum(vmax, v));
      second = vmax;
    }
    const bias1 = 1 - b1 ** t, bias2 = 1 - b2 ** t;
    const denom = second.sqrt().div(Math.sqrt(bias2)).add(group.eps);
    p.sub_(m.div(denom).mul(group.lr / bias1));
  }
}

const adamDefaults = { betas: [0.9, 0.999] as const, eps: 1e-8, amsgrad: false, maximize: false, fused: true };

/**
 * Adam with an optional L2 penalty (weightDecay, default 0).
 *
 * @example
 * ```ts
 * const opt = new Adam(model.parameters(), { lr: 1e-3 });
 * ```
 */
export class Adam extends AdamBase {
  protected readonly decoupled = false;
  /** Parameters (or groups) and hyper-parameters (defaults: lr 1e-3, betas [0.9, 0.999], eps 1e-8). */
  constructor(params: AdamInput, options: Partial<AdamOptions> = {}) {
    checkOptionKeys('Adam', options, adamKeys);
    super('Adam', params, { lr: 1e-3, weightDecay: 0, ...adamDefaults, ...givenOptions(options) });
  }
}

/**
 * Adam with decoupled weight decay (weightDecay, default 0.01).
 *
 * @example
 * ```ts
 * const opt = new AdamW(model.parameters(), { lr: 1e-4, weightDecay: 0.05 });
 * ```
 */
export class AdamW extends AdamBase {
  protected readonly decoupled = true;
  /** Parameters (or groups) and hyper-parameters (defaults: lr 1e-3, weightDecay 0.01). */
  constructor(params: AdamInput, options: Partial<AdamOptions> = {}) {
    checkOptionKeys('AdamW', options, adamKeys);
    super('AdamW', params, { lr: 1e-3, weightDecay: 1e-2, ...adamDefaults, ...givenOptions(options) });
  }
}
