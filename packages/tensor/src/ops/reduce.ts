/**
 * Reductions with PyTorch's semantics: sum, mean, prod, amax, amin, max / min (the value, or
 * `{ values, indices }` along a dim), argmax, argmin, any, all, var, std, logsumexp.
 *
 * `dim` is a dim, a list of dims or undefined (every dim; an empty list also means every dim, as in
 * PyTorch); negative dims count from the end; `keepdim` keeps reduced dims with size 1.
 *
 * The formulas are native (native/include/kiln/math/reduce_ops.h). This file validates arguments,
 * works out the result's shape and dtype, and hands the kernel the input permuted so that the
 * reduced dims come last (a view: no copy). Accumulation: float32 in float64, float16 / bfloat16 in
 * float32, integers in int64, added in a pairwise (CPU) / tree (CUDA) order that depends only on the
 * shape, so results are deterministic.
 *
 * Autograd records each op with attributes `dims` (sorted normalised reduced dims; [] for a 0-d
 * input), `keepdim`, and `correction` for var / std; max_dim / min_dim record outputs
 * [values, indices] and also `dim`.
 */
import { type DType, defaultFloat, isFloating } from '../dtype.js';
import { checkOptionKeys } from '../check.js';
import { DTypeError, ShapeError, ValueError } from '../errors.js';
import { type OpSchema, declareOp, empty, launchKernel, recordOp } from '../dispatch.js';
import { withAutocast } from '../autocast.js';
import { fmtShape, normalizeDim, normalizeDims } from '../shape.js';
import { Tensor } from '../tensor.js';
import { to } from './convert.js';
import { maximum, minimum } from './elementwise.js';
import { makeView } from './views.js';

/** A reduction's dims: one dim, a list of dims, or undefined for every dim. */
export type Dims = number | readonly number[];

/** The result of max / min along a dim (PyTorch's `torch.return_types.max`). */
export interface ValuesIndices {
  /** The extreme values. */
  values: Tensor;
  /** Their int64 positions along the dim. */
  indices: Tensor;
}

/** Options of var and std (as torch.var's keyword arguments). */
export interface VarOptions {
  /** Subtracted from the element count in the divisor: 1 (default) is Bessel's correction, 0 the population variance. */
  correction?: number;
  /** Keep the reduced dims with size 1 (default false). */
  keepdim?: boolean;
}

const ops = {
  // reductions accumulate and return float32 in an autocast scope, as PyTorch's fp32 list
  sum: declareOp('sum', ['input'], { autocast: 'float32' }),
  mean: declareOp('mean', ['input'], { autocast: 'float32' }),
  prod: declareOp('prod', ['input'], { autocast: 'float32' }),
  amax: declareOp('amax', ['input']),
  amin: declareOp('amin', ['input']),
  maxDim: declareOp('max_dim', ['input']),
  minDim: declareOp('min_dim', ['input']),
  argmax: declareOp('argmax', ['input'], false),
  argmin: declareOp('argmin', ['input'], false),
  any: declareOp('any', ['input'], false),
  all: declareOp('all', ['input'], false),
  var: declareOp('var', ['input'], { autocast: 'float32' }),
  std: declareOp('std', ['input'], { autocast: 'float32' }),
  logsumexp: declareOp('logsumexp', ['input'], { autocast: 'float32' }),
};

/** What a reduction over some dims of x needs: the dims and the result's shape. */
interface Plan {
  /** reduced dims, sorted and normalised ([] for a 0-d input: its one element is "reduced") */
  dims: number[];
  keepdim: boolean;
  /** the sizes of the reduced dims */
  reducedSizes: number[];
  /** the result's shape */
  outShape: number[];
}

function plan(op: string, x: Tensor, dim: Dims | undefined, keepdim: boolean | undefined): Plan {
  x.assertAlive(op);
  const keep = keepdim ?? false;
  if (typeof keep !== 'boolean') throw new ValueError(op, 'keepdim', 'a boolean', String(keepdim));
  if (dim !== undefined && typeof dim !== 'number' && !Array.isArray(dim)) {
    throw new ShapeError(op, 'dim', 'a dimension, a list of dimensions or undefined', String(dim));
  }
  const all = dim === undefined || (Array.isArray(dim) && dim.length === 0);
  let dims: number[];
  if (all) dims = x.shape.map((_, i) => i);
  else {
    dims = normalizeDims(op, dim, x.ndim);   // validates the dims, also against a 0-d input's [-1, 0]
    if (x.ndim === 0) dims = [];
  }
  const outShape = keep ? x.shape.map((s, d) => (dims.includes(d) ? 1 : s)) : x.shape.filter((_, d) => !dims.includes(d));
  return { dims, keepdim: keep, reducedSizes: dims.map((d) => x.shape[d]), outShape };
}

