/**
 * Derivatives of the reductions (packages/tensor/src/ops/reduce.ts). Each op records `dims` (the
 * reduced dims, sorted; [] for a 0-d input) and `keepdim`; a gradient of the reduced shape is put
 * back with `spread` (size-1 dims restored, then expanded over the input's shape).
 */
import {
  type Tensor, arange, div, eq, exp, expand, eye, logicalAnd, mean, mul, onesLike, permute, prod, sub, sum, unsqueeze, where,
} from '@kiln/tensor';
import { type DerivativeContext, defineDerivative } from '../derivative-table.js';
import { isGradEnabled } from '../grad-mode.js';
import { sameImplicitGradient } from '../implicit-gradient.js';

interface ReduceAttrs {
  dims: number[];
  keepdim: boolean;
  correction?: number;
}
const attrsOf = (c: DerivativeContext): ReduceAttrs => c.attrs as ReduceAttrs;

/** t (of the reduced shape) with the reduced dims back as size 1 (a view; dims ascending). */
function keepDims(c: DerivativeContext, t: Tensor): Tensor {
  const { dims, keepdim } = attrsOf(c);
  if (keepdim) return t;
  let r = t;
  for (const d of dims) r = unsqueeze(r, d);
  return r;
}

/** t (of the reduced shape) broadcast back over the input's shape (a stride-0 view). */
function spread(c: DerivativeContext, t: Tensor): Tensor {
  return expand(keepDims(c, t), c.inputShape('input'));
}

/** Number of elements each output element reduces. */
function reducedCount(c: DerivativeContext): number {
  const shape = c.inputShape('input');
  return attrsOf(c).dims.reduce((n, d) => n * shape[d], 1);
}

// (a view of the upstream gradient: the implicit 1 of backward() stays recognisable, see implicit-gradient.ts)
defineDerivative('sum', { grads: { input: (c) => sameImplicitGradient(spread(c, c.grad), c.grad) } });
defineDerivative('mean', { grads: { input: (c) => div(spread(c, c.grad), reducedCount(c)) } });

/**
 * d prod / d x_i = the product of the other elements of x_i's group. Without zeros that is
 * prod / x_i; with one zero in a group, only the zero's position gets something (the product of
 * the others); with two or more, everything is 0. The division uses 1 in place of zeros so that no
 * inf/NaN enters the masked branch.
 *
 * That formula is flat at the zeros, so its own derivative would be wrong there. When the backward
 * pass is recorded (createGraph), the products of the others are computed directly instead: each
 * group of n elements is laid out n times with the i-th copy's x_i replaced by 1, and multiplied
 * out (O(n²) memory, for higher-order derivatives only).
 */
function prodGrad(c: DerivativeContext): Tensor {
  const x = c.saved('input');
  return mul(spread(c, c.grad), isGradEnabled() ? productOfOthersExact(c, x) : productOfOthersFast(c, x));
}

function productOfOthersFast(c: DerivativeContext, x: Tensor): Tensor {
  const { dims } = attrsOf(c);
  const isZero = eq(x, 0);
  const zeros = sum(isZero.to(x.dtype), dims, true);
  const safeX = where(isZero, 1, x);
  const productOfNonZeros = prod(safeX, dims, true);
  const noZero = div(spread(c, c.saved('output')), safeX);
  const oneZero = where(logicalAnd(isZero, eq(zeros, 1)), productOfNonZeros, 0);
  return where(eq(zeros, 0), noZero, oneZero);
}

function productOfOthersExact(c: DerivativeContext, x: Tensor): Tensor {
  const { dims } = attrsOf(c);
  if (x.ndim === 0) return onesLike(x);
  const keptDims = x.shape.map((_, d) => d).filter((d) => !dims.includes(d));
  const order = [...keptDims, ...dims];
  const keptSizes = keptDims.map((d) => x.shape[d]);
  const n = dims.reduce((m, d) => m * x.shape[d], 1);
  const groups = permute(x, order).reshape([...keptSizes, n]); // [..., n]
  const diagonal = eq(eye(n, n, { dtype: x.dtype, device: x.device }), 1); // [n, n]
  const copies = where(diagonal, 1, expand(unsqueeze(groups, -2), [...keptSizes, n, n])); // copy i has x_i = 1
  const others = prod(copies, -1).reshape([...keptSizes, ...dims.map((d) => x.shape[d])]);
  const inverse = new Array<number>(order.length);
  order.forEach((d, i) => (inverse[d] = i));
  return permute(others, inverse);
}

defineDerivative('prod', { save: ['input', 'output'], grads: { input: prodGrad } });

/** amax / amin: the gradient is shared evenly by the elements equal to the result (as PyTorch). */
function evenlyAmongExtremes(c: DerivativeContext): Tensor {
  const x = c.saved('input');
  const hit = eq(x, spread(c, c.saved('output'))).to(x.dtype);
  const count = sum(hit, attrsOf(c).dims, true);
  return mul(spread(c, c.grad), div(hit, count));
}
defineDerivative('amax', { save: ['input', 'output'], grads: { input: evenlyAmongExtremes } });
defineDerivative('amin', { save: ['input', 'output'], grads: { input: evenlyAmongExtremes } });

/** max / min along dim: the gradient goes to the position of `indices` (output 1). */
function toIndices(c: DerivativeContext): Tensor {
  const shape = c.inputShape('input');
  if (shape.length === 0) return c.grad;
  const d = (c.attrs as { dim: number }).dim;
  const indices = keepDims(c, c.saved('output1'));
  const positions = arange(shape[d], undefined, 1, { device: c.grad.device }).view(shape.map((s, k) => (k === d ? s : 1)));
  return where(eq(positions, indices), keepDims(c, c.grad), 0);
}
defineDerivative('max_dim', { save: ['output1'], grads: { input: toIndices } });
defineDerivative('min_dim', { save: ['output1'], grads: { input: toIndices } });

// var = sum((x - mean)²) / (n - correction):  d var / d x = 2 (x - mean) / (n - correction)
defineDerivative('var', {
  save: ['input'],
  grads: {
    input: (c) => {
      const x = c.saved('input');
      const { dims, correction = 1 } = attrsOf(c);
      const centered = sub(x, mean(x, dims, true));
      return mul(spread(c, c.grad), mul(centered, 2 / (reducedCount(c) - correction)));
    },
  },
});

// std = √var:  d std / d x = (x - mean) / ((n - correction) std), taken as 0 where std = 0 (as PyTorch)
defineDerivative('std', {
  save: ['input', 'output'],
  grads: {
    input: (c) => {
      const x = c.saved('input');
      const { dims, correction = 1 } = attrsOf(c);
      const s = spread(c, c.saved('output'));
      const centered = sub(x, mean(x, dims, true));
      const g = div(mul(spread(c, c.grad), centered), mul(s, reducedCount(c) - correction));
      return where(eq(s, 0), 0, g);
    },
  },
});

// d logsumexp / d x = softmax(x) = exp(x - logsumexp)
defineDerivative('logsumexp', {
  save: ['input', 'output'],
  grads: { input: (c) => mul(spread(c, c.grad), exp(sub(c.saved('input'), spread(c, c.saved('output'))))) },
});
