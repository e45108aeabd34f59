/**
 * Matrix products with PyTorch's rules: `matmul` (dot of two vectors, matrix products, a 1-D
 * operand promoted to a matrix and its dim removed again, batched products with broadcast batch
 * dims), and the stricter `mm` (2-D only), `bmm` (3-D with equal batch sizes) and `dot` (1-D).
 *
 * Every form runs one native kernel, 'bmm' (native/cpu/matmul.cc, native/cuda/matmul.cu): strided
 * A [...batch, M, K] and B [...batch, K, N] (batch strides 0 where a batch dim is broadcast) into a
 * contiguous C [...batch, M, N]. Operands must have the same dtype. float32 / float64 compute in
 * their own type (float32 on TF32 tensor cores through cuBLASLt when setFloat32MatmulPrecision
 * allows it); float16 / bfloat16 are computed in float32 and rounded once at the end; int32 /
 * int64 are supported too (accumulated in int64, wrapping on overflow as PyTorch's CPU does); bool
 * is an error. On CUDA the float types run on cuBLASLt where it is installed. All forms are
 * recorded for autograd as 'matmul' with inputs ['input', 'other'].
 */
import { DTypeError, ShapeError } from '../errors.js';
import { commonDevice, declareOp, empty, recordOp } from '../dispatch.js';
import { broadcastShapes, fmtShape } from '../shape.js';
import { Tensor } from '../tensor.js';
import { launchProduct } from './product-kernel.js';
import { withAutocast } from '../autocast.js';

const matmulOp = declareOp('matmul', ['input', 'other'], { autocast: 'lower' });

function checkOperands(op: string, a: Tensor, b: Tensor): void {
  commonDevice(op, ['input', 'other'], [a, b]);
  if (a.dtype === 'bool') throw new DTypeError(op, 'input', 'a numeric tensor (bool matrices are not supported)', 'bool');
  if (a.dtype !== b.dtype) throw new DTypeError(op, 'other', `a tensor of input's dtype (${a.dtype})`, b.dtype);
}

/** Strides of t's batch dims broadcast to `batch` (0 where a dim is new or of size 1). */
function batchStrides(t: Tensor, tBatch: readonly number[], batch: readonly number[]): number[] {
  const lead = batch.length - tBatch.length;
  return batch.map((_, i) => (i < lead || tBatch[i - lead] === 1 ? 0 : t.strides[i - lead]));
}

/**
 * The core of every form: a [...aBatch, M, K] times b [...bBatch, K, N], batch dims broadcast;
 * `squeezeM` / `squeezeN` drop the M / N dim from the result (a 1-D operand's promoted dim).
 * `aMat`, `bMat` describe each operand as batch dims plus one matrix (sizes and strides).
 */
function batchedProduct(
  op: string, a: Tensor, b: Tensor,
  aMat: { batch: number[]; rows: number; cols: number; sRow: number; sCol: number },
  bMat: { batch: number[]; rows: number; cols: number; sRow: number; sCol: number },
  squeezeM: boolean, squeezeN: boolean,
): Tensor {
  const M = aMat.rows, K = aMat.cols, N = bMat.cols;
  if (bMat.rows !== K) {
    throw new ShapeError(op, 'other', `${K} rows to match input's ${K} columns (shapes ${fmtShape(a.shape)} and ${fmtShape(b.shape)} cannot be multiplied)`,
      `${bMat.rows} rows`);
  }
  const batch = broadcastShapes(op, aMat.batch, bMat.batch);
  const outShape = [...batch, ...(squeezeM ? [] : [M]), ...(squeezeN ? [] : [N])];
  const result = empty(outShape, a.dtype, a.device);
  if (result.numel === 0) return result;
  // The kernel wants at least one batch dim; a batch of one with stride 0 costs nothing.
  const kb = batch.length === 0 ? [1] : batch;
  launchProduct('bmm', kb, M, K, N,
    { t: a, strides: [...(batch.length ? batchStrides(a, aMat.batch, batch) : [0]), aMat.sRow, aMat.sCol] },
    { t: b, strides: [...(batch.length ? batchStrides(b, bMat.batch, batch) : [0]), bMat.sRow, bMat.sCol] }, result);
  return result;
}

/** A tensor's last two dims as a matrix (or a vector as one row / one column). */
function asMatrix(t: Tensor, vectorAs: 'row' | 'column' | null) {
  const n = t.ndim;
  if (vectorAs === 'row') return { batch: [], rows: 1, cols: t.shape[0], sRow: 0, sCol: t.strides[0] };
  if (vectorAs === 'column') return { batch: [], rows: t.shape[0], cols: 1, sRow: t.strides[0], sCol: 0 };
  return { batch: t.shape.slice(0, n - 2), rows: t.shape[n - 2], cols: t.shape[n - 1], sRow: t.strides[n - 2], sCol: t.strides[n - 1] };
}