/** x viewed with its kept dims first and its reduced dims last (the kernels' contract). */
function kernelView(x: Tensor, dims: readonly number[]): Tensor {
  const order = [...x.shape.keys()].filter((d) => !dims.includes(d)).concat(dims);
  return makeView(x, order.map((d) => x.shape[d]), order.map((d) => x.strides[d]), x.offset);
}

/** Runs kernel `name` over the plan, allocating one output per dtype in `outDtypes`. */
function runReduce(name: string, x: Tensor, p: Plan, outDtypes: readonly DType[], attrs: readonly number[] = []): Tensor[] {
  const outs = outDtypes.map((dt) => empty(p.outShape, dt, x.device));
  if (outs[0].numel > 0) {
    const v = kernelView(x, p.dims);
    try {
      launchKernel(name, [v], outs, [p.dims.length, ...attrs]);
    } catch (e) {
      for (const o of outs) o.dispose();
      throw e;
    } finally {
      v.dispose();
    }
  }
  return outs;
}

/** max / min / argmax of nothing is undefined: a reduced dim of size 0 is an error (as PyTorch). */
function requireNonEmpty(op: string, x: Tensor, p: Plan): void {
  const i = p.reducedSizes.indexOf(0);
  if (i >= 0) {
    throw new ValueError(op, 'dim', `reduced dimensions of non-zero size (${op} of an empty set is undefined)`,
      `dimension ${p.dims[i]} of size 0 in a tensor of shape ${fmtShape(x.shape)}`);
  }
}

/** sum and prod: integers and bool give int64 (as PyTorch), floats keep their dtype. */
const sumDType = (d: DType): DType => (isFloating(d) ? d : 'int64');

function requireFloat(op: string, x: Tensor, why: string): void {
  if (!isFloating(x.dtype)) throw new DTypeError(op, 'input', `a floating-point tensor (${why}; cast with .to('float32'))`, x.dtype);
}

function simple(schema: OpSchema, x: Tensor, dim: Dims | undefined, keepdim: boolean | undefined, outDtype: (d: DType) => DType): Tensor {
  const p = plan(schema.name, x, dim, keepdim);
  const outs = runReduce(schema.name, x, p, [outDtype(x.dtype)]);
  return recordOp(schema, [x], outs, { dims: p.dims, keepdim: p.keepdim });
}

/** Sum of elements over dims (all by default). Integers and bool sum to int64. */
export const sum = withAutocast(ops.sum, function sum(x: Tensor, dim?: Dims, keepdim?: boolean): Tensor {
  return simple(ops.sum, x, dim, keepdim, sumDType);
});

/** Mean over dims; floating-point tensors only (as PyTorch). The mean of nothing is NaN. */
export const mean = withAutocast(ops.mean, function mean(x: Tensor, dim?: Dims, keepdim?: boolean): Tensor {
  x.assertAlive('mean');
  requireFloat('mean', x, 'the mean of an integer tensor has no integer dtype');
  return simple(ops.mean, x, dim, keepdim, (d) => d);
});

/** Product over dims (all by default). Integers and bool multiply to int64; the product of nothing is 1. */
export const prod = withAutocast(ops.prod, function prod(x: Tensor, dim?: Dims, keepdim?: boolean): Tensor {
  return simple(ops.prod, x, dim, keepdim, sumDType);
});

function extreme(schema: OpSchema, x: Tensor, dim: Dims | undefined, keepdim: boolean | undefined): Tensor {
  const p = plan(schema.name, x, dim, keepdim);
  requireNonEmpty(schema.name, x, p);
  const outs = runReduce(schema.name, x, p, [x.dtype]);
  return recordOp(schema, [x], outs, { dims: p.dims, keepdim: p.keepdim });
}

/** Largest element over dims (all by default); NaN propagates. Reducing an empty dim is an error. */
export function amax(x: Tensor, dim?: Dims, keepdim?: boolean): Tensor {
  return extreme(ops.amax, x, dim, keepdim);
}

/** Smallest element over dims (all by default); NaN propagates. Reducing an empty dim is an error. */
export function amin(x: Tensor, dim?: Dims, keepdim?: boolean): Tensor {
  return extreme(ops.amin, x, dim, keepdim);
}

function extremeDim(schema: OpSchema, x: Tensor, dim: number, keepdim: boolean | undefined): ValuesIndices {
  const op = schema.name;
  x.assertAlive(op);
  if (typeof dim !== 'number') throw new ShapeError(op, 'dim', 'one dimension (a number)', Array.isArray(dim) ? fmtShape(dim) : String(dim));
  const d = normalizeDim(op, dim, x.ndim);
  const p = plan(op, x, d, keepdim);
  requireNonEmpty(op, x, p);
  const [values, indices] = runReduce(op, x, p, [x.dtype, 'int64']) as [Tensor, Tensor];
  recordOp(schema, [x], [values, indices], { dims: p.dims, dim: x.ndim === 0 ? 0 : d, keepdim: p.keepdim });
  return { values, indices };
}

