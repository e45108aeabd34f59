/**
 * SGD's fused update: the native kernel `sgd_update` (native/cpu/optimizer_step.cc,
 * native/cuda/optimizer_step.cu; the formula in native/include/kiln/math/optimizer_step.h) updates a
 * parameter and, with momentum, its momentum buffer in one pass. A parameter's first step fills its
 * new buffer with the gradient (PyTorch's clone), which the kernel is told per parameter.
 */
import { type Tensor, declareOp } from '@kiln/tensor';
import type { ParamGroup, ParamState } from '../optimizer.js';
import type { SGDOptions } from '../sgd.js';
import type { FusedKernel } from './multi-tensor.js';

declareOp('sgd_update', ['grad'], false);

/** The fused kernel for one group's hyper-parameters; `newBuffer` makes and keeps a momentum buffer. */
export function sgdKernel(group: ParamGroup<SGDOptions>, newBuffer: (state: ParamState, p: Tensor) => Tensor): FusedKernel {
  const { lr, momentum, dampening, weightDecay, nesterov, maximize } = group;
  const hasMomentum = momentum !== 0;
  /** Parameters whose buffer this step makes (the kernel writes the gradient into it). */
  const fresh = new Set<ParamState>();
  return {
    name: 'sgd_update',
    targets: ({ param, state }) => {
      if (!hasMomentum) return [param];
      let buf = state.momentumBuffer as Tensor | undefined;
      if (buf === undefined) {
        buf = newBuffer(state, param);
        fresh.add(state);
      }
      return [param, buf];
    },
    sharedAttrs: [lr, momentum, 1 - dampening, weightDecay, hasMomentum ? 1 : 0, nesterov ? 1 : 0, maximize ? 1 : 0],
    paramAttrs: ({ state }) => [fresh.has(state) ? 1 : 0],
  };
}
