/**
 * The derivative of cat (packages/tensor/src/ops/join.ts): each input's gradient is its slice of
 * the upstream gradient along dim (a view). cat takes a list, so its gradients are given by position.
 * stack, split, chunk and unbind are made of cat and views and need no entry of their own.
 */
import { narrow, zeros } from '@kiln/tensor';
import { defineDerivative } from '../derivative-table.js';

defineDerivative('cat', {
  grads: (c) => {
    const { dim, sizes } = c.attrs as { dim: number; sizes: number[] };
    let start = 0;
    return sizes.map((n, i) => {
      const from = start;
      start += n;
      if (!c.needsGrad(i)) return undefined;
      const shape = c.inputShape(i);
      // a legacy empty input (shape [0]) took no part in a cat of higher rank
      if (shape.length !== c.grad.ndim) return zeros(shape, { dtype: c.grad.dtype, device: c.grad.device });
      return narrow(c.grad, dim, from, n);
    });
  },
});
