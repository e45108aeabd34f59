/**
 * Indexing with index tensors: gather, scatter (and scatter_), scatterAdd (and scatterAdd_),
 * indexSelect, oneHot. (maskedFill is in elementwise.ts.)
 *
 * Index tensors are int32 or int64. Negative indices are errors (as in PyTorch's gather/scatter),
 * not counted from the end. Index values are checked by the kernels, which see them: on the CPU a
 * bad value throws a ValueError at once; on CUDA it is reported through the device's error slot and
 * raised as a ValueError at the next synchronisation (reading values, `synchronize()`), as CUDA's
 * own asynchronous errors are. Either way the scatter forms leave their target untouched.
 */
import { type DType, scalarValue } from '../dtype.js';
import { DTypeError, ShapeError, ValueError } from '../errors.js';
import { autogradHook, commonDevice, declareOp, empty, launchKernel, needsRecording, recordOp } from '../dispatch.js';
import { fmtShape, normalizeDim } from '../shape.js';
import { Tensor } from '../tensor.js';
import { checkNoInternalOverlap, copyInto, toTypedArray } from './convert.js';

const gatherOp = declareOp('gather', ['input', 'index']);
const scatterOp = declareOp('scatter', ['input', 'index', 'src']);
const scatterAddOp = declareOp('scatter_add', ['input', 'index', 'src']);
const indexSelectOp = declareOp('index_select', ['input', 'index']);
const oneHotOp = declareOp('one_hot', ['input'], false);

function checkIndexDType(op: string, index: Tensor, arg = 'index'): void {
  if (index.dtype !== 'int32' && index.dtype !== 'int64') throw new DTypeError(op, arg, 'an int32 or int64 tensor', index.dtype);
}

/** 0-d counts as 1-d for the dimension checks, as in PyTorch (ensure_nonempty_dim). */
const nonemptyDims = (t: Tensor): number => Math.max(t.ndim, 1);
const sizeAt = (t: Tensor, d: number): number => (t.ndim === 0 ? 1 : t.shape[d]);

/** PyTorch's gather_shape_check: same number of dims, index no larger than input except along dim. */
function checkGatherShapes(op: string, x: Tensor, index: Tensor, dim: number): void {
  if (nonemptyDims(index) !== nonemptyDims(x)) {
    throw new ShapeError(op, 'index', `a tensor with ${x.ndim} dimensions (as 'input')`, `${index.ndim} dimensions (shape ${fmtShape(index.shape)})`);
  }
  for (let d = 0; d < nonemptyDims(x); d++) {
    if (d !== dim && sizeAt(index, d) > sizeAt(x, d)) {
      throw new ShapeError(op, 'index', `a size <= ${sizeAt(x, d)} in dimension ${d} (the input's shape is ${fmtShape(x.shape)})`, `shape ${fmtShape(index.shape)}`);
    }
  }
}

/**
 * Values of `input` along `dim` at the positions in `index`: for a 3-d input and dim 1,
 * `out[i][j][k] = input[i][index[i][j][k]][k]`. The output has the index's shape.
 */
export function gather(x: Tensor, dim: number, index: Tensor): Tensor {
  const dev = commonDevice('gather', ['input', 'index'], [x, index]);
  checkIndexDType('gather', index);
  const d = normalizeDim('gather', dim, x.ndim);
  checkGatherShapes('gather', x, index, d);
  const out = empty(index.shape, x.dtype, dev);
  if (out.numel > 0) disposeOnThrow(out, () => launchKernel('gather', [x, index], [out], [d]));
  return recordOp(gatherOp, [x, index], [out], { dim: d });
}

/** Checks of scatter and scatterAdd; returns the normalised dim. */
function checkScatter(op: string, x: Tensor, dim: number, index: Tensor, src: Tensor | number | boolean): number {
  commonDevice(op, ['input', 'index', 'src'], [x, index, src instanceof Tensor ? src : null]);
  checkIndexDType(op, index);
  const d = normalizeDim(op, dim, x.ndim);
  checkGatherShapes(op, x, index, d);
  if (src instanceof Tensor) {
    if (src.dtype !== x.dtype) throw new DTypeError(op, 'src', `the input's dtype ${x.dtype} (convert with .to('${x.dtype}'))`, src.dtype);
    if (nonemptyDims(src) !== nonemptyDims(index)) throw new ShapeError(op, 'src', `a tensor with ${index.ndim} dimensions (as 'index')`, `${src.ndim} dimensions`);
    for (let k = 0; k < nonemptyDims(src); k++) {
      if (sizeAt(index, k) > sizeAt(src, k)) {
        throw new ShapeError(op, 'index', `a size <= ${sizeAt(src, k)} in dimension ${k} (the src's shape is ${fmtShape(src.shape)})`, `shape ${fmtShape(index.shape)}`);
      }
    }
  } else {
    scalarValue(op, 'value', src, x.dtype);
  }
  return d;
}

/** In-place targets must not be leaves requiring grad, nor overlap themselves (expanded views). */
function checkInplaceTarget(op: string, x: Tensor): void {
  if (x.requiresGrad && x.isLeaf && needsRecording([x])) {
    throw new ValueError(op, 'self', 'a tensor that is not a leaf requiring grad (use noGrad for parameter updates)', 'a leaf tensor that requires grad');
  }
  checkNoInternalOverlap(op, x);
}

