/** Conv2dNormActivation: a convolution, a norm layer and an activation (torchvision's ops.misc). */
import { type DType, type DeviceLike, ValueError, checkOptionKeys } from '@kiln/tensor';
import { BatchNorm2d, Conv2d, type Module, ReLU, Sequential } from '@kiln/nn';

/** Makes the norm layer of `channels` channels (torchvision's `norm_layer`). */
export type NormLayer = (channels: number) => Module;

/** Options of {@link Conv2dNormActivation}. */
export interface Conv2dNormActivationOptions {
  /** Kernel size (default 3). */
  kernelSize?: number;
  /** Stride (default 1). */
  stride?: number;
  /** Zero padding on each side (default (kernelSize - 1) / 2 · dilation: the size kept at stride 1). */
  padding?: number;
  /** Channel groups (default 1). */
  groups?: number;
  /** Dilation (default 1). */
  dilation?: number;
  /** The norm layer after the convolution (default BatchNorm2d; null: none). */
  normLayer?: NormLayer | null;
  /** The activation last (default ReLU; null: none). */
  activationLayer?: (() => Module) | null;
  /** A bias in the convolution (default: only without a norm layer, which would cancel it). */
  bias?: boolean;
  /** The convolution's dtype (default float32). */
  dtype?: DType;
  /** The convolution's device (default 'cpu'). */
  device?: DeviceLike;
}

/**
 * A convolution followed by an optional norm layer and an optional activation, as a Sequential
 * ('0' the convolution, '1' the norm layer, then the activation), so its state-dict keys are
 * torchvision's (`conv.0.0.weight` in a RetinaNet head).
 *
 * @example
 * ```ts
 * const block = new Conv2dNormActivation(256, 256, { normLayer: null });   // conv 3x3 with bias + ReLU
 * block.call(randn([1, 256, 8, 8])).shape;                                  // [1, 256, 8, 8]
 * ```
 */
export class Conv2dNormActivation extends Sequential {
  constructor(inChannels: number, outChannels: number, options: Conv2dNormActivationOptions = {}) {
    checkOptionKeys('Conv2dNormActivation', options, {
      kernelSize: true, stride: true, padding: true, groups: true, dilation: true, normLayer: true, activationLayer: true, bias: true, dtype: true, device: true,
    });
    const kernelSize = options.kernelSize ?? 3, dilation = options.dilation ?? 1;
    if (!Number.isInteger(kernelSize) || kernelSize < 1) throw new ValueError('Conv2dNormActivation', 'kernelSize', 'a positive integer', String(kernelSize));
    const normLayer = options.normLayer === undefined ? (c: number) => new BatchNorm2d(c, { dtype: options.dtype, device: options.device }) : options.normLayer;
    const activation = options.activationLayer === undefined ? () => new ReLU() : options.activationLayer;
    const conv = new Conv2d(inChannels, outChannels, kernelSize, {
      stride: options.stride ?? 1,
      padding: options.padding ?? Math.floor((kernelSize - 1) / 2) * dilation,
      dilation,
      groups: options.groups ?? 1,
      bias: options.bias ?? normLayer === null,
      dtype: options.dtype,
      device: options.device,
    });
    const layers: Module[] = [conv];
    if (normLayer) layers.push(normLayer(outChannels));
    if (activation) layers.push(activation());
    super(...layers);
  }
}