/**
 * Matrix product with PyTorch's rules: 1-D · 1-D is the dot product (0-d); 2-D · 2-D the matrix
 * product; a 1-D first operand is a row vector (and a 1-D second a column vector) whose dim is
 * removed from the result; operands with more dims are batches of matrices whose batch dims
 * broadcast.
 */
export const matmul = withAutocast(matmulOp, function matmul(a: Tensor, b: Tensor): Tensor {
  const op = 'matmul';
  checkOperands(op, a, b);
  if (a.ndim === 0) throw new ShapeError(op, 'input', 'a tensor with at least 1 dimension', '0-d tensor');
  if (b.ndim === 0) throw new ShapeError(op, 'other', 'a tensor with at least 1 dimension', '0-d tensor');
  const result = batchedProduct(op, a, b, asMatrix(a, a.ndim === 1 ? 'row' : null), asMatrix(b, b.ndim === 1 ? 'column' : null), a.ndim === 1, b.ndim === 1);
  return recordOp(matmulOp, [a, b], [result]);
});

/** Product of two matrices (2-D only, no broadcasting). */
export const mm = withAutocast(matmulOp, function mm(a: Tensor, b: Tensor): Tensor {
  checkOperands('mm', a, b);
  if (a.ndim !== 2) throw new ShapeError('mm', 'input', 'a 2-D tensor', `${a.ndim}-D tensor of shape ${fmtShape(a.shape)}`);
  if (b.ndim !== 2) throw new ShapeError('mm', 'other', 'a 2-D tensor', `${b.ndim}-D tensor of shape ${fmtShape(b.shape)}`);
  return recordOp(matmulOp, [a, b], [batchedProduct('mm', a, b, asMatrix(a, null), asMatrix(b, null), false, false)]);
});

/** Batched matrix product of [B, M, K] and [B, K, N] (3-D, equal batch sizes, no broadcasting). */
export const bmm = withAutocast(matmulOp, function bmm(a: Tensor, b: Tensor): Tensor {
  checkOperands('bmm', a, b);
  if (a.ndim !== 3) throw new ShapeError('bmm', 'input', 'a 3-D tensor', `${a.ndim}-D tensor of shape ${fmtShape(a.shape)}`);
  if (b.ndim !== 3) throw new ShapeError('bmm', 'other', 'a 3-D tensor', `${b.ndim}-D tensor of shape ${fmtShape(b.shape)}`);
  if (a.shape[0] !== b.shape[0]) throw new ShapeError('bmm', 'other', `a batch of ${a.shape[0]} matrices (input's)`, `${b.shape[0]}`);
  return recordOp(matmulOp, [a, b], [batchedProduct('bmm', a, b, asMatrix(a, null), asMatrix(b, null), false, false)]);
});

/** Dot product of two 1-D tensors of the same size (0-d result). */
export const dot = withAutocast(matmulOp, function dot(a: Tensor, b: Tensor): Tensor {
  checkOperands('dot', a, b);
  if (a.ndim !== 1) throw new ShapeError('dot', 'input', 'a 1-D tensor', `${a.ndim}-D tensor of shape ${fmtShape(a.shape)}`);
  if (b.ndim !== 1) throw new ShapeError('dot', 'other', 'a 1-D tensor', `${b.ndim}-D tensor of shape ${fmtShape(b.shape)}`);
  if (a.shape[0] !== b.shape[0]) throw new ShapeError('dot', 'other', `${a.shape[0]} elements (input's)`, `${b.shape[0]}`);
  return recordOp(matmulOp, [a, b], [batchedProduct('dot', a, b, asMatrix(a, 'row'), asMatrix(b, 'column'), true, true)]);
});

declare module '../tensor.js' {
  interface Tensor {
    /** Matrix product with PyTorch's matmul rules (see `matmul`). */
    matmul(other: Tensor): Tensor;
    /** Product of two 2-d matrices. See {@link mm}. */
    mm(other: Tensor): Tensor;
    /** Batched product of 3-d tensors [B, n, k] x [B, k, m]. See {@link bmm}. */
    bmm(other: Tensor): Tensor;
    /** Inner product of two 1-d tensors (a 0-d result). See {@link dot}. */
    dot(other: Tensor): Tensor;
  }
}

Tensor.prototype.matmul = function (o) { return matmul(this, o); };
Tensor.prototype.mm = function (o) { return mm(this, o); };
Tensor.prototype.bmm = function (o) { return bmm(this, o); };
Tensor.prototype.dot = function (o) { return dot(this, o); };