/** A contiguous copy of x (not recorded: the caller records the op). */
function freshCopy(x: Tensor, dtype: DType = x.dtype): Tensor {
  const out = empty(x.shape, dtype, x.device);
  if (out.numel > 0) launchKernel('copy', [x], [out]);
  return out;
}

/** Runs the scatter kernel `name` into `target` (written in place). */
function launchScatter(name: 'scatter' | 'scatter_add', target: Tensor, d: number, index: Tensor, src: Tensor | number | boolean): void {
  if (index.numel === 0) return;
  if (src instanceof Tensor) launchKernel(name, [target, index, src], [target], [d]);
  else launchKernel(name, [target, index], [target], [d, Number(src)]);
}

/** Runs f; a new output is released if the kernel throws (a bad index on the CPU). */
function disposeOnThrow(out: Tensor, f: () => void): void {
  try {
    f();
  } catch (e) {
    out.dispose();
    throw e;
  }
}

const isHalf = (dt: DType): boolean => dt === 'float16' || dt === 'bfloat16';

/**
 * scatter_add's kernel into `target`: the half types accumulate in a float32 copy (rounded once at
 * the end, the same on both devices; the CUDA kernel's atomicAdd has no bfloat16 form before sm_80).
 */
function scatterAddInto(target: Tensor, d: number, index: Tensor, src: Tensor): void {
  if (!isHalf(target.dtype)) return launchScatter('scatter_add', target, d, index, src);
  const acc = freshCopy(target, 'float32'), src32 = freshCopy(src, 'float32');
  try {
    launchScatter('scatter_add', acc, d, index, src32);
    launchKernel('copy', [acc], [target]);
  } finally {
    acc.dispose();
    src32.dispose();
  }
}

/**
 * A copy of `input` with values from `src` (a tensor, or one number for all) written along `dim`
 * at the positions in `index`: for a 3-d input and dim 1, `out[i][index[i][j][k]][k] = src[i][j][k]`
 * for every position of index. `src` has the input's dtype and is at least as large as index in
 * every dim. When index repeats a position, the CPU keeps the last value in index order; on CUDA
 * which of them is kept is unspecified (as in PyTorch).
 */
export function scatter(x: Tensor, dim: number, index: Tensor, src: Tensor | number | boolean): Tensor {
  const d = checkScatter('scatter', x, dim, index, src);
  const out = freshCopy(x);
  disposeOnThrow(out, () => launchScatter('scatter', out, d, index, src));
  return recordOp(scatterOp, [x, index, src], [out], { dim: d, ...(src instanceof Tensor ? {} : { value: Number(src) }) });
}

/** scatter into `input` itself; returns input. */
export function scatter_(x: Tensor, dim: number, index: Tensor, src: Tensor | number | boolean): Tensor {
  const d = checkScatter('scatter_', x, dim, index, src);
  checkInplaceTarget('scatter_', x);
  return inplace(x, [x, index, src], () => scatter(x, dim, index, src), () => launchScatter('scatter', x, d, index, src));
}

/**
 * A copy of `input` with the values of `src` added along `dim` at the positions in `index`:
 * `out[i][index[i][j][k]][k] += src[i][j][k]`; repeated positions accumulate. float32, float64,
 * int32 and int64 add in their own type; float16 and bfloat16 accumulate in float32 and are
 * rounded once. On CUDA the additions are atomic: the order, and so the last bits of a float sum,
 * can vary from run to run.
 */
export function scatterAdd(x: Tensor, dim: number, index: Tensor, src: Tensor): Tensor {
  if (!(src instanceof Tensor)) throw new ValueError('scatter_add', 'src', 'a tensor', typeof src);
  const d = checkScatter('scatter_add', x, dim, index, src);
  checkAddDType('scatter_add', x);
  const out = freshCopy(x);
  disposeOnThrow(out, () => scatterAddInto(out, d, index, src));
  return recordOp(scatterAddOp, [x, index, src], [out], { dim: d });
}

/** scatterAdd into `input` itself; returns input. */
export function scatterAdd_(x: Tensor, dim: number, index: Tensor, src: Tensor): Tensor {
  if (!(src instanceof Tensor)) throw new ValueError('scatter_add_', 'src', 'a tensor', typeof src);
  const d = checkScatter('scatter_add_', x, dim, index, src);
  checkAddDType('scatter_add_', x);
  checkInplaceTarget('scatter_add_', x);
  return inplace(x, [x, index, src], () => scatterAdd(x, dim, index, src), () => scatterAddInto(x, d, index, src));
}

function checkAddDType(op: string, x: Tensor): void {
  if (x.dtype === 'bool') throw new DTypeError(op, 'input', 'a numeric tensor', 'bool');
}

/**
 * The in-place pattern of elementwise.ts: when autograd records, the out-of-place result is
 * computed (and recorded) and copied into the target; otherwise the kernel writes the target.
 */