/**
 * `max(x)`: the largest element (0-d; NaN if any element is NaN; an error for an empty tensor).
 * `max(x, dim, keepdim?)`: `{ values, indices }` along dim, the index of the first maximal value
 * (of the first NaN, when there is one), as torch.max(x, dim). `max(x, other)`: elementwise
 * maximum.
 */
export function max(x: Tensor): Tensor;
export function max(x: Tensor, dim: number, keepdim?: boolean): ValuesIndices;
export function max(x: Tensor, other: Tensor): Tensor;
export function max(x: Tensor, dim?: number | Tensor, keepdim?: boolean): Tensor | ValuesIndices {
  if (dim instanceof Tensor) return maximum(x, dim);
  if (dim === undefined) return amax(x);
  return extremeDim(ops.maxDim, x, dim, keepdim);
}

/** As max, for the smallest element (`min(x)`, `min(x, dim, keepdim?)`, `min(x, other)`). */
export function min(x: Tensor): Tensor;
export function min(x: Tensor, dim: number, keepdim?: boolean): ValuesIndices;
export function min(x: Tensor, other: Tensor): Tensor;
export function min(x: Tensor, dim?: number | Tensor, keepdim?: boolean): Tensor | ValuesIndices {
  if (dim instanceof Tensor) return minimum(x, dim);
  if (dim === undefined) return amin(x);
  return extremeDim(ops.minDim, x, dim, keepdim);
}

function argExtreme(schema: OpSchema, x: Tensor, dim: number | undefined, keepdim: boolean | undefined): Tensor {
  const op = schema.name;
  x.assertAlive(op);
  if (dim !== undefined && typeof dim !== 'number') throw new ShapeError(op, 'dim', 'one dimension (a number) or undefined', Array.isArray(dim) ? fmtShape(dim) : String(dim));
  const p = plan(op, x, dim, keepdim);
  requireNonEmpty(op, x, p);
  const outs = runReduce(op, x, p, ['int64']);
  return recordOp(schema, [x], outs, { dims: p.dims, keepdim: p.keepdim });
}

/**
 * Index (int64) of the largest element along dim, the first one among equals (a NaN counts as the
 * largest). Without dim: the index into the flattened tensor.
 */
export function argmax(x: Tensor, dim?: number, keepdim?: boolean): Tensor {
  return argExtreme(ops.argmax, x, dim, keepdim);
}

/** Index (int64) of the smallest element along dim (flattened without dim); NaN counts as the smallest. */
export function argmin(x: Tensor, dim?: number, keepdim?: boolean): Tensor {
  return argExtreme(ops.argmin, x, dim, keepdim);
}

/** True where some element over dims is nonzero (bool result; false for nothing). */
export function any(x: Tensor, dim?: Dims, keepdim?: boolean): Tensor {
  return simple(ops.any, x, dim, keepdim, () => 'bool');
}

/** True where every element over dims is nonzero (bool result; true for nothing). */
export function all(x: Tensor, dim?: Dims, keepdim?: boolean): Tensor {
  return simple(ops.all, x, dim, keepdim, () => 'bool');
}

function variance_(schema: OpSchema, x: Tensor, dim: Dims | undefined, options: VarOptions | undefined): Tensor {
  const op = schema.name;
  x.assertAlive(op);
  requireFloat(op, x, `${op} is defined for floating-point tensors`);
  checkOptionKeys(op, options, { correction: true, keepdim: true });
  const correction = options?.correction ?? 1;
  if (typeof correction !== 'number' || !Number.isFinite(correction)) throw new ValueError(op, 'correction', 'a finite number', String(correction));
  const p = plan(op, x, dim, options?.keepdim);
  const outs = runReduce(op, x, p, [x.dtype], [correction]);
  return recordOp(schema, [x], outs, { dims: p.dims, keepdim: p.keepdim, correction });
}

/**
 * Variance over dims: sum((x - mean)^2) / max(0, n - correction), correction 1 by default (as
 * torch.var). Floating-point tensors only; n <= correction gives NaN (or inf), as PyTorch.
 * Also exported as `var` (a reserved word in JS: reachable as `k.var(x)` on the module or as the method `x.var()`).
 */
export const variance = withAutocast(ops.var, function variance(x: Tensor, dim?: Dims, options?: VarOptions): Tensor {
  return variance_(ops.var, x, dim, options);
});

/** Standard deviation over dims: sqrt(var(x, dim, options)). */
export const std = withAutocast(ops.std, function std(x: Tensor, dim?: Dims, options?: VarOptions): Tensor {
  return variance_(ops.std, x, dim, options);
});

