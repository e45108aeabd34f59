/**
 * Adam's fused update: the native kernel `adam_update` (native/cpu/optimizer_step.cc,
 * native/cuda/optimizer_step.cu; the formula once in native/include/kiln/math/optimizer_step.h, the
 * launch layout in native/include/kiln/optimizer_args.h) updates a parameter, its first and second
 * moments and, with AMSGrad, their running maximum in one pass over the elements.
 *
 * The scalars are computed here in double, as the composed path computes them: 1 − β1, 1 − β2,
 * AdamW's factor 1 − lr·λ, and per parameter (each has its own step count t) the step size
 * lr / (1 − β1^t) and sqrt(1 − β2^t).
 */
import { type Tensor, declareOp } from '@kiln/tensor';
import type { ParamGroup, ParamState } from '../optimizer.js';
import type { AdamOptions } from '../adam.js';
import type { FusedKernel } from './multi-tensor.js';

declareOp('adam_update', ['grad'], false);

/** Gets (or makes and keeps, on first use) a state tensor of a parameter. */
export type StateTensor = (state: ParamState, key: string, p: Tensor) => Tensor;

/** The fused kernel for one group's hyper-parameters; `decoupled` for AdamW's weight decay. */
export function adamKernel(group: ParamGroup<AdamOptions>, decoupled: boolean, stateTensor: StateTensor): FusedKernel {
  const [b1, b2] = group.betas;
  const { lr, eps, weightDecay, amsgrad, maximize } = group;
  return {
    name: 'adam_update',
    targets: ({ param, state }) => [
      param,
      stateTensor(state, 'expAvg', param),
      stateTensor(state, 'expAvgSq', param),
      ...(amsgrad ? [stateTensor(state, 'maxExpAvgSq', param)] : []),
    ],
    sharedAttrs: [b1, 1 - b1, b2, 1 - b2, eps, weightDecay, 1 - lr * weightDecay, decoupled ? 1 : 0, amsgrad ? 1 : 0, maximize ? 1 : 0],
    paramAttrs: ({ state }) => {
      const t = ((state.step as number | undefined) ?? 0) + 1;
      state.step = t;
      return [lr / (1 - b1 ** t), Math.sqrt(1 - b2 ** t)];
    },
  };
}
