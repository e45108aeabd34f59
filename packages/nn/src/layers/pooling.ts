/** Pooling and resampling modules over [N, C, H, W]. */
import {
  type Size2, type Tensor, type UpsampleOptions, ValueError, checkBoolean, describeValue, maxPool2d, maxPoolWindow, upsampleArgs, upsampleNearest2d,
} from '@kiln/tensor';
import { Module } from '../module.js';

/** Options of {@link MaxPool2d}: each size is one number or an [h, w] pair. */
export interface MaxPool2dOptions {
  /** default: the kernel size */
  stride?: Size2;
  /** Implicit -inf added on each side (default 0). */
  padding?: Size2;
  /** Spacing between the window's taps (default 1). */
  dilation?: Size2;
  /** Round the output size up, keeping a last partial window (default false). */
  ceilMode?: boolean;
}

/** The maximum of each window (PyTorch's nn.MaxPool2d). */
export class MaxPool2d extends Module {
  /** The window's size. */
  readonly kernelSize: Size2;
  /** Stride, padding, dilation and ceil mode. */
  readonly options: Readonly<MaxPool2dOptions>;

  constructor(kernelSize: Size2, options: MaxPool2dOptions = {}) {
    super();
    // checked here as maxPool2d checks them at each call, so a bad module fails where it is made
    maxPoolWindow('MaxPool2d', kernelSize, options.stride, options.padding ?? 0, options.dilation ?? 1);
    if (options.ceilMode !== undefined) checkBoolean('MaxPool2d', 'ceilMode', options.ceilMode);
    this.kernelSize = kernelSize;
    this.options = { ...options };
  }

  forward(x: Tensor): Tensor {
    const o = this.options;
    return maxPool2d(x, this.kernelSize, o.stride ?? null, o.padding ?? 0, o.dilation ?? 1, o.ceilMode ?? false);
  }
}

/** Resampling to a size or by a scale factor; mode 'nearest' (PyTorch's nn.Upsample default). */
export class Upsample extends Module {
  /** The scale factor or size, and the mode. */
  readonly options: Readonly<UpsampleOptions & {
    /** The interpolation: 'nearest' (the only one implemented). */
    mode: 'nearest';
  }>;

  constructor(options: UpsampleOptions & { mode?: 'nearest' }) {
    super();
    const mode = options.mode ?? 'nearest';
    if (mode !== 'nearest') throw new ValueError('Upsample', 'mode', "'nearest' (the only mode implemented)", describeValue(mode));
    upsampleArgs('Upsample', options);   // checked where the module is made, as at each call
    this.options = { ...options, mode };
  }

  forward(x: Tensor): Tensor {
    const { scaleFactor, size } = this.options;
    return upsampleNearest2d(x, scaleFactor !== undefined ? { scaleFactor } : { size });
  }
}
