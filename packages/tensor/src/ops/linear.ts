/**
 * `linear` (PyTorch's F.linear): y = x Wᵀ + b over the last dimension, one native kernel on every
 * device, 'linear' (the 'bmm' product plus a bias; native/cpu/matmul.cc, native/cuda/matmul.cu).
 * On CUDA the bias is added in cuBLASLt's epilogue (fused into the product) where it applies.
 */
import { isFloating } from '../dtype.js';
import { DTypeError, ShapeError } from '../errors.js';
import { commonDevice, declareOp, empty, recordOp } from '../dispatch.js';
import { fmtShape } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { launchProduct } from './product-kernel.js';
import { withAutocast } from '../autocast.js';

const linearOp = declareOp('linear', ['input', 'weight', 'bias'], { autocast: 'lower' });

/**
 * y = x Wᵀ + b over the last dimension (PyTorch's `F.linear`): input [..., inFeatures] (any
 * leading dims, or none), weight [outFeatures, inFeatures], optional bias [outFeatures], result
 * [..., outFeatures]. Floating dtypes, one dtype for all three. Recorded as one 'linear' op.
 *
 * @example
 * ```ts
 * const x = randn([32, 64]);
 * const w = randn([10, 64]), b = randn([10]);
 * const y = linear(x, w, b);          // [32, 10], = x.matmul(w.t()).add(b)
 * ```
 */
export const linear = withAutocast(linearOp, function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  const op = 'linear';
  commonDevice(op, ['input', 'weight', 'bias'], [x, weight, bias]);
  if (!isFloating(x.dtype)) throw new DTypeError(op, 'input', 'a floating-point tensor', x.dtype);
  for (const [name, t] of [['weight', weight], ['bias', bias]] as const) {
    if (t && t.dtype !== x.dtype) throw new DTypeError(op, name, `a tensor of input's dtype (${x.dtype})`, t.dtype);
  }
  if (x.ndim < 1) throw new ShapeError(op, 'input', 'a tensor with at least 1 dimension [..., inFeatures]', '0-d tensor');
  const K = x.shape[x.ndim - 1];
  if (weight.ndim !== 2 || weight.shape[1] !== K) {
    throw new ShapeError(op, 'weight', `shape [outFeatures, ${K}] (inFeatures = the input's last dimension)`, fmtShape(weight.shape));
  }
  const N = weight.shape[0];
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== N)) throw new ShapeError(op, 'bias', `shape [${N}] (the weight's outFeatures)`, fmtShape(bias.shape));
  const lead = x.shape.slice(0, -1);
  const result = empty([...lead, N], x.dtype, x.device);
  if (result.numel > 0) {
    // The kernel's operands, as 'bmm's: A = x as [...batch, M, K] (M its last leading dim; a 1-D x
    // is one row), B = Wᵀ [K, N] for every batch (stride 0), C = the result as [...batch, M, N].
    // The kernel folds batch dims into M where A's strides allow.
    const M = lead.length > 0 ? lead[lead.length - 1] : 1;
    const batch = lead.length > 1 ? lead.slice(0, -1) : [1];
    const batchStrides = lead.length > 1 ? x.strides.slice(0, lead.length - 1) : [0];
    launchProduct('linear', batch, M, K, N,
      { t: x, strides: [...batchStrides, lead.length > 0 ? x.strides[x.ndim - 2] : 0, x.strides[x.ndim - 1]] },
      { t: weight, strides: [...batch.map(() => 0), weight.strides[1], weight.strides[0]] }, result, bias ? [bias] : []);
  }
  return recordOp(linearOp, [x, weight, bias ?? null], [result]);
});
