/**
 * Derivatives of the views (packages/tensor/src/ops/views.ts). A view's gradient is the upstream
 * gradient laid back into the input's shape: reshaped, permuted back, summed over expanded dims, or
 * written into zeros at the sliced/selected positions.
 */
import { type Tensor, permute, reshape, select, slice, squeeze, zeros } from '@kiln/tensor';
import { defineDerivative } from '../derivative-table.js';
import { Function, type FunctionCtx } from '../function.js';
import { sumToShape } from '../shape-utils.js';
import { sameImplicitGradient } from '../implicit-gradient.js';

defineDerivative('view', { grads: { input: (c) => sameImplicitGradient(reshape(c.grad, c.attrs.shape as number[]), c.grad) } });
defineDerivative('squeeze', { grads: { input: (c) => sameImplicitGradient(reshape(c.grad, c.attrs.inputShape as number[]), c.grad) } });
defineDerivative('unsqueeze', { grads: { input: (c) => sameImplicitGradient(squeeze(c.grad, c.attrs.dim as number), c.grad) } });
defineDerivative('expand', { grads: { input: (c) => sumToShape(c.grad, c.attrs.shape as number[]) } });
defineDerivative('permute', {
  grads: {
    input: (c) => {
      const dims = c.attrs.dims as number[];
      const inverse = new Array<number>(dims.length);
      dims.forEach((d, i) => (inverse[d] = i));
      return sameImplicitGradient(permute(c.grad, inverse), c.grad);
    },
  },
});

/**
 * zeros(shape) with `src` written at positions start, start+step, ... of dim: the gradient of
 * slice. A Function, so that it is differentiable again (its own gradient is the slice).
 */
interface SliceScatterCtx extends FunctionCtx<[]> {
  /** the slice of the output that src was written to */
  region: { dim: number; start: number; end: number; step: number };
}
class SliceScatter extends Function<SliceScatterCtx> {
  static override forward(ctx: SliceScatterCtx, src: Tensor, shape: readonly number[], dim: number, start: number, step: number): Tensor {
    const end = start + (src.shape[dim] - 1) * step + 1;
    ctx.region = { dim, start, end, step };
    const out = zeros(shape, { dtype: src.dtype, device: src.device });
    const region = slice(out, dim, start, end, step);
    region.copy_(src);
    region.dispose();
    return out;
  }
  static override backward(ctx: SliceScatterCtx, g: Tensor): Tensor {
    const { dim, start, end, step } = ctx.region;
    return slice(g, dim, start, end, step);
  }
}

/** zeros(shape) with `src` written at `index` of dim: the gradient of select (differentiable again). */
interface SelectScatterCtx extends FunctionCtx<[]> {
  dim: number;
  index: number;
}
class SelectScatter extends Function<SelectScatterCtx> {
  static override forward(ctx: SelectScatterCtx, src: Tensor, shape: readonly number[], dim: number, index: number): Tensor {
    ctx.dim = dim;
    ctx.index = index;
    const out = zeros(shape, { dtype: src.dtype, device: src.device });
    const region = select(out, dim, index);
    region.copy_(src);
    region.dispose();
    return out;
  }
  static override backward(ctx: SelectScatterCtx, g: Tensor): Tensor {
    return select(g, ctx.dim, ctx.index);
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
