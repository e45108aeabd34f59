/**
 * Clearing gradients, as `optimizer.zeroGrad()` and `module.zeroGrad()` do: the shared body.
 *
 * A gradient dropped with `p.grad = null` would keep its memory until a garbage collection takes it;
 * in a training loop that allocates a new gradient every step, that is one step's gradients more
 * per step. So the dropped gradient is disposed: its memory goes back to the allocator at once and
 * the loop's memory stays flat. (Hold a gradient past zeroGrad by cloning it first.)
 */
import { type Tensor, ValueError, checkBoolean, describeValue } from '@kiln/tensor';
import { noGrad } from './grad-mode.js';

/**
 * Clears the `.grad` of each tensor: disposes it and sets it to null (default), or with
 * `setToNone = false` fills it with zeros in place.
 *
 * @example
 * ```ts
 * loss.backward();
 * zeroGrad(model.parameters());     // what optimizer.zeroGrad() does
 * ```
 */
export function zeroGrad(tensors: Iterable<Tensor>, setToNone = true): void {
  if (typeof (tensors as Iterable<Tensor> | null | undefined)?.[Symbol.iterator] !== 'function') {
    throw new ValueError('zeroGrad', 'tensors', 'an iterable of tensors (an array, module.parameters())', describeValue(tensors));
  }
  checkBoolean('zeroGrad', 'setToNone', setToNone);
  for (const p of tensors) {
    const g = p.grad;
    if (!g) continue;
    if (setToNone) {
      p.grad = null;
      g.dispose();
    } else noGrad(() => g.zero_());
  }
}
