/**
 * softmax and logSoftmax along one dim, computed stably (the row's max is subtracted before exp;
 * log-softmax is x - max - log(sum(exp(x - max)))), and their backward kernels, which autograd's
 * derivatives call. The formulas are native (native/include/kiln/math/softmax.h); this file
 * validates arguments and hands the kernels views with the softmax dim last (any strides work).
 *
 * Floating dtypes only (float16 / bfloat16 are computed in float32). A row whose max is not finite
 * (a NaN, +inf, or only -inf) gives NaN, as PyTorch. Recorded with attribute `dim` (normalised).
 */
import { isFloating } from '../dtype.js';
import { DTypeError, ShapeError } from '../errors.js';
import { type OpSchema, commonDevice, declareOp, empty, launchKernel, recordOp } from '../dispatch.js';
import { withAutocast } from '../autocast.js';
import { fmtShape, normalizeDim, sameShape } from '../shape.js';
import { Tensor } from '../tensor.js';
import { dimLast } from './views.js';

const softmaxOp = declareOp('softmax', ['input'], { autocast: 'float32' });
const logSoftmaxOp = declareOp('log_softmax', ['input'], { autocast: 'float32' });
const softmaxBackwardOp = declareOp('softmax_backward', ['grad_output', 'output']);
const logSoftmaxBackwardOp = declareOp('log_softmax_backward', ['grad_output', 'output']);

function checkDim(op: string, t: Tensor, dim: number): number {
  if (typeof dim !== 'number') throw new ShapeError(op, 'dim', 'a dimension (a number)', String(dim));
  return normalizeDim(op, dim, t.ndim);
}

function checkFloat(op: string, arg: string, t: Tensor): void {
  if (!isFloating(t.dtype)) throw new DTypeError(op, arg, 'a floating-point tensor', t.dtype);
}

/** Runs a softmax kernel over the rows along d of the inputs, into a new tensor of their shape. */
function runRows(name: string, inputs: readonly Tensor[], d: number): Tensor {
  const x = inputs[0];
  const out = empty(x.shape, x.dtype, x.device);
  if (out.numel === 0) return out;
  const views = inputs.map((t) => dimLast(t, d));
  const outView = dimLast(out, d);
  try {
    launchKernel(name, views, [outView]);
  } catch (e) {
    out.dispose();
    throw e;
  } finally {
    for (const v of views) v.dispose();
    outView.dispose();
  }
  return out;
}

function forward(schema: OpSchema, x: Tensor, dim: number): Tensor {
  const op = schema.name;
  x.assertAlive(op);
  checkFloat(op, 'input', x);
  const d = checkDim(op, x, dim);
  return recordOp(schema, [x], [runRows(op, [x], d)], { dim: d });
}

/** exp(x - max) / sum(exp(x - max)) along dim: each slice along dim sums to 1. */
export const softmax = withAutocast(softmaxOp, function softmax(x: Tensor, dim: number): Tensor {
  return forward(softmaxOp, x, dim);
});

/** log(softmax(x, dim)), computed as x - max - log(sum(exp(x - max))) (no log of a rounded 0). */
export const logSoftmax = withAutocast(logSoftmaxOp, function logSoftmax(x: Tensor, dim: number): Tensor {
  return forward(logSoftmaxOp, x, dim);
});

function backward(schema: OpSchema, grad: Tensor, output: Tensor, dim: number): Tensor {
  const op = schema.name;
  commonDevice(op, ['grad', 'output'], [grad, output]);
  checkFloat(op, 'output', output);
  if (grad.dtype !== output.dtype) throw new DTypeError(op, 'grad', `output's dtype (${output.dtype})`, grad.dtype);
  if (!sameShape(grad.shape, output.shape)) throw new ShapeError(op, 'grad', `output's shape ${fmtShape(output.shape)}`, fmtShape(grad.shape));
  const d = checkDim(op, output, dim);
  return recordOp(schema, [grad, output], [runRows(op, [grad, output], d)], { dim: d });
}

/**
 * The gradient of softmax with respect to its input, from the upstream gradient `grad` and the
 * forward result `output` = softmax(x, dim): output * (grad - sum(grad * output, dim)). Used by
 * autograd's derivative of softmax.
 */
export function softmaxBackward(grad: Tensor, output: Tensor, dim: number): Tensor {
  return backward(softmaxBackwardOp, grad, output, dim);
}

/**
 * The gradient of logSoftmax with respect to its input, from the upstream gradient `grad` and the
 * forward result `output` = logSoftmax(x, dim): grad - exp(output) * sum(grad, dim). Used by
 * autograd's derivative of log_softmax.
 */
export function logSoftmaxBackward(grad: Tensor, output: Tensor, dim: number): Tensor {
  return backward(logSoftmaxBackwardOp, grad, output, dim);
}

declare module '../tensor.js' {
  interface Tensor {
    /** Softmax along dim (see `softmax`). */
    softmax(dim: number): Tensor;
    /** Log-softmax along dim (see `logSoftmax`). */
    logSoftmax(dim: number): Tensor;
  }
}

Tensor.prototype.softmax = function (dim) { return softmax(this, dim); };
Tensor.prototype.logSoftmax = function (dim) { return logSoftmax(this, dim); };