function inplace(x: Tensor, inputs: readonly (Tensor | number | boolean)[], outOfPlace: () => Tensor, direct: () => void): Tensor {
  if (needsRecording(inputs.filter((t): t is Tensor => t instanceof Tensor))) {
    const result = outOfPlace();
    copyInto(x, result);
    x.storage.version++;
    autogradHook()!.recordInplace(x, result);
    return x;
  }
  direct();
  x.storage.version++;
  return x;
}

/**
 * The slices of `input` along `dim` at the positions in a 0-d or 1-d `index` (repeats allowed):
 * the output has input's shape with dim's size replaced by the number of indices.
 */
export function indexSelect(x: Tensor, dim: number, index: Tensor): Tensor {
  const dev = commonDevice('index_select', ['input', 'index'], [x, index]);
  checkIndexDType('index_select', index);
  if (index.ndim > 1) throw new ShapeError('index_select', 'index', 'a 0-d or 1-d tensor', `shape ${fmtShape(index.shape)}`);
  const d = normalizeDim('index_select', dim, x.ndim);
  let shape: number[];
  if (x.ndim === 0) {
    if (index.numel !== 1) throw new ShapeError('index_select', 'index', 'one index for a 0-d input', `${index.numel} indices`);
    shape = [];
  } else {
    shape = [...x.shape];
    shape[d] = index.numel;
  }
  const out = empty(shape, x.dtype, dev);
  if (out.numel > 0) disposeOnThrow(out, () => launchKernel('index_select', [x, index], [out], [d]));
  return recordOp(indexSelectOp, [x, index], [out], { dim: d });
}

/**
 * One-hot encoding of class indices, as torch.nn.functional.one_hot: an int64 tensor of shape
 * `[...index.shape, numClasses]` with 1 at each index's class and 0 elsewhere. Class values must lie
 * in [0, numClasses).
 *
 * With `numClasses = -1` (the default) the number of classes is the largest value + 1, which needs
 * the values on the host: the index is read back (on CUDA this waits for queued work and copies
 * the index to the host). Pass numClasses to avoid the read.
 */
export function oneHot(index: Tensor, numClasses = -1): Tensor {
  index.assertAlive('one_hot');
  checkIndexDType('one_hot', index, 'input');
  if (!Number.isInteger(numClasses) || (numClasses < 1 && numClasses !== -1)) {
    throw new ValueError('one_hot', 'numClasses', 'a positive integer, or -1 to use the largest class value + 1', String(numClasses));
  }
  let classes = numClasses;
  if (classes === -1) {
    if (index.numel === 0) throw new ValueError('one_hot', 'numClasses', 'a positive integer for an empty input (it cannot be inferred)', '-1');
    classes = largestClass(index) + 1;
  }
  const out = empty([...index.shape, classes], 'int64', index.device);
  if (out.numel > 0) disposeOnThrow(out, () => launchKernel('one_hot', [index], [out], [classes]));
  return recordOp(oneHotOp, [index], [out], { numClasses: classes });
}

/** The largest value of an index tensor, read on the host; negative values are errors here. */
function largestClass(index: Tensor): number {
  const values = toTypedArray(index) as Int32Array | BigInt64Array;
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = Number(values[i]);
    if (v < 0) throw new ValueError('one_hot', 'input', 'class values >= 0', `${v} at flat position ${i}`);
    if (v > max) max = v;
  }
  if (max >= 2 ** 31) throw new ValueError('one_hot', 'input', 'class values below 2^31', String(max));
  return max;
}

declare module '../tensor.js' {
  interface Tensor {
    /** Values along `dim` at the positions in `index`. See {@link gather}. */
    gather(dim: number, index: Tensor): Tensor;
    /** A copy with `src` written along `dim` at the positions in `index`. See {@link scatter}. */
    scatter(dim: number, index: Tensor, src: Tensor | number | boolean): Tensor;
    /** scatter into this tensor in place. See {@link scatter_}. */
    scatter_(dim: number, index: Tensor, src: Tensor | number | boolean): Tensor;
    /** A copy with `src` added along `dim` at the positions in `index`. See {@link scatterAdd}. */
    scatterAdd(dim: number, index: Tensor, src: Tensor): Tensor;
    /** scatterAdd into this tensor in place. See {@link scatterAdd_}. */
    scatterAdd_(dim: number, index: Tensor, src: Tensor): Tensor;
    /** The slices along `dim` at the positions in a 0-d or 1-d `index`. See {@link indexSelect}. */
    indexSelect(dim: number, index: Tensor): Tensor;
  }
}

Tensor.prototype.gather = function (dim, index) { return gather(this, dim, index); };
Tensor.prototype.scatter = function (dim, index, src) { return scatter(this, dim, index, src); };
Tensor.prototype.scatter_ = function (dim, index, src) { return scatter_(this, dim, index, src); };
Tensor.prototype.scatterAdd = function (dim, index, src) { return scatterAdd(this, dim, index, src); };
Tensor.prototype.scatterAdd_ = function (dim, index, src) { return scatterAdd_(this, dim, index, src); };
Tensor.prototype.indexSelect = function (dim, index) { return indexSelect(this, dim, index); };