export { variance as var };

/**
 * log(sum(exp(x))) over dims, computed without overflow (the max is factored out). Integer and
 * bool inputs are converted to the default float dtype first (as PyTorch). Reducing nothing gives
 * -inf.
 */
export const logsumexp = withAutocast(ops.logsumexp, function logsumexp(x: Tensor, dim?: Dims, keepdim?: boolean): Tensor {
  const op = 'logsumexp';
  x.assertAlive(op);
  const p = plan(op, x, dim, keepdim);
  const input = isFloating(x.dtype) ? x : to(x, defaultFloat);
  try {
    const outs = runReduce(op, input, p, [input.dtype]);
    return recordOp(ops.logsumexp, [x], outs, { dims: p.dims, keepdim: p.keepdim });
  } finally {
    if (input !== x) input.dispose();
  }
});

declare module '../tensor.js' {
  interface Tensor {
    /** Sum over dims (all by default); integers and bool sum to int64. */
    sum(dim?: Dims, keepdim?: boolean): Tensor;
    /** Mean over dims (floating-point tensors). */
    mean(dim?: Dims, keepdim?: boolean): Tensor;
    /** Product over dims; integers and bool multiply to int64. */
    prod(dim?: Dims, keepdim?: boolean): Tensor;
    /** Largest element over dims (all by default); NaN propagates. See {@link amax}. */
    amax(dim?: Dims, keepdim?: boolean): Tensor;
    /** Smallest element over dims (all by default); NaN propagates. See {@link amin}. */
    amin(dim?: Dims, keepdim?: boolean): Tensor;
    /** The largest element; along a dim `{ values, indices }`; with a tensor the elementwise maximum. */
    max(): Tensor;
    /** `{ values, indices }` of the largest elements along `dim`. See {@link max}. */
    max(dim: number, keepdim?: boolean): ValuesIndices;
    /** The elementwise maximum with `other`. */
    max(other: Tensor): Tensor;
    /** The smallest element; along a dim `{ values, indices }`; with a tensor the elementwise minimum. */
    min(): Tensor;
    /** `{ values, indices }` of the smallest elements along `dim`. See {@link min}. */
    min(dim: number, keepdim?: boolean): ValuesIndices;
    /** The elementwise minimum with `other`. */
    min(other: Tensor): Tensor;
    /** int64 index of the largest element along dim (of the flattened tensor without dim). See {@link argmax}. */
    argmax(dim?: number, keepdim?: boolean): Tensor;
    /** int64 index of the smallest element along dim (of the flattened tensor without dim). See {@link argmin}. */
    argmin(dim?: number, keepdim?: boolean): Tensor;
    /** True where some element over dims is nonzero. See {@link any}. */
    any(dim?: Dims, keepdim?: boolean): Tensor;
    /** True where every element over dims is nonzero. See {@link all}. */
    all(dim?: Dims, keepdim?: boolean): Tensor;
    /** Variance over dims, correction 1 by default (as torch.var). */
    var(dim?: Dims, options?: VarOptions): Tensor;
    /** Standard deviation over dims, correction 1 by default (as torch.std). */
    std(dim?: Dims, options?: VarOptions): Tensor;
    /** log(sum(exp(x))) over dims, without overflow. See {@link logsumexp}. */
    logsumexp(dim?: Dims, keepdim?: boolean): Tensor;
  }
}

const proto = Tensor.prototype;
proto.sum = function (dim, keepdim) { return sum(this, dim, keepdim); };
proto.mean = function (dim, keepdim) { return mean(this, dim, keepdim); };
proto.prod = function (dim, keepdim) { return prod(this, dim, keepdim); };
proto.amax = function (dim, keepdim) { return amax(this, dim, keepdim); };
proto.amin = function (dim, keepdim) { return amin(this, dim, keepdim); };
proto.max = function (this: Tensor, dim?: number | Tensor, keepdim?: boolean) {
  return max(this, dim as number, keepdim);
} as Tensor['max'];
proto.min = function (this: Tensor, dim?: number | Tensor, keepdim?: boolean) {
  return min(this, dim as number, keepdim);
} as Tensor['min'];
proto.argmax = function (dim, keepdim) { return argmax(this, dim, keepdim); };
proto.argmin = function (dim, keepdim) { return argmin(this, dim, keepdim); };
proto.any = function (dim, keepdim) { return any(this, dim, keepdim); };
proto.all = function (dim, keepdim) { return all(this, dim, keepdim); };
proto.var = function (dim, options) { return variance(this, dim, options); };
proto.std = function (dim, options) { return std(this, dim, options); };
proto.logsumexp = function (dim, keepdim) { return logsumexp(this, dim, keepdim); };

