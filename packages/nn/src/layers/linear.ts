/** Linear: y = x Wᵀ + b over the last dimension (PyTorch's nn.Linear, with its initialisation). */
import { type DType, type DeviceLike, type Tensor, ShapeError, checkBoolean, checkInt, checkOptionKeys, emptyOn, device as toDevice, linear } from '@kiln/tensor';
import { Module } from '../module.js';
import { Parameter } from '../parameter.js';
import { kaimingUniform_, uniform_ } from '../init.js';

/** Options of {@link Linear}. */
export interface LinearOptions {
  /** Learn a bias (default true). */
  bias?: boolean;
  /** The parameters' dtype (default float32). */
  dtype?: DType;
  /** The parameters' device (default 'cpu'). */
  device?: DeviceLike;
}

/** A new Parameter of `shape`, uninitialised (the layer's reset fills it). */
export function newParameter(shape: readonly number[], dtype: DType | undefined, device: DeviceLike | undefined): Parameter {
  return Parameter.adopt(emptyOn(shape, dtype ?? 'float32', toDevice(device ?? 'cpu')));
}

/**
 * y = x Wᵀ + b over the last dimension (PyTorch's nn.Linear, with its initialisation), one
 * `linear` op (@kiln/tensor): on CUDA the bias is fused into the cuBLASLt product.
 *
 * @example
 * ```ts
 * const fc = new Linear(64, 10);
 * const logits = fc.call(randn([32, 64]));   // [32, 10]
 * ```
 */
export class Linear extends Module {
  /** Size of the input's last dimension. */
  readonly inFeatures: number;
  /** Size of the output's last dimension. */
  readonly outFeatures: number;
  /** [outFeatures, inFeatures]. */
  weight: Parameter;
  /** [outFeatures], or null without bias. */
  bias: Parameter | null;

  constructor(inFeatures: number, outFeatures: number, options: LinearOptions = {}) {
    super();
    checkOptionKeys('Linear', options, { bias: true, dtype: true, device: true });
    checkInt('Linear', 'inFeatures', inFeatures, 0);
    checkInt('Linear', 'outFeatures', outFeatures, 0);
    this.inFeatures = inFeatures;
    this.outFeatures = outFeatures;
    this.weight = newParameter([outFeatures, inFeatures], options.dtype, options.device);
    this.bias = checkBoolean('Linear', 'bias', options.bias ?? true) ? newParameter([outFeatures], options.dtype, options.device) : null;
    this.resetParameters();
  }

  /**
   * PyTorch's initialisation: weight from kaiming_uniform(a = sqrt(5)), i.e. U(-1/sqrt(in), 1/sqrt(in)),
   * and bias from U(-1/sqrt(in), 1/sqrt(in)).
   */
  resetParameters(): void {
    kaimingUniform_(this.weight, { a: Math.sqrt(5) });
    if (this.bias) {
      const bound = this.inFeatures > 0 ? 1 / Math.sqrt(this.inFeatures) : 0;
      uniform_(this.bias, -bound, bound);
    }
  }

  forward(x: Tensor): Tensor {
    if (x.ndim < 1 || x.shape[x.ndim - 1] !== this.inFeatures) {
      throw new ShapeError('Linear', 'input', `a last dimension of ${this.inFeatures} (in_features)`, `shape [${x.shape.join(', ')}]`);
    }
    return linear(x, this.weight, this.bias);
  }
}
