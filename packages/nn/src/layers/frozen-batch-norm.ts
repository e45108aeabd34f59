/**
 * FrozenBatchNorm2d: batch normalisation with fixed statistics and affine terms (torchvision's
 * `ops.misc.FrozenBatchNorm2d`), the norm layer of detection backbones fine-tuned from ImageNet.
 */
import { type DType, type DeviceLike, type Tensor, ShapeError, ValueError, checkOptionKeys, emptyOn, device as toDevice, tidy } from '@kiln/tensor';
import { Module } from '../module.js';
import { BufferTensor } from '../parameter.js';
import { constant_ } from '../init.js';

/** Options of {@link FrozenBatchNorm2d}. */
export interface FrozenBatchNormOptions {
  /** Added to the variance before the square root (default 1e-5). */
  eps?: number;
  /** The buffers' dtype (default float32). */
  dtype?: DType;
  /** The buffers' device (default 'cpu'). */
  device?: DeviceLike;
}

/**
 * Batch normalisation whose statistics and affine terms are buffers, never updated and never
 * learned: `y = x * scale + shift` per channel with `scale = weight / sqrt(runningVar + eps)` and
 * `shift = bias - runningMean * scale`, in training and evaluation alike (torchvision's
 * `FrozenBatchNorm2d`, its formula and its state-dict keys: weight, bias, runningMean, runningVar).
 * A state dict of a `BatchNorm2d` loads into it: its `numBatchesTracked` entry is dropped.
 *
 * Detection backbones use it where batches are small (2 images per GPU): batch statistics over so
 * few samples are noise, so the ImageNet statistics are kept as they are.
 *
 * @example
 * ```ts
 * const backbone = resnet50({ normLayer: (c) => new FrozenBatchNorm2d(c) });
 * const bn = new FrozenBatchNorm2d(64);
 * bn.call(randn([2, 64, 8, 8]));     // the identity until weights are loaded
 * ```
 */
export class FrozenBatchNorm2d extends Module {
  /** Number of channels C. */
  readonly numFeatures: number;
  /** Added to the variance before the square root. */
  readonly eps: number;
  /** Per-channel scale [C] (a buffer: not learned). */
  weight: BufferTensor;
  /** Per-channel shift [C] (a buffer). */
  bias: BufferTensor;
  /** Per-channel mean [C] subtracted before scaling (a buffer). */
  runningMean: BufferTensor;
  /** Per-channel variance [C] (a buffer). */
  runningVar: BufferTensor;

  constructor(numFeatures: number, options: FrozenBatchNormOptions = {}) {
    super();
    checkOptionKeys('FrozenBatchNorm2d', options, { eps: true, dtype: true, device: true });
    if (!Number.isInteger(numFeatures) || numFeatures < 1) throw new ValueError('FrozenBatchNorm2d', 'numFeatures', 'a positive integer', String(numFeatures));
    const eps = options.eps ?? 1e-5;
    if (!(eps >= 0)) throw new ValueError('FrozenBatchNorm2d', 'eps', 'a non-negative number', String(eps));
    this.numFeatures = numFeatures;
    this.eps = eps;
    const dev = toDevice(options.device ?? 'cpu');
    const buffer = (value: number): BufferTensor => {
      const b = BufferTensor.adopt(emptyOn([numFeatures], options.dtype ?? 'float32', dev));
      constant_(b, value);
      return b;
    };
    this.weight = buffer(1);
    this.bias = buffer(0);
    this.runningMean = buffer(0);
    this.runningVar = buffer(1);
  }

  forward(x: Tensor): Tensor {
    if (x.ndim !== 4 || x.shape[1] !== this.numFeatures) {
      throw new ShapeError('FrozenBatchNorm2d', 'input', `4 dimensions [N, C = ${this.numFeatures}, H, W]`, `shape [${x.shape.join(', ')}]`);
    }
    const cshape = [1, this.numFeatures, 1, 1];
    // scale and shift are per channel: [C] work instead of [N, C, H, W] for the statistics
    const [scale, shift] = tidy(() => {
      const s = this.weight.mul(this.runningVar.add(this.eps).rsqrt());
      return [s.view(cshape), this.bias.sub(this.runningMean.mul(s)).view(cshape)];
    });
    return x.mul(scale).add(shift);
  }

  /** A BatchNorm2d's count of batches has no place here (torchvision drops it too). */
  protected override upgradeStateDict(state: Record<string, Tensor>, prefix: string): void {
    delete state[`${prefix}numBatchesTracked`];
  }
}
