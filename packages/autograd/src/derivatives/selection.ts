/**
 * Derivatives of the selections (packages/tensor/src/ops/sort.ts, selection.ts): sort and topk
 * send each value's gradient back to the position it came from (output 1, the indices);
 * masked_select and masked_select_backward are each other's adjoint, so each one's gradient is the
 * other applied to the upstream gradient (second derivatives come for free).
 */
import { type Tensor, maskedSelect, maskedSelectBackward, scatterAdd, zeros } from '@kiln/tensor';
import { type DerivativeContext, defineDerivative } from '../derivative-table.js';

// values = input at `indices` along dim: input position indices[p] receives the gradient of values[p]
function toSelectedPositions(c: DerivativeContext): Tensor {
  const shape = c.inputShape('input'), g = c.grad;
  if (shape.length === 0) return g;
  return scatterAdd(zeros(shape, { dtype: g.dtype, device: g.device }), c.attrs.dim as number, c.saved('output1'), g);
}
defineDerivative('sort', { save: ['output1'], grads: { input: toSelectedPositions } });
defineDerivative('topk', { save: ['output1'], grads: { input: toSelectedPositions } });

// the selected elements' gradients go back to their places in the broadcast shape (the engine
// sums them down to the input's shape); the mask gets none
defineDerivative('masked_select', {
  save: ['mask'],
  grads: { input: (c) => maskedSelectBackward(c.grad, c.saved('mask'), c.attrs.shape as number[]) },
});

defineDerivative('masked_select_backward', {
  save: ['mask'],
  grads: { grad: (c) => maskedSelect(c.grad, c.saved('mask')) },
});
