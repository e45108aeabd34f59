/**
 * The float32 matmul precision, as PyTorch's `torch.set_float32_matmul_precision`: whether float32
 * matrix products and convolutions may run on TF32 tensor cores (10-bit mantissa inputs, float32
 * accumulation) where the device's library offers them (cuBLASLt and cuDNN on CUDA). The kernels
 * receive it as an attribute of each call; Kiln's own kernels and the CPU always compute in float32.
 */
import { ValueError } from '../errors.js';

/** 'highest': float32 throughout (the default); 'high' and 'medium': TF32 allowed (as PyTorch on CUDA). */
export type Float32MatmulPrecision = 'highest' | 'high' | 'medium';

const codes: Record<Float32MatmulPrecision, number> = { highest: 0, high: 1, medium: 2 };
let precision: Float32MatmulPrecision = 'highest';

/**
 * Sets the precision of float32 matrix products (matmul, bmm, linear) and convolutions:
 * 'highest' keeps them in float32 (the default); 'high' and 'medium' let CUDA's libraries use TF32
 * tensor cores, about 10 bits of mantissa for the inputs with float32 accumulation, several times
 * faster. Other dtypes are not affected.
 *
 * @example
 * ```ts
 * setFloat32MatmulPrecision('high');     // TF32 on CUDA, like torch.set_float32_matmul_precision('high')
 * const y = a.matmul(b);
 * setFloat32MatmulPrecision('highest');
 * ```
 */
export function setFloat32MatmulPrecision(p: Float32MatmulPrecision): void {
  if (!Object.hasOwn(codes, p)) throw new ValueError('setFloat32MatmulPrecision', 'precision', "'highest', 'high' or 'medium'", String(p));
  precision = p;
}

/**
 * The current float32 matmul precision (see {@link setFloat32MatmulPrecision}).
 *
 * @example
 * ```ts
 * console.log(getFloat32MatmulPrecision());   // 'highest' unless changed
 * ```
 */
export function getFloat32MatmulPrecision(): Float32MatmulPrecision {
  return precision;
}

/** @internal The attribute the matmul and convolution kernels read: 0 highest, 1 high, 2 medium. */
export function matmulPrecisionCode(): number {
  return codes[precision];
}
