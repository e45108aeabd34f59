/**
 * Derivatives of the views (packages/tensor/src/ops/views.ts). A view's gradient is the upstream
 * gradient laid back into the input's shape: reshaped, permuted back, summed over expanded dims, or
 * written into zeros at the sliced/selected positions.
 */
import { type Tensor, permute, reshape, select, slice, squeeze, zeros } from '@kiln/tensor';
import { defineDerivative } from '../derivative-table.js';
import { Function, type FunctionCtx } from '../function.js';
import { sameConstant, sumToShape } from '../shape-utils.js';

defineDerivative('view', { grads: { input: (c) => sameConstant(reshape(c.grad, c.attrs.shape as number[]), c.grad) } });
defineDerivative('squeeze', { grads: { input: (c) => sameConstant(reshape(c.grad, c.attrs.inputShape as number[]), c.grad) } });
defineDerivative('unsqueeze', { grads: { input: (c) => sameConstant(squeeze(c.grad, c.attrs.dim as number), c.grad) } });
defineDerivative('expand', { grads: { input: (c) => sumToShape(c.grad, c.attrs.shape as number[]) } });
defineDerivative('permute', {
  grads: {
    input: (c) => {
      const dims = c.attrs.dims as number[];
      const inverse = new Array<number>(dims.length);
      dims.forEach((d, i) => (inverse[d] = i));
      return sameConstant(permute(c.grad, inverse), c.grad);
    },
  },
});

/**
 * zeros(shape) with `src` written at positions start, start+step, ... of dim: the gradient of
 * slice. A Function, so that it is differentiable again (its own gradient is the slice).
 */
class SliceScatter extends Function {
  static override forward(ctx: FunctionCtx, src: Tensor, shape: readonly number[], dim: number, start: number, step: number): Tensor {
    const end = start + (src.shape[dim]! - 1) * step + 1;
    ctx.args = [dim, start, end, step];
    const out = zeros(shape, { dtype: src.dtype, device: src.device });
    const region = slice(out, dim, start, end, step);
    region.copy_(src);
    region.dispose();
    return out;
  }
  static override backward(ctx: FunctionCtx, g: Tensor): Tensor {
    const [dim, start, end, step] = ctx.args as number[];
    return slice(g, dim!, start, end, step);
  }
}

/** zeros(shape) with `src` written at `index` of dim: the gradient of select (differentiable again). */
class SelectScatter extends Function {
  static override forward(ctx: FunctionCtx, src: Tensor, shape: readonly number[], dim: number, index: number): Tensor {
    ctx.dim = dim;
    ctx.index = index;
    const out = zeros(shape, { dtype: src.dtype, device: src.device });
    const region = select(out, dim, index);
    region.copy_(src);
    region.dispose();
    return out;
  }
  static override backward(ctx: FunctionCtx, g: Tensor): Tensor {
    return select(g, ctx.dim as number, ctx.index as number);
  }
}

defineDerivative('slice', {
  grads: {
    input: (c) => {
      const { dim, start, step, inputShape } = c.attrs as { dim: number; start: number; step: number; inputShape: number[] };
      return SliceScatter.apply(c.grad, inputShape, dim, start, step);
    },
  },
});
defineDerivative('select', {
  grads: {
    input: (c) => {
      const { dim, index, inputShape } = c.attrs as { dim: number; index: number; inputShape: number[] };
      return SelectScatter.apply(c.grad, inputShape, dim, index);
    },
  },
});
