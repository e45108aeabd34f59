/** Pooling and resampling modules over [N, C, H, W]. */
import {
  type Size2, type Tensor, type UpsampleOptions, ShapeError, ValueError, cat, checkBoolean, checkOptionKeys, describeValue, maxPool2d, maxPoolWindow, upsampleArgs,
  upsampleNearest2d,
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
    checkOptionKeys('MaxPool2d', options, { stride: true, padding: true, dilation: true, ceilMode: true });
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
    checkOptionKeys('Upsample', options, { scaleFactor: true, size: true, mode: true });
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

/** An output size of {@link AdaptiveAvgPool2d}: [h, w], one number for both, null keeping the input's size. */
export type AdaptiveSize = number | null | readonly [number | null, number | null];

/**
 * The mean of each of outputSize's bins of the input (PyTorch's nn.AdaptiveAvgPool2d): bin i of
 * an axis of length L divided into n covers [floor(i L / n), ceil((i + 1) L / n)), so the bins tile
 * the axis and overlap by at most one position when n does not divide L. ResNet's global pooling
 * is `new AdaptiveAvgPool2d(1)`.
 *
 * @example
 * ```ts
 * const pool = new AdaptiveAvgPool2d([1, 1]);
 * pool.call(randn([2, 512, 7, 7])).shape;    // [2, 512, 1, 1]
 * ```
 */
export class AdaptiveAvgPool2d extends Module {
  /** The output's [h, w] (null: the input's size on that axis). */
  readonly outputSize: readonly [number | null, number | null];

  constructor(outputSize: AdaptiveSize) {
    super();
    const size = Array.isArray(outputSize) ? outputSize : [outputSize, outputSize];
    if (size.length !== 2 || !size.every((s) => s === null || (Number.isInteger(s) && (s as number) >= 1))) {
      throw new ValueError('AdaptiveAvgPool2d', 'outputSize', 'a positive integer, null, or a pair of them', JSON.stringify(outputSize));
    }
    this.outputSize = [size[0] as number | null, size[1] as number | null];
  }

  forward(x: Tensor): Tensor {
    if (x.ndim !== 4) throw new ShapeError('AdaptiveAvgPool2d', 'input', '4 dimensions [N, C, H, W]', `shape [${x.shape.join(', ')}]`);
    const [h, w] = [x.shape[2], x.shape[3]];
    const oh = this.outputSize[0] ?? h, ow = this.outputSize[1] ?? w;
    if (h === 0 || w === 0) throw new ShapeError('AdaptiveAvgPool2d', 'input', 'a non-empty spatial size', `shape [${x.shape.join(', ')}]`);
    if (h % oh === 0 && w % ow === 0) {
      // equal bins: one reshape and one mean
      return x.reshape([x.shape[0], x.shape[1], oh, h / oh, ow, w / ow]).mean([3, 5]);
    }
    // a bin is a rectangle of uniform weights, so its mean is the mean over its rows of the row means
    return binMeans(binMeans(x, 2, oh), 3, ow);
  }
}

/** The means of the n adaptive bins of axis `dim`, concatenated along it. */
function binMeans(x: Tensor, dim: number, n: number): Tensor {
  const len = x.shape[dim];
  if (n === len) return x;
  const bins: Tensor[] = [];
  for (let i = 0; i < n; i++) {
    const start = Math.floor((i * len) / n), end = Math.ceil(((i + 1) * len) / n);
    bins.push(x.narrow(dim, start, end - start).mean(dim, true));
  }
  return cat(bins, dim);
}
