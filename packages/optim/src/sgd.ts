/**
 * Stochastic gradient descent with momentum (PyTorch's torch.optim.SGD). With g the gradient:
 *
 *   g ← g + weightDecay·θ                                   (when weightDecay ≠ 0)
 *   b ← g at the first step, then momentum·b + (1 − dampening)·g   (when momentum ≠ 0)
 *   g ← g + momentum·b (nesterov) or b
 *   θ ← θ − lr·g                                            (θ + lr·g with maximize)
 *
 * By default one native kernel per batch of parameters computes it (`sgd_update`,
 * fused/sgd-kernel.ts); `fused: false` runs the composed ops of `update` below.
 */
import { type Tensor, ValueError, checkOptionKeys, clone, zerosLike } from '@kiln/tensor';
import { type ParamGroup, type ParamGroupInput, type ParamState, Optimizer, givenOptions, isBoolean, nonNegative } from './optimizer.js';
import { sgdKernel } from './fused/sgd-kernel.js';
import type { FusedKernel } from './fused/multi-tensor.js';

/** Hyper-parameters of {@link SGD} (every one but lr has a default). */
export interface SGDOptions {
  /** Learning rate (required). */
  lr: number;
  /** Momentum factor (default 0: none). */
  momentum: number;
  /** Dampening of the momentum's gradient term (default 0). */
  dampening: number;
  /** L2 penalty added to the gradient (default 0). */
  weightDecay: number;
  /** Nesterov momentum (default false; needs momentum > 0 and dampening 0). */
  nesterov: boolean;
  /** Maximise the objective instead (default false). */
  maximize: boolean;
  /**
   * Update the parameters with one native kernel per batch of parameters of a device and dtype
   * (default true where the device's addon has it); false runs the composed ops.
   */
  fused: boolean;
}

/**
 * Stochastic gradient descent with momentum, weight decay and Nesterov (PyTorch's torch.optim.SGD).
 *
 * @example
 * ```ts
 * const opt = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9, weightDecay: 1e-4 });
 * ```
 */
export class SGD extends Optimizer<SGDOptions> {
  /** Parameters (or groups) and hyper-parameters; lr is required. */
  constructor(params: Iterable<Tensor> | readonly ParamGroupInput<SGDOptions>[], options: Partial<SGDOptions> & { lr: number }) {
    // the defaults' keys only: a group may carry keys of its own, as PyTorch's param groups
    checkOptionKeys('SGD', options, { lr: true, momentum: true, dampening: true, weightDecay: true, nesterov: true, maximize: true, fused: true });
    super('SGD', params, { momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, maximize: false, fused: true, ...givenOptions(options) });
  }

  protected override validate(g: SGDOptions): void {
    super.validate(g);
    nonNegative('SGD', 'momentum', g.momentum);
    nonNegative('SGD', 'weightDecay', g.weightDecay);
    if (typeof g.dampening !== 'number' || !Number.isFinite(g.dampening)) throw new ValueError('SGD', 'dampening', 'a finite number', String(g.dampening));
    if (g.nesterov && (g.momentum <= 0 || g.dampening !== 0)) {
      throw new ValueError('SGD', 'nesterov', 'momentum > 0 and dampening 0 with Nesterov momentum', `momentum ${g.momentum}, dampening ${g.dampening}`);
    }
    isBoolean('SGD', 'nesterov', g.nesterov);
    isBoolean('SGD', 'maximize', g.maximize);
    isBoolean('SGD', 'fused', g.fused);
  }

  protected override fusedKernel(group: ParamGroup<SGDOptions>): FusedKernel | null {
    return group.fused ? sgdKernel(group, (state, p) => this.remember(state, 'momentumBuffer', zerosLike(p))) : null;
  }

  protected update(p: Tensor, grad: Tensor, group: ParamGroup<SGDOptions>, state: ParamState): void {
    let g = group.maximize ? grad.neg() : grad;
    if (group.weightDecay !== 0) g = g.add(p.mul(group.weightDecay));
    if (group.momentum !== 0) {
      let buf = state.momentumBuffer as Tensor | undefined;
      if (buf === undefined) buf = this.remember(state, 'momentumBuffer', clone(g));
      else buf.mul_(group.momentum).add_(g.mul(1 - group.dampening));
      g = group.nesterov ? g.add(buf.mul(group.momentum)) : buf;
    }
    p.sub_(g.mul(group.lr));
  }
}
