/**
 * Derivatives of gather, scatter, scatter_add and index_select (packages/tensor/src/ops/indexing.ts).
 * The index is an integer tensor and gets no gradient. The formulas are adjoint pairs: gather's
 * gradient is a scatter_add of the gradient, scatter_add's gradient for src is a gather.
 */
import { type Tensor, gather, narrow, scatter, scatterAdd, sameShape, zeros } from '@kiln/tensor';
import { type DerivativeContext, defineDerivative } from '../derivative-table.js';
import { Function, type FunctionCtx } from '../function.js';

const dimOf = (c: DerivativeContext): number => c.attrs.dim as number;

/**
 * zeros(shape) with `src` in its leading corner (src no larger than shape in every dim). scatter's
 * src may be larger than its index: src's gradient is the gathered part and zeros elsewhere.
 * A Function so it is differentiable again (its gradient is the corner of the upstream gradient).
 */
interface PadToShapeCtx extends FunctionCtx<[]> {
  srcShape: readonly number[];
}
class PadToShape extends Function<PadToShapeCtx> {
  static override forward(ctx: PadToShapeCtx, src: Tensor, shape: readonly number[]): Tensor {
    ctx.srcShape = src.shape;
    const out = zeros(shape, { dtype: src.dtype, device: src.device });
    const corner = cornerOf(out, src.shape);
    corner.copy_(src);
    corner.dispose();
    return out;
  }
  static override backward(ctx: PadToShapeCtx, g: Tensor): Tensor {
    return cornerOf(g, ctx.srcShape);
  }
}

/** The view of t's leading `shape` corner. */
function cornerOf(t: Tensor, shape: readonly number[]): Tensor {
  let r = t;
  shape.forEach((n, d) => {
    if (n !== t.shape[d]) r = narrow(r, d, 0, n);
  });
  return r === t ? t.view(t.shape) : r;
}

/** gather(g, dim, index), padded with zeros to `shape` when index is smaller. */
function gatherTo(g: Tensor, dim: number, index: Tensor, shape: readonly number[]): Tensor {
  const part = gather(g, dim, index);
  return sameShape(part.shape, shape) ? part : PadToShape.apply(part, shape);
}

// out = input[index] along dim: each input position receives the sum of the gradients that read it
defineDerivative('gather', {
  save: ['index'],
  grads: {
    input: (c) => {
      const g = c.grad;
      return scatterAdd(zeros(c.inputShape('input'), { dtype: g.dtype, device: g.device }), dimOf(c), c.saved('index'), g);
    },
  },
});

// positions overwritten from src get no gradient in input; src gets the gradient where it was written
defineDerivative('scatter', {
  save: ['index'],
  grads: {
    input: (c) => scatter(c.grad, dimOf(c), c.saved('index'), 0),
    src: (c) => gatherTo(c.grad, dimOf(c), c.saved('index'), c.inputShape('src')),
  },
});

defineDerivative('scatter_add', {
  save: ['index'],
  grads: {
    input: (c) => c.grad,
    src: (c) => gatherTo(c.grad, dimOf(c), c.saved('index'), c.inputShape('src')),
  },
});

// out = input selected at index along dim: the gradient is added back at the selected positions
defineDerivative('index_select', {
  save: ['index'],
  grads: {
    input: (c) => {
      const shape = c.inputShape('input'), g = c.grad, d = dimOf(c);
      if (shape.length === 0) return g;
      // index_add as scatter_add: the index, laid along dim, expanded over the gradient's shape
      const index = c.saved('index').reshape([-1]).view(g.shape.map((s, k) => (k === d ? s : 1))).expand(g.shape);
      return scatterAdd(zeros(shape, { dtype: g.dtype, device: g.device }), d, index, g);
    },
  },
});
