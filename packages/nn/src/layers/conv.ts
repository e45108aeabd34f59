/** Conv2d: 2-D convolution over [N, C, H, W] (PyTorch's nn.Conv2d, with its initialisation). */
import { type DType, type DeviceLike, type Size2, type Tensor, ShapeError, ValueError, checkBoolean, checkInt, checkOptionKeys, conv2d, fmtShape, sizePair } from '@kiln/tensor';
import { Module } from '../module.js';
import { type Parameter } from '../parameter.js';
import { calculateFanInAndFanOut, kaimingUniform_, uniform_ } from '../init.js';
import { newParameter } from './linear.js';

/** Options of {@link Conv2d}: each size is one number or an [h, w] pair. */
export interface Conv2dOptions {
  /** Step of the window (default 1). */
  stride?: Size2;
  /** Zeros added on each side of the input (default 0), or 'same' / 'valid' as conv2d takes them (PyTorch's). */
  padding?: Size2 | 'same' | 'valid';
  /** Spacing between the kernel's taps (default 1). */
  dilation?: Size2;
  /** Number of channel groups; both channel counts must divide by it (default 1). */
  groups?: number;
  /** Learn a per-channel bias (default true). */
  bias?: boolean;
  /** The parameters' dtype (default float32). */
  dtype?: DType;
  /** The parameters' device (default 'cpu'). */
  device?: DeviceLike;
}

/**
 * 2-D convolution over [N, C, H, W] (PyTorch's nn.Conv2d, with its initialisation).
 *
 * @example
 * ```ts
 * const conv = new Conv2d(3, 16, 3, { padding: 1 });
 * const y = conv.call(randn([8, 3, 32, 32]));   // [8, 16, 32, 32]
 * ```
 */
export class Conv2d extends Module {
  /** Input channels C. */
  readonly inChannels: number;
  /** Output channels. */
  readonly outChannels: number;
  /** [kh, kw]. */
  readonly kernelSize: [number, number];
  /** [h, w] step of the window. */
  readonly stride: [number, number];
  /** [h, w] zeros added on each side, or 'same' / 'valid'. */
  readonly padding: [number, number] | 'same' | 'valid';
  /** [h, w] spacing between the kernel's taps. */
  readonly dilation: [number, number];
  /** Number of channel groups. */
  readonly groups: number;
  /** [outChannels, inChannels / groups, kh, kw]. */
  weight: Parameter;
  /** [outChannels], or null without bias. */
  bias: Parameter | null;

  constructor(inChannels: number, outChannels: number, kernelSize: Size2, options: Conv2dOptions = {}) {
    super();
    // every option is checked here, as conv2d would check it at each call: a bad module is an error
    // where it is made, not at its first forward
    checkOptionKeys('Conv2d', options, { stride: true, padding: true, dilation: true, groups: true, bias: true, dtype: true, device: true });
    const groups = checkInt('Conv2d', 'groups', options.groups ?? 1, 1);
    for (const [name, v] of [['inChannels', inChannels], ['outChannels', outChannels]] as const) {
      checkInt('Conv2d', name, v, 1);
      if (v % groups !== 0) throw new ValueError('Conv2d', name, `a multiple of groups (${groups})`, String(v));
    }
    this.inChannels = inChannels;
    this.outChannels = outChannels;
    this.kernelSize = sizePair('Conv2d', 'kernelSize', kernelSize, 1);
    this.stride = sizePair('Conv2d', 'stride', options.stride ?? 1, 1);
    const padding = options.padding ?? 0;
    this.padding = padding === 'same' || padding === 'valid' ? padding : sizePair('Conv2d', 'padding', padding, 0);
    if (padding === 'same' && (this.stride[0] !== 1 || this.stride[1] !== 1)) {
      throw new ValueError('Conv2d', 'padding', "'same' with stride 1 only (as PyTorch: a strided output cannot keep the input's size)", `'same' with stride ${fmtShape(this.stride)}`);
    }
    this.dilation = sizePair('Conv2d', 'dilation', options.dilation ?? 1, 1);
    this.groups = groups;
    this.weight = newParameter([outChannels, inChannels / groups, ...this.kernelSize], options.dtype, options.device);
    this.bias = checkBoolean('Conv2d', 'bias', options.bias ?? true) ? newParameter([outChannels], options.dtype, options.device) : null;
    this.resetParameters();
  }

  /** PyTorch's initialisation: weight from kaiming_uniform(a = sqrt(5)), bias from U(-1/sqrt(fanIn), 1/sqrt(fanIn)). */
  resetParameters(): void {
    kaimingUniform_(this.weight, { a: Math.sqrt(5) });
    if (this.bias) {
      const bound = 1 / Math.sqrt(calculateFanInAndFanOut(this.weight)[0]);
      uniform_(this.bias, -bound, bound);
    }
  }

  forward(x: Tensor): Tensor {
    // checked here, not left to conv2d, which would blame the weight: the user gave the input
    if (x.ndim !== 4 || x.shape[1] !== this.inChannels) {
      const layer = `Conv2d(${this.inChannels}, ${this.outChannels}, kernelSize ${fmtShape(this.kernelSize)})`;
      throw new ShapeError('Conv2d', 'input', `[N, ${this.inChannels}, H, W]: the ${this.inChannels} input channels of ${layer}`,
        x.ndim === 4 ? `${x.shape[1]} channels in shape ${fmtShape(x.shape)}` : `shape ${fmtShape(x.shape)}`);
    }
    return conv2d(x, this.weight, this.bias, { stride: this.stride, padding: this.padding, dilation: this.dilation, groups: this.groups });
  }
}
